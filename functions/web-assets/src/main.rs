//! GET /assets/{file}, /robots.txt: the shop's fingerprinted static files, cached for a year

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_assets::handle).await
}
