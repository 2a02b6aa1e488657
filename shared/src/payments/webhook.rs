//! Stripe webhooks: verifying the `Stripe-Signature` header, then reading the event loosely.
//!
//! Verification follows Stripe's scheme: the header is `t=<unix seconds>,v1=<hex>[,v1=…]`
//! (other schemes such as `v0` are ignored), each `v1` is an HMAC-SHA256 of `"{t}.{body}"`
//! keyed with the endpoint's signing secret (the whole `whsec_…` string). Any matching `v1`
//! is accepted, because during a secret rotation Stripe signs with both secrets. `t` must be
//! within [`TOLERANCE`] of now either way, so a captured request cannot be replayed later.
//! A header over [`MAX_HEADER_BYTES`] or with more than [`MAX_SIGNATURES`] `v1` values is
//! refused before any HMAC is computed, and the body's HMAC is computed once and compared
//! with each candidate: a forger cannot make one request cost many HMACs of a large body.
//!
//! Parsing is deliberately loose ([`parse_event`]): only the fields the order code needs,
//! unknown fields ignored, so a Stripe API version change (or localstripe's leaner events)
//! cannot break it. It runs only after [`verify`] passed.

use crate::config::Secret;
use crate::domain::PaymentError;
use crate::payments::IntentStatus;
use crate::{Error, Result};
use aws_lc_rs::{constant_time, hmac};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far the signature's timestamp may be from now, into the past or the future.
pub const TOLERANCE: Duration = Duration::from_secs(300);
/// The longest `Stripe-Signature` header read (Stripe's are about 150 bytes, two secrets'
/// worth during a rotation well under 300).
pub const MAX_HEADER_BYTES: usize = 2048;
/// The most `v1` signatures a header may carry (Stripe sends one per active secret).
pub const MAX_SIGNATURES: usize = 8;

/// Why a webhook was refused: distinct kinds for the log. Clients get one 400 for all
/// (`From<WebhookError> for Error`), so a forger learns nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    #[error("no v1 signature matches the body")]
    Forged,
    #[error("signature timestamp is {age_secs} s old, over the tolerance")]
    Stale { age_secs: u64 },
    #[error("signature timestamp is {ahead_secs} s in the future, over the tolerance")]
    FromTheFuture { ahead_secs: u64 },
}

impl From<WebhookError> for Error {
    fn from(_: WebhookError) -> Self {
        Error::bad_request("The Stripe-Signature header is missing or does not match the body.")
    }
}

/// Checks that `raw_body` (the exact bytes received, before any parsing) was signed by
/// Stripe with `secret` within [`TOLERANCE`] of `now`.
pub fn verify(secret: &Secret, signature_header: &str, raw_body: &[u8], now: SystemTime) -> Result<(), WebhookError> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    verify_with(signature_header, raw_body, now, |message| hmac::sign(&key, message))
}

/// [`verify`] with the HMAC as a parameter: `FnOnce`, so it is computed at most once
/// whatever the header holds (and tests can count it).
fn verify_with(
    signature_header: &str,
    raw_body: &[u8],
    now: SystemTime,
    mac: impl FnOnce(&[u8]) -> hmac::Tag,
) -> Result<(), WebhookError> {
    let header = SignatureHeader::parse(signature_header)?;
    // A candidate that is not hex cannot match; the header is malformed only if none is.
    let candidates: Vec<Vec<u8>> = header.v1.iter().filter_map(|hex| decode_hex(hex)).collect();
    if candidates.is_empty() {
        return Err(WebhookError::Malformed("v1 is not a hex HMAC-SHA256"));
    }
    let expected = mac(&signed_payload(header.timestamp, raw_body));
    // Compared in constant time, and with every candidate, so timing reveals nothing about
    // the tag or about which candidate matched.
    let matches = candidates
        .iter()
        .fold(false, |found, tag| constant_time::verify_slices_are_equal(expected.as_ref(), tag).is_ok() | found);
    if !matches {
        return Err(WebhookError::Forged);
    }
    let now = unix_seconds(now);
    let tolerance = TOLERANCE.as_secs();
    if header.timestamp < now {
        let age_secs = now - header.timestamp;
        if age_secs > tolerance {
            return Err(WebhookError::Stale { age_secs });
        }
    } else {
        let ahead_secs = header.timestamp - now;
        if ahead_secs > tolerance {
            return Err(WebhookError::FromTheFuture { ahead_secs });
        }
    }
    Ok(())
}

