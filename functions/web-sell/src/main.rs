//! GET and POST /sell: a customer applies to sell and follows the application.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_sell::handle).await
}
