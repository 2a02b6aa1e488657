//! POST /orders: a customer places an order; stock is reserved and a PaymentIntent created.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::http::run(app, create_order::handle).await
}
