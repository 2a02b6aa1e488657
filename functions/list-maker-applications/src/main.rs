//! GET /maker-applications: admins list applications by status, oldest first.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, list_maker_applications::handle).await
}
