//! PUT /me: the caller replaces their editable profile fields.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, put_me::handle).await
}
