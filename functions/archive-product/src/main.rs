//! DELETE /products/{id}: its maker or an admin archives a product.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, archive_product::handle).await
}
