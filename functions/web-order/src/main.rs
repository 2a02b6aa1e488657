//! GET and POST /account/orders/{id}: an order, its payment step, live status and cancel

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::web::run(app, web_order::handle).await
}
