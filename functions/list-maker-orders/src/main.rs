//! GET /maker/orders: orders with this maker's lines, only those lines, newest first.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, list_maker_orders::handle).await
}
