//! POST /maker-applications: a signed-in customer applies to sell.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::http::run(app, create_maker_application::handle).await
}
