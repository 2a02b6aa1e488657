//! The ALB's default action: requests no route serves get a problem+json 405 or 404.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, not_found::handle).await
}
