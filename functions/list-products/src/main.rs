//! GET /products: active products, filtered, newest first, paginated.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, list_products::handle).await
}