/// A `Stripe-Signature` header value for `body` signed at `timestamp`, as Stripe (and
/// localstripe) send it: for tests and the local stack.
pub fn sign(secret: &Secret, body: &[u8], timestamp: SystemTime) -> String {
    let t = unix_seconds(timestamp);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let tag = hmac::sign(&key, &signed_payload(t, body));
    format!("t={t},v1={}", encode_hex(tag.as_ref()))
}

fn signed_payload(timestamp: u64, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{timestamp}.");
    let mut message = Vec::with_capacity(prefix.len() + body.len());
    message.extend_from_slice(prefix.as_bytes());
    message.extend_from_slice(body);
    message
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

struct SignatureHeader<'a> {
    timestamp: u64,
    v1: Vec<&'a str>,
}

impl<'a> SignatureHeader<'a> {
    fn parse(raw: &'a str) -> Result<Self, WebhookError> {
        if raw.len() > MAX_HEADER_BYTES {
            return Err(WebhookError::Malformed("the header is too long"));
        }
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(WebhookError::Missing);
        }
        let mut timestamp = None;
        let mut v1 = Vec::new();
        for item in raw.split(',') {
            let (key, value) =
                item.trim().split_once('=').ok_or(WebhookError::Malformed("an item is not key=value"))?;
            match key {
                "t" => {
                    if timestamp.is_some() {
                        return Err(WebhookError::Malformed("more than one timestamp"));
                    }
                    let t = value.parse().map_err(|_| WebhookError::Malformed("the timestamp is not a number"))?;
                    timestamp = Some(t);
                }
                "v1" if v1.len() == MAX_SIGNATURES => return Err(WebhookError::Malformed("too many v1 signatures")),
                "v1" => v1.push(value),
                // v0 (test mode's legacy scheme) and schemes Stripe may add: not ours to check.
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(WebhookError::Malformed("no timestamp"))?;
        if v1.is_empty() {
            return Err(WebhookError::Malformed("no v1 signature"));
        }
        Ok(Self { timestamp, v1 })
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Bytes of an HMAC-SHA256 in hex (64 digits, either case), `None` for anything else.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.as_bytes().chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// A Stripe event, reduced to what the order code needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `evt_…`: recorded with the event's effect, so a redelivery has none.
    pub id: String,
    pub kind: EventKind,
    /// Unix seconds.
    pub created: i64,
    /// `data.object` when it is a PaymentIntent.
    pub intent: Option<IntentObject>,
    /// `data.object` when it is a refund (`refund.*`, `charge.refund.updated`).
    pub refund: Option<RefundObject>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    /// A refund changed: `refund.updated`, `refund.failed` or (older API versions)
    /// `charge.refund.updated`. Its `status` says how it settled.
    RefundUpdated,
    /// Any other `type`, kept for the log.
    Other(String),
}

impl EventKind {
    pub fn parse(s: &str) -> Self {
        match s {
            "payment_intent.succeeded" => Self::PaymentIntentSucceeded,
            "payment_intent.payment_failed" => Self::PaymentIntentPaymentFailed,
            "refund.updated" | "refund.failed" | "charge.refund.updated" => Self::RefundUpdated,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The refund a `refund.*` event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundObject {
    pub refund: crate::payments::Refund,
    /// `metadata.order_id`, set when the refund was made for an order.
    pub order_id: Option<String>,
}

/// The PaymentIntent an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentObject {
    pub id: String,
    pub amount: u64,
    pub currency: String,
    pub status: IntentStatus,
    /// `metadata.order_id`, set when the intent was created for an order.
    pub order_id: Option<String>,
    /// Why its last attempt failed (on `payment_intent.payment_failed`).
    pub last_payment_error: Option<LastPaymentError>,
}

/// A PaymentIntent's `last_payment_error`, as far as it is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LastPaymentError {
    /// `card_declined`, `expired_card`, `incorrect_cvc`, `processing_error`, …
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason for a `card_declined`: `insufficient_funds`, `do_not_honor`, …
    #[serde(default)]
    pub decline_code: Option<String>,
    /// Stripe's message, meant to be shown to the customer for card errors.
    #[serde(default)]
    pub message: Option<String>,
}

/// The longest message of Stripe's that an order shows as it is.
const MAX_SHOPPER_MESSAGE: usize = 200;

/// What a shopper reads when a payment attempt was declined: `error` reduced to a code and
/// a message to act on. Known codes get our own wording (what to do next); reasons a card
/// testing fraudster must not learn (`fraudulent`, `stolen_card`, …) read as a plain
/// decline, as Stripe advises; other codes keep Stripe's message when it is short plain
/// text; and a failure that says nothing is a plain decline.
pub fn payment_error(error: Option<&LastPaymentError>) -> PaymentError {
    let nonempty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let code = error
        .and_then(|e| nonempty(&e.decline_code).or_else(|| nonempty(&e.code)))
        .unwrap_or_else(|| "card_declined".to_owned());
    let stripes = error.and_then(|e| nonempty(&e.message)).filter(|m| {
        let invisible = |c: char| {
            c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        };
        m.chars().count() <= MAX_SHOPPER_MESSAGE && !m.chars().any(invisible)
    });
    let message = shopper_message(&code).map(str::to_owned).or(stripes).unwrap_or_else(|| DECLINED.to_owned());
    PaymentError { code, message }
}

const DECLINED: &str = "Your card was declined. Please try another card, or contact your bank.";

/// Our words for Stripe's common decline and card error codes.
fn shopper_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "insufficient_funds" => "Your card has insufficient funds. Please try another card.",
        "expired_card" => "Your card has expired. Please try another card.",
        "incorrect_cvc" | "invalid_cvc" => {
            "The card's security code (CVC) is incorrect. Please check it and try again."
        }
        "incorrect_number" | "invalid_number" => "The card number is incorrect. Please check it and try again.",
        "invalid_expiry_month" | "invalid_expiry_year" => {
            "The card's expiry date is incorrect. Please check it and try again."
        }
        "incorrect_zip" => "The card's postal code is incorrect. Please check it and try again.",
        "processing_error" => "Your card could not be charged because of a processing error. Please try again.",
        "authentication_required" | "payment_intent_authentication_failure" => {
            "Your bank asked to confirm this payment and it was not confirmed. Please try again and complete your bank's check."
        }
        "card_not_supported" => "Your card does not support this kind of purchase. Please try another card.",
        "currency_not_supported" => "Your card does not support payments in euros. Please try another card.",
        "card_velocity_exceeded" | "withdrawal_count_limit_exceeded" => {
            "Your card has reached its spending limit. Please try another card, or contact your bank."
        }
        "card_declined"
        | "generic_decline"
        | "do_not_honor"
        | "fraudulent"
        | "lost_card"
        | "stolen_card"
        | "pickup_card"
        | "restricted_card"
        | "merchant_blacklist"
        | "security_violation"
        | "call_issuer"
        | "transaction_not_allowed" => DECLINED,
        _ => return None,
    })
}

