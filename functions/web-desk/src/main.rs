//! The admins' desk: find any product, take one down or lift a takedown.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_desk::handle).await
}
