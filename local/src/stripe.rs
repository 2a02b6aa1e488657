//! localstripe from the outside: what tests and the local stack do that the storefront or
//! Stripe's dashboard would do in real life — pay with a test card, register the webhook
//! endpoint, read intents and refunds back. Plain HTTP, no Stripe client, so `local` (and
//! `cargo xtask`) does not link async-stripe.
//!
//! `api_base` is localstripe's base URL with its trailing slash (`http://127.0.0.1:8420/`).

use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::Value;

/// The events the webhook route handles (register the same on Stripe's dashboard): the
/// payments, and the refunds' changes of status (the launcher sends those for Stripe's
/// refund test cards, `local/py/_refunds.py`).
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
];

/// The id under which [`register_webhook`] registers: registering again replaces it.
pub const WEBHOOK_ID: &str = "makers-market";

const TIMEOUT: Duration = Duration::from_secs(10);

/// Stripe's test payment methods that localstripe knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// `pm_card_visa`: the payment succeeds.
    Visa,
    /// `pm_card_chargeCustomerFail` (4000 0000 0000 0341): attaches, then the charge is
    /// declined (`card_declined`). (localstripe alone declines `pm_card_visa_chargeDeclined`
    /// only when attached to a customer; the launcher makes it declined when charged, as on
    /// Stripe, but this one is declined either way.)
    Declined,
    /// `pm_card_pendingRefund` (4000 0000 0000 7726): pays; a refund of it is `pending`, then
    /// `succeeded` a few seconds later (the launcher's `--refund-settle-seconds`).
    PendingRefund,
    /// `pm_card_refundFail` (4000 0000 0000 5126): pays; a refund of it is `succeeded`, then
    /// `failed` (`expired_or_canceled_card`) a few seconds later.
    RefundFails,
}

impl TestCard {
    pub fn payment_method(self) -> &'static str {
        match self {
            Self::Visa => "pm_card_visa",
            Self::Declined => "pm_card_chargeCustomerFail",
            Self::PendingRefund => "pm_card_pendingRefund",
            Self::RefundFails => "pm_card_refundFail",
        }
    }
}

/// Pays `intent_id` as the storefront would: sets the test card's payment method on the
/// intent, then confirms it. localstripe's confirm takes no parameters (a `payment_method`
/// there is a 500 "Not implemented"), hence the update first; Stripe accepts both ways.
///
/// Returns the intent as it is afterwards: `status` `succeeded`, or for a declined card
/// `requires_payment_method` with `last_payment_error.code` `card_declined` (confirm itself
/// answers 402 then, which is not an error here). localstripe sends the webhook about a
/// second after confirm has answered.
pub async fn confirm_with_test_card(
    api_base: &str,
    secret_key: &str,
    intent_id: &str,
    card: TestCard,
) -> anyhow::Result<Value> {
    let path = format!("v1/payment_intents/{intent_id}");
    let (status, body) =
        request(api_base, secret_key, "POST", &path, &[("payment_method", card.payment_method())]).await?;
    if status != 200 {
        bail!("setting {} on {intent_id}: localstripe answered {status}: {body}", card.payment_method());
    }
    let (status, body) = request(api_base, secret_key, "POST", &format!("{path}/confirm"), &[]).await?;
    match (status, card) {
        (200, _) | (402, TestCard::Declined) => get_intent(api_base, secret_key, intent_id).await,
        _ => bail!("confirming {intent_id}: localstripe answered {status}: {body}"),
    }
}

/// Makes localstripe send [`WEBHOOK_EVENTS`] to `url`, signed with `secret`. localstripe keeps this in memory: register after each start.
pub async fn register_webhook(api_base: &str, url: &str, secret: &str) -> anyhow::Result<()> {
    register_webhook_as(api_base, WEBHOOK_ID, url, secret).await
}

