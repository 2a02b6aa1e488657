//! [`StripePayments`]: the [`Payments`] port on Stripe's HTTP API (feature `stripe`).
//!
//! Requests are built by async-stripe's typed builders (`stripe_core`): paths, parameter
//! names and form encoding come from Stripe's own spec. They are sent over this crate's
//! hyper-rustls client rather than async-stripe's, because that one has no connect timeout,
//! opens a new TLS connection per call and reports transport failures as strings, which
//! would not let us tell "unreachable" (503) from "refused" (502). Responses are read into
//! lenient types of our own: async-stripe's typed ones require fields that localstripe
//! omits, and we need five fields, not the API version's full object.
//!
//! Nothing happens at construction but parsing the base URL: the TLS roots are loaded and
//! the first connection opened on the first call, so a cold start stays cheap.

use super::webhook::IntentJson;
use super::{
    CancelOutcome, Intent, IntentStatus, NewIntent, Payments, PaymentsFuture, Refund, RefundOutcome, StripeSettings,
    is_stripe_id,
};
use crate::config::{ConfigError, Secret};
use crate::http::outbound::{HttpsClient, https_client};
use crate::{Error, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt as _, Full};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest as _};
use stripe_core::payment_intent::{CancelPaymentIntent, CreatePaymentIntent, RetrievePaymentIntent};
use stripe_core::refund::{CreateRefund, RetrieveRefund};
use tokio::sync::OnceCell;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");

/// The Stripe client. Build it once per cold start and share it (`Arc<dyn Payments>`).
pub struct StripePayments {
    settings: StripeSettings,
    api_base: String,
    http: OnceCell<HttpsClient>,
    calls: AtomicU64,
}

/// The request that creates `req`'s PaymentIntent. Only amount, currency and metadata.
/// Payment method types are left to Stripe's dynamic payment methods (the Dashboard's
/// settings): at the API version these builders pin (2026-09-30), `payment_method_types` is
/// refused with `payment_method_types_no_longer_supported`, and localstripe refuses its
/// successors `automatic_payment_methods` and `allowed_payment_method_types`.
fn create_request(req: &NewIntent) -> Result<RequestBuilder> {
    let amount = i64::try_from(req.amount_cents).map_err(|e| Error::internal("creating a payment intent", e))?;
    let metadata = HashMap::from([("order_id".to_owned(), req.order_id.clone())]);
    let currency = req.currency.parse::<stripe_types::Currency>().unwrap_or_else(|e| match e {});
    Ok(CreatePaymentIntent::new(amount, currency).metadata(metadata).build())
}

