//! POST /maker-applications/{id}/approve: an admin approves; the makers group, the shop profile, an email.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, approve_maker_application::handle).await
}