/// [`register_webhook`] under another id, so that a test's endpoint does not replace the
/// stack's (localstripe sends every event to every registered endpoint).
pub async fn register_webhook_as(api_base: &str, id: &str, url: &str, secret: &str) -> anyhow::Result<()> {
    let mut form = vec![("url", url), ("secret", secret)];
    form.extend(WEBHOOK_EVENTS.iter().map(|event| ("events[]", *event)));
    let (status, body) = request(api_base, "", "POST", &format!("_config/webhooks/{}", encode(id)), &form).await?;
    if status != 200 {
        bail!("registering the webhook {url}: localstripe answered {status}: {body}");
    }
    Ok(())
}

/// The PaymentIntent as localstripe has it.
pub async fn get_intent(api_base: &str, secret_key: &str, intent_id: &str) -> anyhow::Result<Value> {
    let (status, body) = request(api_base, secret_key, "GET", &format!("v1/payment_intents/{intent_id}"), &[]).await?;
    if status != 200 {
        bail!("reading {intent_id}: localstripe answered {status}: {body}");
    }
    Ok(body)
}

/// The refunds of a PaymentIntent, newest first.
pub async fn list_refunds(api_base: &str, secret_key: &str, intent_id: &str) -> anyhow::Result<Vec<Value>> {
    let path = format!("v1/refunds?payment_intent={}", encode(intent_id));
    let (status, body) = request(api_base, secret_key, "GET", &path, &[]).await?;
    if status != 200 {
        bail!("listing the refunds of {intent_id}: localstripe answered {status}: {body}");
    }
    Ok(body.get("data").and_then(Value::as_array).cloned().unwrap_or_default())
}

/// One refund as localstripe has it.
pub async fn get_refund(api_base: &str, secret_key: &str, refund_id: &str) -> anyhow::Result<Value> {
    let (status, body) =
        request(api_base, secret_key, "GET", &format!("v1/refunds/{}", encode(refund_id)), &[]).await?;
    if status != 200 {
        bail!("reading {refund_id}: localstripe answered {status}: {body}");
    }
    Ok(body)
}

/// Makes the launcher refuse the next `times` refunds of `intent_id` with Stripe's 400 and
/// `code` (e.g. `balance_insufficient`): a definite answer, kept under its Idempotency-Key.
pub async fn refuse_refunds(api_base: &str, intent_id: &str, code: &str, times: u32) -> anyhow::Result<()> {
    let times = times.to_string();
    let form = [("payment_intent", intent_id), ("code", code), ("times", times.as_str())];
    let (status, body) = request(api_base, "", "POST", "_config/refund_errors", &form).await?;
    if status != 200 {
        bail!("asking localstripe to refuse refunds of {intent_id}: {status}: {body}");
    }
    Ok(())
}

/// Makes the launcher answer every request naming `intent_id` `seconds` late (0: on time
/// again): a slow Stripe for that intent only.
pub async fn delay_intent(api_base: &str, intent_id: &str, seconds: f64) -> anyhow::Result<()> {
    let seconds = seconds.to_string();
    let form = [("payment_intent", intent_id), ("seconds", seconds.as_str())];
    let (status, body) = request(api_base, "", "POST", "_config/delays", &form).await?;
    if status != 200 {
        bail!("asking localstripe to slow {intent_id} down: {status}: {body}");
    }
    Ok(())
}

/// One form-encoded request; the status and the JSON answer (`Null` if it is not JSON).
pub async fn request(
    api_base: &str,
    secret_key: &str,
    method: &str,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<(u16, Value)> {
    let uri = format!("{}/{}", api_base.trim_end_matches('/'), path.trim_start_matches('/'));
    let body = form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let mut builder = http::Request::builder().method(method).uri(&uri);
    if !secret_key.is_empty() {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {secret_key}"));
    }
    if !form.is_empty() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let request = builder.body(Full::new(Bytes::from(body))).with_context(|| format!("building {method} {uri}"))?;
    crate::api::exchange(request, TIMEOUT).await
}

/// `application/x-www-form-urlencoded` escaping (brackets included, as Stripe's clients do).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_escaped() {
        assert_eq!(encode("events[]"), "events%5B%5D");
        assert_eq!(
            encode("http://127.0.0.1:3000/webhooks/stripe"),
            "http%3A%2F%2F127.0.0.1%3A3000%2Fwebhooks%2Fstripe"
        );
        assert_eq!(encode("pm_card_visa"), "pm_card_visa");
    }
}
