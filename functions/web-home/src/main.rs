//! GET /: the shop's home page (newest products, categories, makers); GET /sitemap.xml

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_home::handle).await
}
