//! GET /me: the caller's own profile, created on first sight.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, get_me::handle).await
}