/// The lenient shape of a PaymentIntent, shared with the Stripe client's responses: only
/// what is read, everything else ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct IntentJson {
    pub id: String,
    pub amount: u64,
    pub currency: String,
    pub status: String,
    /// Read by the Stripe client only; events carry it too, but nothing needs it there.
    #[cfg_attr(not(feature = "stripe"), allow(dead_code))]
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: Option<HashMap<String, serde_json::Value>>,
    #[serde(default)]
    pub last_payment_error: Option<LastPaymentError>,
}

impl IntentJson {
    pub(crate) fn order_id(&self) -> Option<String> {
        self.metadata.as_ref()?.get("order_id")?.as_str().map(str::to_owned)
    }

    fn into_object(self) -> IntentObject {
        let order_id = self.order_id();
        IntentObject {
            id: self.id,
            amount: self.amount,
            currency: self.currency,
            status: IntentStatus::parse(&self.status),
            order_id,
            last_payment_error: self.last_payment_error,
        }
    }
}

/// The lenient shape of a refund, shared with the Stripe client's responses.
#[derive(Debug, Deserialize)]
pub(crate) struct RefundJson {
    pub id: String,
    pub status: String,
    pub amount: u64,
    /// An id, or the intent itself when expanded.
    #[serde(default)]
    pub payment_intent: Option<serde_json::Value>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metadata: Option<HashMap<String, serde_json::Value>>,
}

