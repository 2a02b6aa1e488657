//! Card payments from a browser, against the launcher's routes for Stripe.js
//! (`local/py/_stripejs.py`; localstripe at `MM_TEST_STRIPE_API_BASE`, set by `cargo xtask
//! test`): the requests are the ones `local/py/stripe_js_v3.js` sends for
//! `stripe.confirmCardPayment`, form fields authenticated by the publishable key and the
//! intent's client secret, no `Authorization` header. The intents are created by the
//! project's own Stripe client, and the webhooks read by the project's own parser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use local::stripe as localstripe;
use serde_json::Value;
use shared::config::Secret;
use shared::payments::webhook::{self, EventKind};
use shared::payments::{Intent, IntentStatus, NewIntent, Payments, StripePayments, StripeSettings};
use tokio::sync::mpsc;

const API_BASE_VAR: &str = "MM_TEST_STRIPE_API_BASE";
/// localstripe takes any `sk_…` and any `pk_…` key.
const SECRET_KEY: &str = "sk_test_makers_market";
const PUBLISHABLE_KEY: &str = "pk_test_makers_market";

const VISA: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
const THREE_D_SECURE: &str = "4000002760003184";

fn api_base() -> String {
    std::env::var(API_BASE_VAR).unwrap_or_else(|_| {
        panic!("{API_BASE_VAR} is not set: run the tests with `cargo xtask test`, which starts localstripe")
    })
}

/// A €12.34 intent, created as the order code creates it.
async fn new_intent(base: &str) -> Intent {
    let payments = StripePayments::new(StripeSettings::new(base, Secret::new(SECRET_KEY))).unwrap();
    let order_id = format!("ord_{}", ulid::Ulid::new());
    let request = NewIntent {
        idempotency_key: format!("order-{order_id}-create"),
        order_id,
        amount_cents: 1234,
        currency: "eur".into(),
    };
    payments.create_intent(&request).await.unwrap()
}

fn secret_of(intent: &Intent) -> String {
    intent.client_secret.expose().to_owned()
}

/// `POST /v1/payment_intents/{id}/confirm` as Stripe.js sends it for a card element.
async fn confirm_card(base: &str, key: &str, client_secret: &str, number: &str) -> (u16, Value) {
    let id = client_secret.split("_secret_").next().unwrap();
    let form = [
        ("key", key),
        ("client_secret", client_secret),
        ("use_stripe_sdk", "true"),
        ("expected_payment_method_type", "card"),
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", number),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2034"),
        ("payment_method_data[card][cvc]", "123"),
        ("payment_method_data[billing_details][name]", "Ada Lovelace"),
        ("payment_method_data[billing_details][address][postal_code]", "69001"),
    ];
    // No secret key: no Authorization header, as from a page.
    localstripe::request(base, "", "POST", &format!("v1/payment_intents/{id}/confirm"), &form).await.unwrap()
}

/// The outcome of the 3-D Secure challenge, as the dialog of Stripe.js reports it.
async fn authenticate(base: &str, client_secret: &str, success: bool) -> (u16, Value) {
    let id = client_secret.split("_secret_").next().unwrap();
    let success = if success { "true" } else { "false" };
    let form = [("key", PUBLISHABLE_KEY), ("client_secret", client_secret), ("success", success)];
    localstripe::request(base, "", "POST", &format!("v1/payment_intents/{id}/_authenticate"), &form).await.unwrap()
}

async fn intent_status(base: &str, id: &str) -> (String, Value) {
    let intent = localstripe::get_intent(base, SECRET_KEY, id).await.unwrap();
    (intent["status"].as_str().unwrap().to_owned(), intent["last_payment_error"].clone())
}

/// A webhook endpoint registered with localstripe under its own id and secret.
struct Webhooks {
    secret: Secret,
    received: mpsc::UnboundedReceiver<(String, Bytes)>,
}

