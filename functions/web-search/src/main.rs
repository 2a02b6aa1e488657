//! GET /search: products by words, category and price range, paginated

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_search::handle).await
}
