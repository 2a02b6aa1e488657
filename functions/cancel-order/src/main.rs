//! POST /orders/{id}/cancel: the customer or an admin cancels; stock released, payment cancelled or refunded.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::http::run(app, cancel_order::handle).await
}