impl Webhooks {
    async fn register(base: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let signature = req
                            .headers()
                            .get("stripe-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let _ = tx.send((signature, body));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        let secret = Secret::new(format!("whsec_test_{}", ulid::Ulid::new()));
        let id = format!("test-{}", ulid::Ulid::new());
        localstripe::register_webhook_as(base, &id, &url, secret.expose()).await.unwrap();
        Self { secret, received }
    }

    /// The next `n` events about `intent_id` (other tests' events arrive here too), each
    /// verified and parsed by the project's webhook code: `(kind, last_payment_error.code)`.
    async fn about(&mut self, intent_id: &str, n: usize) -> Vec<(EventKind, Option<String>)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut events = Vec::new();
        while events.len() < n {
            let (signature, body) = tokio::time::timeout_at(deadline, self.received.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("{} of {n} webhooks about {intent_id} within 10 s: {events:?}", events.len())
                })
                .expect("the receiver stopped");
            webhook::verify(&self.secret, &signature, &body, SystemTime::now()).unwrap();
            let event = webhook::parse_event(&body).unwrap();
            if event.intent.as_ref().is_some_and(|i| i.id == intent_id) {
                let raw: Value = serde_json::from_slice(&body).unwrap();
                let code = raw["data"]["object"]["last_payment_error"]["code"].as_str().map(str::to_owned);
                events.push((event.kind, code));
            }
        }
        events
    }
}

/// In a module of the binary's name, so that `cargo xtask test card_payments` (a test name
/// filter) selects them.
mod card_payments {
    use super::*;

    #[tokio::test]
    async fn the_launcher_serves_its_own_stripe_js() {
        let base = api_base();
        let (status, body) = localstripe::request(&base, "", "GET", "js.stripe.com/v3/", &[]).await.unwrap();
        // Not JSON, so the helper hands back Null: the status is what we can see here.
        assert_eq!((status, body), (200, Value::Null));
    }