impl fmt::Debug for StripePayments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripePayments").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl StripePayments {
    /// Checks the settings; no I/O.
    pub fn new(settings: StripeSettings) -> Result<Self, ConfigError> {
        let mut api_base = settings.api_base.trim().to_owned();
        if !api_base.ends_with('/') {
            api_base.push('/');
        }
        let uri: http::Uri =
            api_base.parse().map_err(|_| ConfigError::Invalid { name: "STRIPE_API_BASE", reason: "not a URL" })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ConfigError::Invalid { name: "STRIPE_API_BASE", reason: "not an http(s) URL" });
        }
        if HeaderValue::try_from(format!("Bearer {}", settings.secret_key.expose())).is_err() {
            return Err(ConfigError::Invalid { name: "STRIPE_SECRET_KEY", reason: "not a header value" });
        }
        if settings.connect_timeout > settings.request_timeout {
            return Err(ConfigError::Invalid {
                name: "STRIPE_CONNECT_TIMEOUT_MS",
                reason: "longer than the request timeout",
            });
        }
        Ok(Self { settings, api_base, http: OnceCell::new(), calls: AtomicU64::new(0) })
    }

    /// HTTP requests sent to Stripe so far (for benchmarks and tests).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn retrieve(&self, intent_id: &str) -> Result<Option<Intent>> {
        if !is_stripe_id(intent_id) {
            return Ok(None);
        }
        self.within_deadline("retrieving a payment intent", async {
            let response = self.send(RetrievePaymentIntent::new(intent_id).build(), None).await?;
            match response {
                Response::Ok(body) => intent_from(&body, "retrieving a payment intent").map(Some),
                Response::Err(e) if e.is_not_found() => Ok(None),
                Response::Err(e) => Err(Error::provider_failed("retrieving a payment intent", e)),
            }
        })
        .await
    }

    async fn create(&self, req: &NewIntent) -> Result<Intent> {
        const CONTEXT: &str = "creating a payment intent";
        match self.send(create_request(req)?, Some(&req.idempotency_key)).await? {
            Response::Ok(body) => intent_from(&body, CONTEXT),
            Response::Err(e) => Err(Error::provider_failed(CONTEXT, e)),
        }
    }

    async fn cancel(&self, intent_id: &str, idempotency_key: &str) -> Result<CancelOutcome> {
        const CONTEXT: &str = "cancelling a payment intent";
        if !is_stripe_id(intent_id) {
            return Ok(CancelOutcome::NotFound);
        }
        // No cancellation_reason: localstripe refuses every parameter on cancel.
        let error = match self.send(CancelPaymentIntent::new(intent_id).build(), Some(idempotency_key)).await? {
            Response::Ok(_) => return Ok(CancelOutcome::Cancelled),
            Response::Err(e) if e.is_not_found() => return Ok(CancelOutcome::NotFound),
            Response::Err(e) => e,
        };
        // A refused cancel is most often an intent already cancelled or paid. Stripe says so
        // with `payment_intent_unexpected_state` and the intent in the error; localstripe
        // answers a bare 400, so read the intent back to know which.
        let status = match &error.intent_status {
            Some(status) => IntentStatus::parse(status),
            None if error.status == 400 => {
                match self.send(RetrievePaymentIntent::new(intent_id).build(), None).await? {
                    Response::Ok(body) => intent_from(&body, CONTEXT)?.status,
                    Response::Err(_) => return Err(Error::provider_failed(CONTEXT, error)),
                }
            }
            None => return Err(Error::provider_failed(CONTEXT, error)),
        };
        match status {
            IntentStatus::Canceled => Ok(CancelOutcome::AlreadyCancelled),
            IntentStatus::Succeeded => Ok(CancelOutcome::AlreadySucceeded),
            _ => Err(Error::provider_failed(CONTEXT, error)),
        }
    }

    async fn refund_intent(&self, intent_id: &str, order_id: &str, idempotency_key: &str) -> Result<RefundOutcome> {
        const CONTEXT: &str = "refunding a payment intent";
        if !is_stripe_id(intent_id) {
            return Ok(RefundOutcome::NotFound);
        }
        // No `reason`: localstripe refuses it, and Stripe needs none for a full refund. The
        // order id goes into the metadata, so that the refund's webhooks name the order.
        let metadata = HashMap::from([("order_id".to_owned(), order_id.to_owned())]);
        let request = CreateRefund::new().payment_intent(intent_id).metadata(metadata).build();
        match self.send(request, Some(idempotency_key)).await? {
            Response::Ok(body) => Ok(RefundOutcome::Refunded(refund_from(&body, CONTEXT)?)),
            Response::Err(e) if e.code.as_deref() == Some("charge_already_refunded") => {
                Ok(RefundOutcome::AlreadyRefunded)
            }
            // Stripe answers an unknown intent with 400 resource_missing, localstripe with 404.
            Response::Err(e) if e.is_not_found() => Ok(RefundOutcome::NotFound),
            // The first request with this key is still running at Stripe: its outcome is
            // unknown, and only the same key may be sent again.
            Response::Err(e) if e.status == 409 && e.kind.as_deref() == Some("idempotency_error") => {
                Err(Error::provider_unavailable(CONTEXT, e))
            }
            Response::Err(e) => Err(Error::provider_failed(CONTEXT, e)),
        }
    }

    async fn retrieve_refund_by_id(&self, refund_id: &str) -> Result<Option<Refund>> {
        const CONTEXT: &str = "reading a refund";
        if !is_stripe_id(refund_id) {
            return Ok(None);
        }
        match self.send(RetrieveRefund::new(refund_id).build(), None).await? {
            Response::Ok(body) => refund_from(&body, CONTEXT).map(Some),
            Response::Err(e) if e.is_not_found() => Ok(None),
            Response::Err(e) => Err(Error::provider_failed(CONTEXT, e)),
        }
    }

    /// Runs a whole operation, follow-up requests included, within the request timeout:
    /// a slow Stripe costs the caller at most that long.
    async fn within_deadline<T>(&self, context: &'static str, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let timeout = self.settings.request_timeout;
        tokio::time::timeout(timeout, operation)
            .await
            .unwrap_or_else(|_| Err(Error::provider_unavailable(context, format!("no answer within {timeout:?}"))))
    }

    async fn client(&self) -> Result<&HttpsClient> {
        self.http.get_or_try_init(|| async { https_client(self.settings.connect_timeout) }).await
    }

    /// Sends one request built by async-stripe. Transport failures are 503s; any HTTP
    /// answer comes back as a [`Response`] for the caller to judge.
    async fn send(&self, req: RequestBuilder, idempotency_key: Option<&str>) -> Result<Response> {
        const CONTEXT: &str = "calling Stripe";
        let client = self.client().await?;
        let mut uri = format!("{}v1{}", self.api_base, req.path);
        if let Some(query) = &req.query {
            uri.push('?');
            uri.push_str(query);
        }
        let method = match req.method {
            StripeMethod::Get => http::Method::GET,
            StripeMethod::Post => http::Method::POST,
            StripeMethod::Delete => http::Method::DELETE,
        };
        let mut auth = HeaderValue::try_from(format!("Bearer {}", self.settings.secret_key.expose()))
            .map_err(|e| Error::internal(CONTEXT, e))?;
        auth.set_sensitive(true);
        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, auth)
            .header(USER_AGENT, "makers-market (async-stripe request builders)")
            .header(STRIPE_VERSION, stripe_client_core::VERSION.as_str());
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 255 {
                return Err(Error::internal(CONTEXT, "an Idempotency-Key must have 1 to 255 characters"));
            }
            let key = HeaderValue::from_str(key).map_err(|e| Error::internal(CONTEXT, e))?;
            builder = builder.header(IDEMPOTENCY_KEY, key);
        }
        let body = match req.body {
            Some(form) => {
                builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(form)
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(body)).map_err(|e| Error::internal(CONTEXT, e))?;

        // One more try after a transport failure, when repeating cannot double an effect (a
        // GET, or a POST whose Idempotency-Key makes Stripe replay the first answer). It
        // covers a kept-alive connection that died while the function was frozen; it runs
        // inside the operation's deadline, so it never makes a call slower than the timeout.
        let repeatable = idempotency_key.is_some() || request.method() == http::Method::GET;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = match client.request(request.clone()).await {
            Ok(response) => response,
            Err(first) if repeatable => {
                tracing::info!(error = %first, "Stripe request failed in transport; trying once more");
                self.calls.fetch_add(1, Ordering::Relaxed);
                client.request(request).await.map_err(|e| Error::provider_unavailable(CONTEXT, e))?
            }
            Err(e) => return Err(Error::provider_unavailable(CONTEXT, e)),
        };
        let status = response.status();
        let request_id = response.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::provider_unavailable("reading Stripe's answer", e))?
            .to_bytes();
        if status.is_success() {
            return Ok(Response::Ok(body));
        }
        Ok(Response::Err(StripeApiError::from_body(status.as_u16(), request_id, &body)))
    }
}

