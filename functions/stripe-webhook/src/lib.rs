//! POST /webhooks/stripe: Stripe's payment events, verified on the raw body, each applied
//! once. Every verified delivery gets a 2xx, whatever it came to, so Stripe stops sending
//! it; a forged, stale or malformed one gets a 400 and changes nothing.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result, http, orders};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > http::MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let outcome = orders::stripe_webhook(app, http::header(&req, "stripe-signature"), body).await?;
    tracing::info!(outcome = ?outcome, "Stripe webhook applied");
    http::json(200, &serde_json::json!({"received": true}))
}
