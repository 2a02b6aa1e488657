//! The ALB's default action: requests no route serves get a problem+json 404 with a request id.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, not_found::handle).await
}
