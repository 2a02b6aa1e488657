//! GET and POST /sign-in: sign in with email and password; POST /sign-out: end the session

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_sign_in::handle).await
}
