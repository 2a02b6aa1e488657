//! GET and POST /account/profile: the customer's name and default address

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?;
    shared::web::run(app, web_profile::handle).await
}
