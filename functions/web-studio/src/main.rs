//! The makers' studio: a maker's products, their forms, and the shop profile.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_studio::handle).await
}