    #[tokio::test]
    async fn a_card_typed_in_the_page_pays_the_intent() {
        let base = api_base();
        let mut webhooks = Webhooks::register(&base).await;
        let intent = new_intent(&base).await;
        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret_of(&intent), VISA).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], intent.id.as_str());
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["amount_received"], 1234);
        assert_eq!(intent_status(&base, &intent.id).await, ("succeeded".to_owned(), Value::Null));
        assert_eq!(webhooks.about(&intent.id, 1).await, [(EventKind::PaymentIntentSucceeded, None)]);
    }

    #[tokio::test]
    async fn a_declined_card_leaves_the_intent_payable_and_another_card_pays_it() {
        let base = api_base();
        let mut webhooks = Webhooks::register(&base).await;
        let intent = new_intent(&base).await;
        let secret = secret_of(&intent);

        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, DECLINED).await;
        assert_eq!(status, 402, "{body}");
        let error = &body["error"];
        assert_eq!(error["type"], "card_error", "{body}");
        assert_eq!(error["code"], "card_declined");
        assert_eq!(error["decline_code"], "generic_decline");
        assert_eq!(error["message"], "Your card was declined.");
        assert_eq!(error["payment_intent"]["id"], intent.id.as_str());
        assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
        assert_eq!(error["payment_method"]["card"]["last4"], "0002");

        let (status, last_error) = intent_status(&base, &intent.id).await;
        assert_eq!(status, "requires_payment_method");
        assert_eq!(last_error["code"], "card_declined", "{last_error}");
        assert_eq!(last_error["type"], "card_error");
        assert_eq!(
            webhooks.about(&intent.id, 1).await,
            [(EventKind::PaymentIntentPaymentFailed, Some("card_declined".to_owned()))]
        );

        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, VISA).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["last_payment_error"], Value::Null);
        assert_eq!(intent_status(&base, &intent.id).await, ("succeeded".to_owned(), Value::Null));
        assert_eq!(webhooks.about(&intent.id, 1).await, [(EventKind::PaymentIntentSucceeded, None)]);
    }

    #[tokio::test]
    async fn a_3d_secure_card_waits_for_authentication_and_completing_it_pays() {
        let base = api_base();
        let mut webhooks = Webhooks::register(&base).await;
        let intent = new_intent(&base).await;
        let secret = secret_of(&intent);

        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, THREE_D_SECURE).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "requires_action");
        assert_eq!(body["next_action"]["type"], "use_stripe_sdk");
        assert_eq!(intent_status(&base, &intent.id).await.0, "requires_action");

        let (status, body) = authenticate(&base, &secret, true).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["next_action"], Value::Null);
        assert_eq!(intent_status(&base, &intent.id).await.0, "succeeded");
        assert_eq!(webhooks.about(&intent.id, 1).await, [(EventKind::PaymentIntentSucceeded, None)]);
    }

    #[tokio::test]
    async fn failing_3d_secure_is_an_authentication_failure_and_the_intent_stays_payable() {
        let base = api_base();
        let mut webhooks = Webhooks::register(&base).await;
        let intent = new_intent(&base).await;
        let secret = secret_of(&intent);

        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, THREE_D_SECURE).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("requires_action")), "{body}");
        let (status, body) = authenticate(&base, &secret, false).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "requires_payment_method");
        assert_eq!(body["last_payment_error"]["code"], "payment_intent_authentication_failure");
        assert_eq!(body["last_payment_error"]["type"], "invalid_request_error");
        assert_eq!(body["payment_method"], Value::Null);
        assert_eq!(
            webhooks.about(&intent.id, 1).await,
            [(EventKind::PaymentIntentPaymentFailed, Some("payment_intent_authentication_failure".to_owned()))]
        );

        // The challenge is over: answering it again is refused.
        let (status, body) = authenticate(&base, &secret, true).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "payment_intent_unexpected_state");

        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, VISA).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("succeeded")), "{body}");
        let paid = StripePayments::new(StripeSettings::new(&base, Secret::new(SECRET_KEY)))
            .unwrap()
            .retrieve_intent(&intent.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(paid.status, IntentStatus::Succeeded);
    }

    #[tokio::test]
    async fn the_publishable_key_and_the_client_secret_are_what_authenticate_the_page() {
        let base = api_base();
        let intent = new_intent(&base).await;
        let secret = secret_of(&intent);

        // No key, or a secret key where the page sends its publishable key: 401.
        let (status, body) = confirm_card(&base, "", &secret, VISA).await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = confirm_card(&base, SECRET_KEY, &secret, VISA).await;
        assert_eq!(status, 401, "{body}");
        // A client secret that is not this intent's: 400, and nothing was charged.
        let wrong = format!("{}_secret_{}", intent.id, "x".repeat(16));
        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &wrong, VISA).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["param"], "client_secret");
        let (status, body) = authenticate(&base, &wrong, true).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(intent_status(&base, &intent.id).await.0, "requires_payment_method");

        // With both, the page may read the intent (stripe.retrievePaymentIntent).
        let query = format!("v1/payment_intents/{}?key={PUBLISHABLE_KEY}&client_secret={secret}", intent.id);
        let (status, body) = localstripe::request(&base, "", "GET", &query, &[]).await.unwrap();
        assert_eq!((status, body["status"].as_str()), (200, Some("requires_payment_method")), "{body}");
        let query = format!("v1/payment_intents/{}?client_secret={secret}", intent.id);
        let (status, body) = localstripe::request(&base, "", "GET", &query, &[]).await.unwrap();
        assert_eq!(status, 401, "{body}");

        // A paid intent cannot be confirmed again.
        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, VISA).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("succeeded")), "{body}");
        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret, VISA).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "payment_intent_unexpected_state");
    }

    #[tokio::test]
    async fn a_card_the_page_should_have_refused_is_a_card_error() {
        let base = api_base();
        let intent = new_intent(&base).await;
        // Fails the Luhn check.
        let (status, body) = confirm_card(&base, PUBLISHABLE_KEY, &secret_of(&intent), "4242424242424241").await;
        assert_eq!(status, 402, "{body}");
        assert_eq!(body["error"]["type"], "card_error");
        assert_eq!(body["error"]["code"], "incorrect_number");
        assert_eq!(intent_status(&base, &intent.id).await.0, "requires_payment_method");
    }
}