impl RefundJson {
    pub(crate) fn into_refund(self) -> crate::payments::Refund {
        let payment_intent = match self.payment_intent {
            Some(serde_json::Value::String(id)) => Some(id),
            Some(serde_json::Value::Object(intent)) => intent.get("id").and_then(|v| v.as_str()).map(str::to_owned),
            _ => None,
        };
        crate::payments::Refund {
            id: self.id,
            status: crate::payments::RefundState::parse(&self.status),
            amount: self.amount,
            payment_intent,
            failure_reason: self.failure_reason,
        }
    }

    fn into_object(self) -> RefundObject {
        let order_id =
            self.metadata.as_ref().and_then(|m| m.get("order_id")).and_then(|v| v.as_str()).map(str::to_owned);
        RefundObject { refund: self.into_refund(), order_id }
    }
}

#[derive(Deserialize)]
struct EventJson {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    data: Option<EventDataJson>,
}

#[derive(Deserialize)]
struct EventDataJson {
    #[serde(default)]
    object: Option<serde_json::Value>,
}

/// Reads a verified event body. A body that is not an event, or a `payment_intent.*` event
/// without a readable PaymentIntent, is a 400: acknowledging it would drop a payment.
pub fn parse_event(raw_body: &[u8]) -> Result<WebhookEvent> {
    let event: EventJson = serde_json::from_slice(raw_body).map_err(|e| {
        tracing::warn!(error = %e, "a signed Stripe webhook body is not an event");
        Error::bad_request("The body is not a Stripe event.")
    })?;
    let object = event.data.and_then(|d| d.object);
    let object_json = object.clone().filter(|_| EventKind::parse(&event.kind) == EventKind::RefundUpdated);
    let is_intent = object.as_ref().and_then(|o| o.get("object")).and_then(|o| o.as_str()) == Some("payment_intent");
    let intent = match object {
        Some(object) if is_intent || event.kind.starts_with("payment_intent.") => {
            let intent: IntentJson = serde_json::from_value(object).map_err(|e| {
                tracing::warn!(error = %e, event_id = %event.id, "a payment_intent event without a readable intent");
                Error::bad_request("The event's PaymentIntent is not readable.")
            })?;
            Some(intent.into_object())
        }
        _ => None,
    };
    let kind = EventKind::parse(&event.kind);
    let refund = match (&kind, object_json) {
        (EventKind::RefundUpdated, Some(object)) => {
            let refund: RefundJson = serde_json::from_value(object).map_err(|e| {
                tracing::warn!(error = %e, event_id = %event.id, "a refund event without a readable refund");
                Error::bad_request("The event's refund is not readable.")
            })?;
            Some(refund.into_object())
        }
        (EventKind::RefundUpdated, None) => {
            tracing::warn!(event_id = %event.id, "a refund event without its refund");
            return Err(Error::bad_request("The event's refund is not readable."));
        }
        _ => None,
    };
    Ok(WebhookEvent { id: event.id, kind, created: event.created, intent, refund })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn secret() -> Secret {
        Secret::new("whsec_test_0123456789abcdef")
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOW: u64 = 1_780_000_000;

    #[test]
    fn a_body_signed_with_the_secret_verifies() {
        let header = sign(&secret(), BODY, at(NOW));
        assert!(header.starts_with(&format!("t={NOW},v1=")), "{header}");
        assert_eq!(verify(&secret(), &header, BODY, at(NOW + 10)), Ok(()));
    }

    #[test]
    fn one_matching_v1_among_several_is_enough_for_a_secret_rotation() {
        let good = sign(&secret(), BODY, at(NOW));
        let other = sign(&Secret::new("whsec_old"), BODY, at(NOW));
        let other_v1 = other.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let good_v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let header = format!("t={NOW},v1={other_v1},v1={good_v1},v0=abc");
        assert_eq!(verify(&secret(), &header, BODY, at(NOW)), Ok(()));
        let header = format!("t={NOW}, v0=abc, v1={good_v1}, v1={other_v1}");
        assert_eq!(verify(&secret(), &header, BODY, at(NOW)), Ok(()));
    }

    #[test]
    fn another_secret_is_a_forgery() {
        let header = sign(&Secret::new("whsec_someone_else"), BODY, at(NOW));
        assert_eq!(verify(&secret(), &header, BODY, at(NOW)), Err(WebhookError::Forged));
    }

    #[test]
    fn a_tampered_body_or_timestamp_is_a_forgery() {
        let header = sign(&secret(), BODY, at(NOW));
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeeded" }"#;
        assert_eq!(verify(&secret(), &header, tampered, at(NOW)), Err(WebhookError::Forged));
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(verify(&secret(), &moved, BODY, at(NOW)), Err(WebhookError::Forged));
    }

    #[test]
    fn a_signature_older_than_five_minutes_is_stale() {
        let header = sign(&secret(), BODY, at(NOW));
        assert_eq!(verify(&secret(), &header, BODY, at(NOW + 300)), Ok(()));
        assert_eq!(verify(&secret(), &header, BODY, at(NOW + 301)), Err(WebhookError::Stale { age_secs: 301 }));
    }

    #[test]
    fn a_signature_from_more_than_five_minutes_ahead_is_refused() {
        let header = sign(&secret(), BODY, at(NOW + 300));
        assert_eq!(verify(&secret(), &header, BODY, at(NOW)), Ok(()));
        let header = sign(&secret(), BODY, at(NOW + 301));
        assert_eq!(verify(&secret(), &header, BODY, at(NOW)), Err(WebhookError::FromTheFuture { ahead_secs: 301 }));
    }

    #[test]
    fn malformed_headers_are_told_apart_from_forgeries() {
        let good = sign(&secret(), BODY, at(NOW));
        let v1 = good.split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let cases: &[(&str, WebhookError)] = &[
            ("", WebhookError::Missing),
            ("   ", WebhookError::Missing),
            (&format!("v1={v1}"), WebhookError::Malformed("no timestamp")),
            (&format!("t={NOW}"), WebhookError::Malformed("no v1 signature")),
            (&format!("t={NOW},v0={v1}"), WebhookError::Malformed("no v1 signature")),
            (&format!("t=yesterday,v1={v1}"), WebhookError::Malformed("the timestamp is not a number")),
            (&format!("t=-5,v1={v1}"), WebhookError::Malformed("the timestamp is not a number")),
            (&format!("t={NOW},t={NOW},v1={v1}"), WebhookError::Malformed("more than one timestamp")),
            (&format!("t={NOW},{v1}"), WebhookError::Malformed("an item is not key=value")),
            (&format!("t={NOW},v1=zz{}", &v1[2..]), WebhookError::Malformed("v1 is not a hex HMAC-SHA256")),
            (&format!("t={NOW},v1={}", &v1[..62]), WebhookError::Malformed("v1 is not a hex HMAC-SHA256")),
        ];
        for (header, expected) in cases {
            assert_eq!(&verify(&secret(), header, BODY, at(NOW)), &Err(expected.clone()), "header {header:?}");
        }
        // Upper-case hex is still hex.
        assert_eq!(verify(&secret(), &format!("t={NOW},v1={}", v1.to_uppercase()), BODY, at(NOW)), Ok(()));
    }

    /// [`verify_with`] on `header` at `NOW`, counting the HMACs of the body it computes.
    fn counting_hmacs(header: &str) -> (Result<(), WebhookError>, usize) {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret().expose().as_bytes());
        let count = std::cell::Cell::new(0);
        let result = verify_with(header, BODY, at(NOW), |message| {
            count.set(count.get() + 1);
            hmac::sign(&key, message)
        });
        (result, count.get())
    }

    /// `n` well-formed `v1` values, none of them this body's.
    fn other_signatures(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let other = sign(&Secret::new(format!("whsec_other_{i}")), BODY, at(NOW));
                other.split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default()
            })
            .collect()
    }

    fn good_signature() -> String {
        let good = sign(&secret(), BODY, at(NOW));
        good.split_once(",v1=").map(|(_, v)| v.to_owned()).unwrap_or_default()
    }

    fn header_with(v1s: &[String]) -> String {
        let mut header = format!("t={NOW}");
        for v in v1s {
            header.push_str(",v1=");
            header.push_str(v);
        }
        header
    }

    #[test]
    fn eight_signatures_cost_one_hmac_of_the_body() {
        let mut v1s = other_signatures(7);
        v1s.push(good_signature());
        assert_eq!(counting_hmacs(&header_with(&v1s)), (Ok(()), 1));
        let forged = other_signatures(8);
        assert_eq!(counting_hmacs(&header_with(&forged)), (Err(WebhookError::Forged), 1));
    }

    #[test]
    fn more_than_eight_signatures_are_refused_before_any_hmac() {
        let mut v1s = other_signatures(8);
        v1s.push(good_signature());
        let header = header_with(&v1s);
        assert!(header.len() < MAX_HEADER_BYTES, "refused for the count, not the length");
        assert_eq!(counting_hmacs(&header), (Err(WebhookError::Malformed("too many v1 signatures")), 0));
        assert_eq!(Error::from(WebhookError::Malformed("too many v1 signatures")).status(), 400);
    }

    #[test]
    fn a_header_over_two_kib_is_refused_before_any_hmac() {
        let valid = header_with(&[good_signature()]);
        // Padding in an ignored scheme: the signature in it is valid, the size is not.
        let padded = |len: usize| format!("{valid},v0={}", "a".repeat(len - valid.len() - 4));
        assert_eq!(padded(MAX_HEADER_BYTES).len(), MAX_HEADER_BYTES);
        assert_eq!(counting_hmacs(&padded(MAX_HEADER_BYTES)), (Ok(()), 1));
        assert_eq!(
            counting_hmacs(&padded(MAX_HEADER_BYTES + 1)),
            (Err(WebhookError::Malformed("the header is too long")), 0)
        );
    }

    #[test]
    fn a_refused_webhook_is_a_400_that_says_nothing_about_why() {
        let err = Error::from(WebhookError::Stale { age_secs: 999 });
        assert_eq!(err.status(), 400);
        assert!(!format!("{:?}", err.problem()).contains("999"));
    }

    /// Trimmed from Stripe's documentation of a 2024+ API version event.
    const STRIPE_EVENT: &str = r#"{
      "id": "evt_3MtwBwLkdIwHu7ix0XTRO0Tv",
      "object": "event",
      "api_version": "2026-09-30.clover",
      "created": 1680064028,
      "data": {
        "object": {
          "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
          "object": "payment_intent",
          "amount": 2000,
          "amount_capturable": 0,
          "amount_details": {"tip": {}},
          "amount_received": 2000,
          "automatic_payment_methods": null,
          "capture_method": "automatic_async",
          "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
          "confirmation_method": "automatic",
          "created": 1680064020,
          "currency": "eur",
          "latest_charge": "ch_3MtwBwLkdIwHu7ix0snN0B15",
          "livemode": false,
          "metadata": {"order_id": "ord_01JABCDEF"},
          "payment_method": "pm_1MtwBwLkdIwHu7ixZ1cFq1ar",
          "payment_method_types": ["card"],
          "status": "succeeded",
          "some_field_from_the_future": {"nested": [1, 2, 3]}
        }
      },
      "livemode": false,
      "pending_webhooks": 1,
      "request": {"id": "req_abc", "idempotency_key": "order-ord_01JABCDEF-create"},
      "type": "payment_intent.succeeded"
    }"#;

    /// As localstripe 1.15 sends it (through the project's launcher): API version 2017,
    /// no `pending_webhooks` from localstripe itself, `charges` list inlined.
    const LOCALSTRIPE_EVENT: &str = r#"{
      "api_version": "2017-08-15",
      "created": 1780000000,
      "data": {
        "object": {
          "amount": 4599,
          "amount_capturable": 0,
          "amount_received": 0,
          "capture_method": "automatic_async",
          "charges": {"data": [{"id": "ch_abc", "status": "failed"}], "has_more": false, "object": "list", "total_count": 1, "url": "/v1/charges?payment_intent=pi_abc"},
          "client_secret": "pi_abc_secret_xyz",
          "confirmation_method": "automatic",
          "created": 1780000000,
          "currency": "eur",
          "customer": null,
          "id": "pi_abc",
          "invoice": null,
          "last_payment_error": {"charge": "ch_abc", "code": "card_declined", "message": "Your card was declined."},
          "latest_charge": "ch_abc",
          "livemode": false,
          "metadata": {"order_id": "ord_01JXYZ"},
          "next_action": null,
          "object": "payment_intent",
          "payment_method": "pm_card_chargeCustomerFail",
          "payment_method_types": ["card"],
          "status": "requires_payment_method"
        }
      },
      "id": "evt_localstripe1",
      "livemode": false,
      "object": "event",
      "type": "payment_intent.payment_failed"
    }"#;

    #[test]
    fn a_stripe_payment_intent_event_is_read_with_its_order_id() {
        let event = parse_event(STRIPE_EVENT.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(
            event,
            Ok(WebhookEvent {
                id: "evt_3MtwBwLkdIwHu7ix0XTRO0Tv".into(),
                kind: EventKind::PaymentIntentSucceeded,
                created: 1_680_064_028,
                intent: Some(IntentObject {
                    id: "pi_3MtwBwLkdIwHu7ix28a3tqPa".into(),
                    amount: 2000,
                    currency: "eur".into(),
                    status: IntentStatus::Succeeded,
                    order_id: Some("ord_01JABCDEF".into()),
                    last_payment_error: None,
                }),
                refund: None,
            })
        );
    }

    #[test]
    fn a_localstripe_payment_failed_event_is_read() {
        let event = parse_event(LOCALSTRIPE_EVENT.as_bytes()).map_err(|e| e.to_string());
        let event = event.as_ref();
        assert_eq!(event.map(|e| &e.kind), Ok(&EventKind::PaymentIntentPaymentFailed));
        let intent = event.ok().and_then(|e| e.intent.clone());
        assert_eq!(intent.as_ref().map(|i| i.status.clone()), Some(IntentStatus::RequiresPaymentMethod));
        assert_eq!(intent.as_ref().and_then(|i| i.order_id.as_deref()), Some("ord_01JXYZ"));
        assert_eq!(intent.as_ref().map(|i| i.amount), Some(4599));
        let error = intent.and_then(|i| i.last_payment_error);
        assert_eq!(error.as_ref().and_then(|e| e.code.as_deref()), Some("card_declined"));
        assert_eq!(payment_error(error.as_ref()).code, "card_declined");
    }

    fn stripe_error(code: &str, decline_code: Option<&str>, message: &str) -> LastPaymentError {
        LastPaymentError {
            code: Some(code.to_owned()),
            decline_code: decline_code.map(str::to_owned),
            message: Some(message.to_owned()),
        }
    }

    #[test]
    fn a_decline_reads_as_the_issuers_code_and_words_a_shopper_can_act_on() {
        let funds = payment_error(Some(&stripe_error(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        )));
        assert_eq!(funds.code, "insufficient_funds");
        assert!(funds.message.contains("insufficient funds") && funds.message.contains("another card"), "{funds:?}");
        // What a card tester must not learn reads as a plain decline.
        let stolen =
            payment_error(Some(&stripe_error("card_declined", Some("stolen_card"), "Your card was declined.")));
        assert_eq!((stolen.code.as_str(), stolen.message.as_str()), ("stolen_card", DECLINED));
        // An unknown code keeps Stripe's short plain message; garbage or nothing is a decline.
        let new = payment_error(Some(&stripe_error("some_new_code", None, "Your card needs a new PIN.")));
        assert_eq!((new.code.as_str(), new.message.as_str()), ("some_new_code", "Your card needs a new PIN."));
        let long = payment_error(Some(&stripe_error("some_new_code", None, &"x".repeat(500))));
        assert_eq!(long.message, DECLINED);
        let bidi = payment_error(Some(&stripe_error("some_new_code", None, "pay \u{202E}here")));
        assert_eq!(bidi.message, DECLINED);
        assert_eq!(payment_error(None), PaymentError { code: "card_declined".into(), message: DECLINED.into() });
    }

    /// `charge.refund.updated` as Stripe sends it for test card 4000 0000 0000 5126: the
    /// refund that first succeeded, failed.
    const REFUND_FAILED_EVENT: &str = r#"{
      "id": "evt_1Refund", "object": "event", "created": 1780000000, "type": "charge.refund.updated",
      "data": {"object": {
        "id": "re_3MtwBwLkdIwHu7ix", "object": "refund", "amount": 4599, "currency": "eur",
        "charge": "ch_3MtwBw", "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "failure_reason": "expired_or_canceled_card", "metadata": {"order_id": "ord_01JABCDEF"},
        "status": "failed", "some_field_from_the_future": true
      }}
    }"#;

    #[test]
    fn a_refund_event_is_read_with_its_status_intent_reason_and_order_id() {
        let event = parse_event(REFUND_FAILED_EVENT.as_bytes()).map_err(|e| e.to_string());
        let event = event.as_ref();
        assert_eq!(event.map(|e| &e.kind), Ok(&EventKind::RefundUpdated));
        let refund = event.ok().and_then(|e| e.refund.clone());
        assert_eq!(refund.as_ref().and_then(|r| r.order_id.as_deref()), Some("ord_01JABCDEF"));
        let refund = refund.map(|r| r.refund);
        assert_eq!(refund.as_ref().map(|r| r.status.clone()), Some(crate::payments::RefundState::Failed));
        assert_eq!(refund.as_ref().and_then(|r| r.payment_intent.as_deref()), Some("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
        assert_eq!(refund.as_ref().and_then(|r| r.failure_reason.as_deref()), Some("expired_or_canceled_card"));
        assert_eq!(refund.map(|r| r.amount), Some(4599));
        for kind in ["refund.updated", "refund.failed", "charge.refund.updated"] {
            assert_eq!(EventKind::parse(kind), EventKind::RefundUpdated, "{kind}");
        }
        let unreadable = br#"{"id":"evt_5","type":"refund.updated","data":{"object":{"object":"refund","id":"re_1"}}}"#;
        assert_eq!(parse_event(unreadable).map_err(|e| e.status()).err(), Some(400));
    }

    #[test]
    fn other_events_are_kept_by_name_without_an_intent() {
        let body = br#"{"id":"evt_2","type":"charge.refunded","created":1,"data":{"object":{"object":"charge","id":"ch_1","amount":5}}}"#;
        let event = parse_event(body).map_err(|e| e.to_string());
        assert_eq!(event.as_ref().map(|e| e.kind.clone()), Ok(EventKind::Other("charge.refunded".into())));
        assert_eq!(event.map(|e| e.intent), Ok(None));
    }

    #[test]
    fn an_intent_without_metadata_has_no_order_id() {
        let body = br#"{"id":"evt_3","type":"payment_intent.succeeded","created":1,"data":{"object":{"object":"payment_intent","id":"pi_1","amount":5,"currency":"eur","status":"succeeded"}}}"#;
        let event = parse_event(body).map_err(|e| e.to_string());
        assert_eq!(event.map(|e| e.intent.and_then(|i| i.order_id)), Ok(None));
    }

    #[test]
    fn a_body_that_is_not_an_event_or_an_unreadable_intent_is_a_400() {
        assert_eq!(parse_event(b"not json").map_err(|e| e.status()).err(), Some(400));
        assert_eq!(parse_event(br#"{"type":"x"}"#).map_err(|e| e.status()).err(), Some(400));
        let no_amount = br#"{"id":"evt_4","type":"payment_intent.succeeded","data":{"object":{"object":"payment_intent","id":"pi_1","currency":"eur","status":"succeeded"}}}"#;
        assert_eq!(parse_event(no_amount).map_err(|e| e.status()).err(), Some(400));
    }
}
