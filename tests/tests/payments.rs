//! `shared::payments::StripePayments` against localstripe (`MM_TEST_STRIPE_API_BASE`, set by
//! `cargo xtask test`), and against a Stripe that is down or never answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use local::stripe::{self as localstripe, TestCard};
use shared::config::Secret;
use shared::payments::webhook::{self, EventKind};
use shared::payments::{
    CancelOutcome, IntentStatus, NewIntent, Payments, RefundOutcome, RefundState, StripePayments, StripeSettings,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const API_BASE_VAR: &str = "MM_TEST_STRIPE_API_BASE";
/// localstripe accepts any `sk_…` key.
const SECRET_KEY: &str = "sk_test_makers_market";

fn api_base() -> String {
    std::env::var(API_BASE_VAR).unwrap_or_else(|_| {
        panic!("{API_BASE_VAR} is not set: run the tests with `cargo xtask test`, which starts localstripe")
    })
}

fn payments_at(api_base: &str) -> StripePayments {
    StripePayments::new(StripeSettings::new(api_base, Secret::new(SECRET_KEY))).expect("valid Stripe settings")
}

fn unique_order() -> String {
    format!("ord_{}", ulid::Ulid::new())
}

fn new_intent(order_id: &str, amount_cents: u64) -> NewIntent {
    NewIntent {
        order_id: order_id.to_owned(),
        amount_cents,
        currency: "eur".into(),
        idempotency_key: format!("order-{order_id}-create"),
    }
}

#[tokio::test]
async fn an_intent_is_created_with_the_amount_currency_order_id_and_a_client_secret() {
    let base = api_base();
    let payments = payments_at(&base);
    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 4599)).await.unwrap();
    assert!(intent.id.starts_with("pi_"), "{intent:?}");
    assert_eq!((intent.amount, intent.currency.as_str()), (4599, "eur"));
    assert_eq!(intent.status, IntentStatus::RequiresPaymentMethod);
    assert!(intent.client_secret.expose().starts_with(&format!("{}_secret_", intent.id)));
    assert!(!format!("{intent:?}").contains("_secret_"), "the client secret stays out of logs");
    assert_eq!(payments.calls(), 1);

    let stored = localstripe::get_intent(&base, SECRET_KEY, &intent.id).await.unwrap();
    assert_eq!(stored["metadata"]["order_id"], order.as_str());
    assert_eq!(stored["amount"], 4599);
    assert_eq!(stored["currency"], "eur");
}

#[tokio::test]
async fn creating_twice_with_one_idempotency_key_gives_one_intent() {
    let payments = payments_at(&api_base());
    let order = unique_order();
    let first = payments.create_intent(&new_intent(&order, 1200)).await.unwrap();
    let again = payments.create_intent(&new_intent(&order, 1200)).await.unwrap();
    assert_eq!(first.id, again.id);
    // The same key with other parameters is Stripe's idempotency_error: a 502, never a
    // second intent.
    let err = payments.create_intent(&new_intent(&order, 1300)).await.unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
}

#[tokio::test]
async fn an_unpaid_intent_is_cancelled_once_and_then_already_cancelled() {
    let base = api_base();
    let payments = payments_at(&base);
    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 800)).await.unwrap();
    let key = format!("order-{order}-cancel");
    assert_eq!(payments.cancel_intent(&intent.id, &key).await.unwrap(), CancelOutcome::Cancelled);
    assert_eq!(localstripe::get_intent(&base, SECRET_KEY, &intent.id).await.unwrap()["status"], "canceled");
    // A retry with the same key replays the first answer; a new key meets a cancelled intent.
    assert_eq!(payments.cancel_intent(&intent.id, &key).await.unwrap(), CancelOutcome::Cancelled);
    let other_key = format!("order-{order}-cancel-2");
    assert_eq!(payments.cancel_intent(&intent.id, &other_key).await.unwrap(), CancelOutcome::AlreadyCancelled);
}

