//! GET /shop/{maker_id}: a maker's shop page

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_shop::handle).await
}
