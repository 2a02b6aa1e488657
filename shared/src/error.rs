//! The one error type: every failure a request can meet, its HTTP status, and its
//! problem+json rendering. Internal detail is logged with the request id, never sent.

use serde::Serialize;
use std::borrow::Cow;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input field, as the client sent it (`price_cents`, `images[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with one entry per invalid field.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// 400 for input that is not even shaped right (bad JSON, bad cursor, bad query).
    #[error("bad request: {0}")]
    BadRequest(Cow<'static, str>),
    /// 401. The reason is logged only: clients learn nothing about why a token failed.
    #[error("unauthorized: {0}")]
    Unauthorized(Cow<'static, str>),
    /// 403 with a client-safe explanation.
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    /// 404 with a client-safe explanation.
    #[error("not found: {0}")]
    NotFound(Cow<'static, str>),
    /// 405: a known path, a method it does not serve. `allow` lists the ones it does.
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<&'static str> },
    /// 409 with a client-safe explanation and optional per-field details.
    #[error("conflict: {detail}")]
    Conflict { detail: Cow<'static, str>, errors: Vec<FieldError> },
    /// 409: the customer already holds the most unpaid orders allowed (`open` of them).
    #[error("unpaid orders limit: {open} open")]
    UnpaidOrdersLimit { open: usize },
    /// 422: an `Idempotency-Key` reused with another request body.
    #[error("idempotency key reused with another body")]
    IdempotencyKeyReused,
    /// 413: the body is over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 502 (the provider answered with an error) or 503 (it could not be reached or did not
    /// answer in time). `context` and the source go to the log only.
    #[error("payment provider failed while {context}: {source}")]
    PaymentProvider { unavailable: bool, context: &'static str, source: Source },
    /// 503 with `Retry-After`: others were changing the same items at the same moment (a rush
    /// on one product) and kept winning through every retry. Nothing was written; the same
    /// request a moment later may well go through.
    #[error("busy while {context}")]
    Busy { context: &'static str },
    /// 503: a dependency of ours (DynamoDB) did not answer in time or could not be reached.
    /// Transactions are all-or-nothing, so nothing is half-written.
    #[error("dependency unavailable while {context}: {source}")]
    Unavailable { context: &'static str, source: Source },
    /// 500. `context` says what we were doing; the source carries the detail for the log.
    #[error("internal error while {context}: {source}")]
    Internal { context: &'static str, source: Source },
}

impl Error {
    pub fn internal(context: &'static str, source: impl Into<Source>) -> Self {
        Self::Internal { context, source: source.into() }
    }

    /// The payment provider answered with an error (502).
    pub fn provider_failed(context: &'static str, source: impl Into<Source>) -> Self {
        Self::PaymentProvider { unavailable: false, context, source: source.into() }
    }

    /// The payment provider could not be reached or timed out (503).
    pub fn provider_unavailable(context: &'static str, source: impl Into<Source>) -> Self {
        Self::PaymentProvider { unavailable: true, context, source: source.into() }
    }

    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest(detail.into())
    }

    pub fn unauthorized(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::Unauthorized(reason.into())
    }

    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound(detail.into())
    }

    pub fn conflict(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict { detail: detail.into(), errors: Vec::new() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict { .. } | Self::UnpaidOrdersLimit { .. } => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyKeyReused => 422,
            Self::PaymentProvider { unavailable: false, .. } => 502,
            Self::PaymentProvider { unavailable: true, .. } | Self::Unavailable { .. } | Self::Busy { .. } => 503,
            Self::Internal { .. } => 500,
        }
    }

    /// The problem document a client sees. Nothing from `Internal` or `Unauthorized`
    /// reasons leaks into it.
    /// For a 503: how many seconds a client should wait before trying again (`Retry-After`).
    /// A lost race clears in a moment; a dependency that is down takes longer.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::Busy { .. } => Some(1),
            Self::Unavailable { .. } | Self::PaymentProvider { unavailable: true, .. } => Some(5),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title, detail): (&str, &str, Option<String>) = match self {
            Self::Validation(_) => {
                ("validation-error", "Invalid input", Some("One or more fields are invalid.".into()))
            }
            Self::BadRequest(d) => ("bad-request", "Bad request", Some(d.to_string())),
            Self::Unauthorized(_) => (
                "unauthorized",
                "Unauthorized",
                Some("A valid access token is required: Authorization: Bearer <token>.".into()),
            ),
            Self::Forbidden(d) => ("forbidden", "Forbidden", Some(d.to_string())),
            Self::NotFound(d) => ("not-found", "Not found", Some(d.to_string())),
            Self::MethodNotAllowed { allow } => (
                "method-not-allowed",
                "Method not allowed",
                Some(format!("This path serves only: {}.", allow.join(", "))),
            ),
            Self::Conflict { detail, .. } => ("conflict", "Conflict", Some(detail.to_string())),
            Self::UnpaidOrdersLimit { open } => (
                "unpaid-orders-limit",
                "Too many unpaid orders",
                Some(format!(
                    "You have {open} unpaid orders, the most you may hold at once. Pay for one or cancel it before placing another."
                )),
            ),
            Self::IdempotencyKeyReused => (
                "idempotency-key-reused",
                "Idempotency-Key reused",
                Some("This Idempotency-Key was already used with another request body; use a new key.".into()),
            ),
            Self::PaymentProvider { unavailable: false, .. } => (
                "payment-provider-error",
                "Payment provider error",
                Some("The payment provider refused or failed the request; nothing was reserved. Try again.".into()),
            ),
            Self::PaymentProvider { unavailable: true, .. } => (
                "payment-provider-unavailable",
                "Payment provider unavailable",
                Some("The payment provider could not be reached; nothing was reserved. Try again shortly.".into()),
            ),
            Self::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                Some(format!("The request body is over {} bytes.", crate::http::MAX_BODY_BYTES)),
            ),
            Self::UnsupportedMediaType => (
                "unsupported-media-type",
                "Unsupported media type",
                Some("The request body must be JSON: Content-Type: application/json.".into()),
            ),
            Self::Busy { .. } => (
                "busy",
                "Too busy",
                Some(
                    "Many people are changing the same thing right now; nothing was changed. Try again in a moment."
                        .into(),
                ),
            ),
            Self::Unavailable { .. } => (
                "service-unavailable",
                "Service unavailable",
                Some("A service we depend on did not answer in time; nothing was changed. Try again shortly.".into()),
            ),
            Self::Internal { .. } => (
                "internal-error",
                "Internal server error",
                Some("Something went wrong on our side. Quote the x-request-id if you contact us.".into()),
            ),
        };
        let errors = match self {
            Self::Validation(errors) => Some(errors.clone()),
            Self::Conflict { errors, .. } if !errors.is_empty() => Some(errors.clone()),
            _ => None,
        };
        Problem {
            r#type: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_owned(),
            status: self.status(),
            detail,
            errors,
        }
    }
}

/// Where the problem `type` URIs live.
pub const PROBLEM_BASE: &str = "https://makers-market.pt/problems/";

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub r#type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing_about_their_cause() {
        let err = Error::internal("reading a product", "ResourceNotFoundException: table mm-secret-table");
        let body = serde_json::to_string(&err.problem()).unwrap_or_default();
        assert_eq!(err.status(), 500);
        assert!(!body.contains("mm-secret-table"), "{body}");
        assert!(!body.contains("reading a product"), "{body}");
    }

    #[test]
    fn token_failures_do_not_explain_themselves() {
        let body = serde_json::to_string(&Error::unauthorized("kid abc not in JWKS").problem()).unwrap_or_default();
        assert!(!body.contains("kid"), "{body}");
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let p = Error::invalid("price_cents", "must be at least 1").problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.errors.as_deref().map(|e| e[0].field.as_str()), Some("price_cents"));
    }
}
