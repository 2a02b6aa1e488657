//! POST /webhooks/stripe: Stripe's payment and refund events, verified on the raw body,
//! each applied once. Every verified delivery gets a 2xx, whatever it came to, so Stripe stops sending
//! it; a forged, stale or malformed one gets a 400 and changes nothing.

use lambda_http::{Body, Request, Response};
use shared::{App, Error, Result, http, orders};

pub async fn handle(app: &App, req: Request) -> Result<Response<Body>> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > http::MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let result = orders::stripe_webhook(app, http::header(&req, "stripe-signature"), body).await;
    shared::metrics::count("WebhookOutcome", ("Outcome", outcome_name(&result)), 1);
    let outcome = result?;
    tracing::info!(outcome = ?outcome, "Stripe webhook applied");
    http::json(200, &serde_json::json!({"received": true}))
}

/// The `Outcome` dimension of the `WebhookOutcome` metric: what verified deliveries came
/// to, `rejected` for those refused (400: unsigned, forged, stale, malformed), `error` for
/// those Stripe must send again (5xx, 409).
fn outcome_name(result: &Result<orders::WebhookOutcome>) -> &'static str {
    use orders::WebhookOutcome as O;
    match result {
        Ok(O::Paid) => "paid",
        Ok(O::Declined) => "declined",
        Ok(O::PaymentFailed) => "payment_failed",
        Ok(O::LateRefunded) => "late_refunded",
        Ok(O::RefundSettled) => "refund_settled",
        Ok(O::Duplicate) => "duplicate",
        Ok(O::Ignored(_)) => "ignored",
        Err(err) if err.status() == 400 => "rejected",
        Err(_) => "error",
    }
}