impl Payments for StripePayments {
    fn create_intent<'a>(&'a self, req: &'a NewIntent) -> PaymentsFuture<'a, Intent> {
        Box::pin(self.within_deadline("creating a payment intent", self.create(req)))
    }

    fn cancel_intent<'a>(&'a self, intent_id: &'a str, idempotency_key: &'a str) -> PaymentsFuture<'a, CancelOutcome> {
        Box::pin(self.within_deadline("cancelling a payment intent", self.cancel(intent_id, idempotency_key)))
    }

    fn refund<'a>(
        &'a self,
        intent_id: &'a str,
        order_id: &'a str,
        idempotency_key: &'a str,
    ) -> PaymentsFuture<'a, RefundOutcome> {
        Box::pin(
            self.within_deadline(
                "refunding a payment intent",
                self.refund_intent(intent_id, order_id, idempotency_key),
            ),
        )
    }

    fn retrieve_refund<'a>(&'a self, refund_id: &'a str) -> PaymentsFuture<'a, Option<Refund>> {
        Box::pin(self.within_deadline("reading a refund", self.retrieve_refund_by_id(refund_id)))
    }

    fn retrieve_intent<'a>(&'a self, intent_id: &'a str) -> PaymentsFuture<'a, Option<Intent>> {
        Box::pin(self.retrieve(intent_id))
    }
}

enum Response {
    Ok(Bytes),
    Err(StripeApiError),
}

/// Stripe's answer to a failed request, for the log (the client sees a bare 502).
#[derive(Debug)]
pub struct StripeApiError {
    pub status: u16,
    pub code: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    /// Stripe's `request-id` header: what Stripe support asks for.
    pub request_id: Option<String>,
    /// The intent's status, when Stripe put the intent in the error.
    pub intent_status: Option<String>,
}

