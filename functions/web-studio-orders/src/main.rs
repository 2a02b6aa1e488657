//! The makers' studio: a maker's orders, one order, its packing slip.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_studio_orders::handle).await
}
