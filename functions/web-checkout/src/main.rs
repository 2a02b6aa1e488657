//! GET and POST /checkout: the shipping address and order review, then Place order

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::web::run(app, web_checkout::handle).await
}
