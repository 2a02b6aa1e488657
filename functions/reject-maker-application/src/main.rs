//! POST /maker-applications/{id}/reject: an admin rejects with a note; an email.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, reject_maker_application::handle).await
}