#[tokio::test]
async fn a_paid_intent_cannot_be_cancelled_and_is_refunded_once() {
    let base = api_base();
    let payments = payments_at(&base);
    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 2599)).await.unwrap();
    let paid = localstripe::confirm_with_test_card(&base, SECRET_KEY, &intent.id, TestCard::Visa).await.unwrap();
    assert_eq!(paid["status"], "succeeded");

    let cancel = payments.cancel_intent(&intent.id, &format!("order-{order}-cancel")).await.unwrap();
    assert_eq!(cancel, CancelOutcome::AlreadySucceeded);

    let key = format!("order-{order}-refund");
    let RefundOutcome::Refunded(refund) = payments.refund(&intent.id, &order, &key).await.unwrap() else {
        panic!("the first refund should refund");
    };
    assert!(refund.id.starts_with("re_"), "{refund:?}");
    assert_eq!((refund.amount, refund.status.as_str()), (2599, "succeeded"));
    assert_eq!(refund.payment_intent.as_deref(), Some(intent.id.as_str()));
    let refunds = localstripe::list_refunds(&base, SECRET_KEY, &intent.id).await.unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["id"], refund.id.as_str());
    assert_eq!(refunds[0]["metadata"]["order_id"], order.as_str(), "its webhooks name the order");
    assert_eq!(payments.retrieve_refund(&refund.id).await.unwrap(), Some(refund.clone()));

    // A retried refund gets the same refund back; a new key is told it was refunded.
    let RefundOutcome::Refunded(again) = payments.refund(&intent.id, &order, &key).await.unwrap() else {
        panic!("a retry with the same key should replay the refund");
    };
    assert_eq!(again.id, refund.id);
    let other = payments.refund(&intent.id, &order, &format!("order-{order}-refund-2")).await.unwrap();
    assert_eq!(other, RefundOutcome::AlreadyRefunded);
    assert_eq!(localstripe::list_refunds(&base, SECRET_KEY, &intent.id).await.unwrap().len(), 1);
}

/// Stripe's refund test cards, through the launcher: the refund's own status is read, not
/// the 2xx, and read again until it settles.
#[tokio::test]
async fn a_refunds_own_status_is_read_pending_then_settled_and_a_failed_one_is_failed() {
    let base = api_base();
    let payments = payments_at(&base);
    for (card, first, settled) in [
        (TestCard::PendingRefund, RefundState::Pending, RefundState::Succeeded),
        (TestCard::RefundFails, RefundState::Succeeded, RefundState::Failed),
    ] {
        let order = unique_order();
        let intent = payments.create_intent(&new_intent(&order, 1500)).await.unwrap();
        localstripe::confirm_with_test_card(&base, SECRET_KEY, &intent.id, card).await.unwrap();
        let RefundOutcome::Refunded(refund) =
            payments.refund(&intent.id, &order, &format!("order-{order}-refund")).await.unwrap()
        else {
            panic!("{card:?}: refunded");
        };
        assert_eq!(refund.status, first, "{card:?}: {refund:?}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let now = loop {
            let now = payments.retrieve_refund(&refund.id).await.unwrap().unwrap();
            if now.status != first || Instant::now() > deadline {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(now.status, settled, "{card:?}: {now:?}");
        let reason = now.failure_reason.as_deref();
        assert_eq!(reason, (settled == RefundState::Failed).then_some("expired_or_canceled_card"), "{now:?}");
    }
    assert_eq!(payments.retrieve_refund("re_doesnotexist").await.unwrap(), None);
}

/// A definite refusal is a 502 (a new key next time); the same key replays it, as Stripe
/// keeps an answer 24 hours under its key; a new key gets a new answer.
#[tokio::test]
async fn a_refused_refund_is_refused_again_under_its_key_and_made_under_a_new_one() {
    let base = api_base();
    let payments = payments_at(&base);
    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 2100)).await.unwrap();
    localstripe::confirm_with_test_card(&base, SECRET_KEY, &intent.id, TestCard::Visa).await.unwrap();
    localstripe::refuse_refunds(&base, &intent.id, "balance_insufficient", 1).await.unwrap();
    let first = format!("order-{order}-refund");
    let err = payments.refund(&intent.id, &order, &first).await.unwrap_err();
    assert_eq!(err.status(), 502, "a definite answer: {err}");
    let again = payments.refund(&intent.id, &order, &first).await.unwrap_err();
    assert!(again.to_string().contains("balance_insufficient"), "the same answer: {again}");
    let RefundOutcome::Refunded(refund) = payments.refund(&intent.id, &order, &format!("{first}-2")).await.unwrap()
    else {
        panic!("a new key makes the refund");
    };
    assert_eq!(refund.status, RefundState::Succeeded);
    assert_eq!(localstripe::list_refunds(&base, SECRET_KEY, &intent.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_declined_card_leaves_the_intent_unpaid_and_unrefundable() {
    let base = api_base();
    let payments = payments_at(&base);
    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 990)).await.unwrap();
    let declined =
        localstripe::confirm_with_test_card(&base, SECRET_KEY, &intent.id, TestCard::Declined).await.unwrap();
    assert_eq!(declined["status"], "requires_payment_method");
    assert_eq!(declined["last_payment_error"]["code"], "card_declined");
    let err = payments.refund(&intent.id, &order, &format!("order-{order}-refund")).await.unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    // Unpaid, so it can still be cancelled.
    let cancel = payments.cancel_intent(&intent.id, &format!("order-{order}-cancel")).await.unwrap();
    assert_eq!(cancel, CancelOutcome::Cancelled);
}

#[tokio::test]
async fn an_unknown_intent_is_not_found_and_a_malformed_id_is_never_sent() {
    let payments = payments_at(&api_base());
    assert_eq!(payments.cancel_intent("pi_doesnotexist", "k-1").await.unwrap(), CancelOutcome::NotFound);
    assert_eq!(payments.refund("pi_doesnotexist", "ord_1", "k-2").await.unwrap(), RefundOutcome::NotFound);
    assert_eq!(payments.calls(), 2);
    assert_eq!(payments.cancel_intent("pi_1/../../customers", "k-3").await.unwrap(), CancelOutcome::NotFound);
    assert_eq!(payments.refund("", "ord_1", "k-4").await.unwrap(), RefundOutcome::NotFound);
    assert_eq!(payments.retrieve_intent("pi_doesnotexist").await.unwrap().map(|i| i.id), None);
    assert_eq!(payments.calls(), 3);
}

/// A one-shot HTTP endpoint: answers 200 to every request and hands each body and
/// Stripe-Signature header to the test.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
                            .and_then(Result::ok)
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let signature = head
                    .lines()
                    .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("stripe-signature")))
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default();
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                let _ = tx.send((signature, buf[head_end..].to_vec()));
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn localstripe_sends_a_signed_webhook_that_verifies_and_parses_after_a_payment() {
    let base = api_base();
    let payments = payments_at(&base);
    let (url, mut received) = webhook_receiver().await;
    let secret = Secret::new(format!("whsec_test_{}", ulid::Ulid::new()));
    let id = format!("test-{}", ulid::Ulid::new());
    localstripe::register_webhook_as(&base, &id, &url, secret.expose()).await.unwrap();

    let order = unique_order();
    let intent = payments.create_intent(&new_intent(&order, 3100)).await.unwrap();
    let confirmed_at = Instant::now();
    localstripe::confirm_with_test_card(&base, SECRET_KEY, &intent.id, TestCard::Visa).await.unwrap();

    // Other tests pay too, and localstripe sends their events here as well.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let event = loop {
        let (signature, body) = tokio::time::timeout_at(deadline, received.recv())
            .await
            .expect("no webhook for the payment within 10 s")
            .expect("the receiver stopped");
        assert!(signature.starts_with("t=") && signature.contains(",v1="), "{signature}");
        webhook::verify(&secret, &signature, &body, SystemTime::now()).unwrap();
        let event = webhook::parse_event(&body).unwrap();
        if event.intent.as_ref().is_some_and(|i| i.id == intent.id) {
            break event;
        }
    };
    eprintln!("webhook arrived {:?} after confirm answered", confirmed_at.elapsed());
    assert!(event.id.starts_with("evt_"), "{event:?}");
    assert_eq!(event.kind, EventKind::PaymentIntentSucceeded);
    let object = event.intent.unwrap();
    assert_eq!((object.amount, object.currency.as_str()), (3100, "eur"));
    assert_eq!(object.status, IntentStatus::Succeeded);
    assert_eq!(object.order_id.as_deref(), Some(order.as_str()));
}

