//! GET /products/{id}: one product; archived ones only to their maker and admins.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, get_product::handle).await
}
