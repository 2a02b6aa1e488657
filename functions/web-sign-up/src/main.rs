//! GET and POST /sign-up and /sign-up/confirm: create an account, confirm it with the emailed code

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_sign_up::handle).await
}