#[tokio::test]
async fn a_stopped_stripe_is_unavailable_at_once() {
    // A port nothing listens on: what a stopped localstripe leaves behind.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let payments = payments_at(&format!("http://127.0.0.1:{port}/"));
    let started = Instant::now();
    let err = payments.create_intent(&new_intent(&unique_order(), 100)).await.unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let err = payments.refund("pi_123", "ord_1", "k").await.unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    // Each idempotent call tried twice, at once: a dead kept-alive connection gets a second chance.
    assert_eq!(payments.calls(), 4);
}

/// The deadline is the configured one, not a default: set to 1 s here, the call must not
/// end before it (tokio's timers never fire early) and must end well before Stripe's
/// default 5 s would. The 3 s of slack above the deadline is for a loaded 2-core machine
/// that is slow to run the timer's task; anything under 5 s still tells the two apart.
#[tokio::test]
async fn a_stripe_that_accepts_but_never_answers_is_unavailable_within_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let deadline = Duration::from_secs(1);
    let mut settings = StripeSettings::new(format!("http://{addr}/"), Secret::new(SECRET_KEY));
    settings.request_timeout = deadline;
    settings.connect_timeout = deadline;
    assert!(StripeSettings::DEFAULT_REQUEST_TIMEOUT >= deadline + Duration::from_secs(4));
    let payments = StripePayments::new(settings).unwrap();
    let started = Instant::now();
    let err = payments.cancel_intent("pi_123", "order-x-cancel").await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.status(), 503, "{err}");
    assert!(elapsed >= deadline && elapsed < deadline + Duration::from_secs(3), "gave up after {elapsed:?}");
    assert_eq!(payments.calls(), 1, "no retry after a timeout");
}
