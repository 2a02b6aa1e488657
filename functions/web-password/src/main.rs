//! GET and POST /forgot-password and /forgot-password/reset: reset a password with an emailed code

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_password::handle).await
}