impl StripeApiError {
    fn from_body(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        let error = serde_json::from_slice::<ErrorJson>(body).map(|e| e.error).unwrap_or_default();
        Self {
            status,
            code: error.code,
            kind: error.kind,
            message: error.message,
            request_id,
            intent_status: error.payment_intent.map(|pi| pi.status),
        }
    }

    fn is_not_found(&self) -> bool {
        self.status == 404 || self.code.as_deref() == Some("resource_missing")
    }
}

impl fmt::Display for StripeApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stripe answered {}", self.status)?;
        for (name, value) in
            [("type", &self.kind), ("code", &self.code), ("message", &self.message), ("request-id", &self.request_id)]
        {
            if let Some(value) = value {
                write!(f, ", {name} {value:?}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for StripeApiError {}

#[derive(Deserialize)]
struct ErrorJson {
    error: ApiErrorJson,
}

#[derive(Default, Deserialize)]
struct ApiErrorJson {
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<StatusJson>,
}

#[derive(Deserialize)]
struct StatusJson {
    status: String,
}

fn refund_from(body: &[u8], context: &'static str) -> Result<Refund> {
    let refund: super::webhook::RefundJson = parse(body, context)?;
    Ok(refund.into_refund())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], context: &'static str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::provider_failed(context, format!("unreadable answer: {e}")))
}

fn intent_from(body: &[u8], context: &'static str) -> Result<Intent> {
    let intent: IntentJson = parse(body, context)?;
    let client_secret = intent
        .client_secret
        .ok_or_else(|| Error::provider_failed(context, "the payment intent has no client_secret"))?;
    Ok(Intent {
        id: intent.id,
        client_secret: Secret::new(client_secret),
        status: IntentStatus::parse(&intent.status),
        amount: intent.amount,
        currency: intent.currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str) -> StripeSettings {
        StripeSettings::new(base, Secret::new("sk_test_x"))
    }

    #[test]
    fn the_base_url_must_be_http_and_gets_its_trailing_slash() {
        let payments = StripePayments::new(settings("http://127.0.0.1:8420"));
        assert_eq!(payments.map(|p| p.api_base).ok().as_deref(), Some("http://127.0.0.1:8420/"));
        assert!(StripePayments::new(settings("ftp://stripe")).is_err());
        assert!(StripePayments::new(settings("not a url")).is_err());
        let mut slow_connect = settings("https://api.stripe.com/");
        slow_connect.connect_timeout = slow_connect.request_timeout * 2;
        assert!(StripePayments::new(slow_connect).is_err());
    }

    #[test]
    fn the_create_request_carries_only_what_localstripe_and_stripe_both_accept() {
        let intent = NewIntent {
            order_id: "ord_1".to_owned(),
            amount_cents: 4599,
            currency: "eur".to_owned(),
            idempotency_key: "order-ord_1-create".to_owned(),
        };
        let req = create_request(&intent).map_err(|e| e.to_string());
        assert_eq!(req.as_ref().map(|r| r.path.as_str()), Ok("/payment_intents"));
        assert!(matches!(req.as_ref().map(|r| r.method), Ok(StripeMethod::Post)));
        // No payment method types of any kind, no amount in another unit: exactly these.
        let body = req.ok().and_then(|r| r.body).unwrap_or_default();
        assert_eq!(body, "amount=4599&currency=eur&metadata[order_id]=ord_1");
    }

    #[test]
    fn stripe_errors_are_read_loosely_and_logged_without_the_key() {
        let body = br#"{"error":{"code":"payment_intent_unexpected_state","type":"invalid_request_error",
            "message":"You cannot cancel this PaymentIntent because it has a status of succeeded.",
            "payment_intent":{"id":"pi_1","status":"succeeded","amount":5},"doc_url":"https://stripe.com"}}"#;
        let err = StripeApiError::from_body(400, Some("req_1".into()), body);
        assert_eq!(err.intent_status.as_deref(), Some("succeeded"));
        assert!(err.to_string().contains("payment_intent_unexpected_state"), "{err}");
        let garbage = StripeApiError::from_body(502, None, b"<html>bad gateway</html>");
        assert_eq!(garbage.to_string(), "Stripe answered 502");
        assert!(StripeApiError::from_body(400, None, br#"{"error":{"code":"resource_missing"}}"#).is_not_found());
    }
}
