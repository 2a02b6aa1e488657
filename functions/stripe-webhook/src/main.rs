//! POST /webhooks/stripe: Stripe's payment events, verified, each applied once.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let app = shared::App::from_env().await?.with_stripe();
    shared::http::run(app, stripe_webhook::handle).await
}
