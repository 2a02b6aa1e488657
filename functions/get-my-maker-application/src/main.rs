//! GET /maker-applications/mine: the caller's latest maker application.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, get_my_maker_application::handle).await
}
