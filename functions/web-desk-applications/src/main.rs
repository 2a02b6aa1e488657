//! The admins' desk: maker applications, approved or rejected with a note.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_desk_applications::handle).await
}
