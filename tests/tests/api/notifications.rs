//! The notifier against moto's real SES: an email at every step, each at most once, makers
//! seeing only their own lines, SES failing (retries, the dead-letter queue, no duplicate),
//! and the Resend adapter's request.

use e2e::{TestContext, User};
use local::notifications::{self, Invoke, Pump, PumpOptions, SentEmail};
use serde_json::{Value, json};
use shared::App;
use shared::domain::order::legal_move;
use shared::domain::{Actor, Order, OrderId, OrderPaymentFailed, OrderStatus, OrderStatusChanged, UserId};
use shared::store::{MailKey, MoveOutcome};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const SENDER: &str = shared::config::DEFAULT_MAIL_FROM;

/// A test stack whose sender is a verified SES identity on moto.
async fn stack() -> TestContext {
    let ctx = TestContext::new().await;
    notifications::verify_sender(&ctx.aws, SENDER).await.unwrap();
    ctx
}

async fn product(ctx: &TestContext, maker: &User, title: &str, price_cents: u64) -> String {
    ctx.create_product(maker, json!({"title": title, "price_cents": price_cents, "stock": 50})).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn stored(ctx: &TestContext, order: &Value) -> Order {
    let id = OrderId::parse(order["id"].as_str().unwrap()).unwrap();
    ctx.app.store.order(&id).await.unwrap().unwrap()
}

/// Places and pays an order of these lines; the order as stored.
async fn paid_order(ctx: &TestContext, lines: &[(&str, u64)]) -> Order {
    let order = ctx.order(&ctx.customer, lines).await;
    assert_eq!(ctx.pay(&order).await["status"], "paid");
    stored(ctx, &order).await
}

/// What EventBridge delivers to the notifier for `order`'s latest move.
fn event_for(order: &Order, previous: OrderStatus) -> Value {
    json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": OrderStatusChanged::DETAIL_TYPE,
        "source": OrderStatusChanged::SOURCE,
        "account": "123456789012",
        "time": "2026-12-02T12:00:00Z",
        "region": e2e::REGION,
        "resources": [],
        "detail": OrderStatusChanged::of(order, previous),
    })
}

/// What EventBridge delivers to the notifier for `order`'s latest declined attempt.
fn declined_event_for(order: &Order) -> Value {
    let mut event = event_for(order, order.status);
    event["detail-type"] = json!(OrderPaymentFailed::DETAIL_TYPE);
    event["detail"] = json!(OrderPaymentFailed::of(order).expect("a declined attempt"));
    event
}

async fn move_to(ctx: &TestContext, order: &Order, to: OrderStatus, actor: Actor) -> Order {
    let mv = legal_move(order.status, to, actor).unwrap();
    match ctx.app.store.apply_move(order, mv, &ctx.app.now(), None).await.unwrap() {
        MoveOutcome::Moved(order) => *order,
        other => panic!("{to:?}: {other:?}"),
    }
}

/// The emails moto's SES sent to `user` (their address is unique to this test stack).
async fn mailbox(user: &User) -> Vec<SentEmail> {
    let all = notifications::sent_emails(&e2e::endpoint()).await.unwrap();
    all.into_iter().filter(|m| m.to.contains(&user.email)).collect()
}

async fn notify(app: &App, event: &Value) -> Value {
    notifier::handle(app, event.clone()).await.unwrap_or_else(|e| panic!("the notifier failed: {e}"))
}

#[tokio::test]
async fn a_duplicated_event_sends_no_second_email() {
    let ctx = stack().await;
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = paid_order(&ctx, &[(&mug, 2)]).await;
    let event = event_for(&order, OrderStatus::PendingPayment);

    // Five notifiers race on one event: one email per recipient.
    let racing = futures::future::join_all((0..5).map(|_| notify(&ctx.app, &event))).await;
    let sent: u64 = racing.iter().map(|r| r["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, 2, "{racing:?}");
    // Delivered again later (the same event, or the same move under another event id).
    let again = notify(&ctx.app, &event).await;
    assert_eq!((again["sent"].as_u64(), again["already_handled"].as_u64()), (Some(0), Some(2)), "{again}");
    let mut other_id = event.clone();
    other_id["id"] = json!("another-delivery");
    assert_eq!(notify(&ctx.app, &other_id).await["sent"], 0);

    let customer = mailbox(&ctx.customer).await;
    assert_eq!(customer.len(), 1, "{customer:?}");
    assert!(customer[0].subject.contains(order.id.as_str()) && customer[0].subject.ends_with("payment received"));
    assert_eq!(customer[0].from, SENDER);
    assert_eq!(mailbox(&ctx.maker).await.len(), 1);

    // The customer's profile had no address (tokens carry none): Cognito's is now stored.
    let contact = ctx.app.store.contact(&UserId::new(ctx.customer.sub.clone())).await.unwrap();
    assert_eq!(contact.email.as_deref(), Some(ctx.customer.email.as_str()));
    let key = MailKey::Order {
        order: order.id.clone(),
        status: OrderStatus::Paid,
        recipient: UserId::new(ctx.customer.sub.clone()),
    };
    assert_eq!(ctx.app.store.mail_state(&key).await.unwrap().as_deref(), Some("sent"));
}

#[tokio::test]
async fn a_makers_email_lists_only_its_own_lines() {
    let ctx = stack().await;
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let board = product(&ctx, &ctx.other_maker, "Olive wood cutting board", 3900).await;
    let order = paid_order(&ctx, &[(&mug, 2), (&board, 1)]).await;
    let report = notify(&ctx.app, &event_for(&order, OrderStatus::PendingPayment)).await;
    assert_eq!(report["sent"], 3, "the customer and two makers: {report}");

    for (maker, own, other, own_total) in [
        (&ctx.maker, "Speckled stoneware mug", "Olive wood", "€48.00"),
        (&ctx.other_maker, "Olive wood cutting board", "stoneware", "€39.00"),
    ] {
        let inbox = mailbox(maker).await;
        assert_eq!(inbox.len(), 1, "{}: {inbox:?}", maker.username);
        let email = &inbox[0];
        assert!(email.subject.contains(order.id.as_str()) && email.subject.contains("is paid"), "{}", email.subject);
        assert!(email.body.contains(own) && email.body.contains(own_total), "{}", email.body);
        assert!(!email.body.contains(other), "{} sees another maker's line: {}", maker.username, email.body);
        assert!(!email.body.contains("€87.00"), "the order's total is not the maker's business");
        assert!(email.body.contains("Rua das Flores 12") && email.body.contains("4050-262 Porto"), "{}", email.body);
    }
    let customer = mailbox(&ctx.customer).await;
    assert_eq!(customer.len(), 1);
    let body = &customer[0].body;
    assert!(body.contains("Speckled stoneware mug") && body.contains("Olive wood cutting board"), "{body}");
    assert!(body.contains("€87.00") && body.contains("€24.00") && body.contains("€48.00"), "{body}");
}

#[tokio::test]
async fn every_status_emails_the_customer_with_the_status_in_plain_words() {
    let ctx = stack().await;
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let board = product(&ctx, &ctx.other_maker, "Olive wood cutting board", 3900).await;
    let mut per_status: Vec<(String, usize)> = Vec::new();
    let mut sent =
        |status: &str, report: Value| per_status.push((status.to_owned(), report["sent"].as_u64().unwrap() as usize));

    // One order's whole life, two makers in it.
    let mut order = paid_order(&ctx, &[(&mug, 1), (&board, 1)]).await;
    sent("paid", notify(&ctx.app, &event_for(&order, OrderStatus::PendingPayment)).await);
    for to in [OrderStatus::Preparing, OrderStatus::Shipped, OrderStatus::OutForDelivery, OrderStatus::Delivered] {
        let previous = order.status;
        order = move_to(&ctx, &order, to, Actor::DeliverySimulator).await;
        sent(to.as_str(), notify(&ctx.app, &event_for(&order, previous)).await);
    }
    let lifecycle = order.id.clone();

    // The other ends: cancelled unpaid, cancelled paid (refunded), payment failed, expired.
    let unpaid = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let path = format!("/orders/{}/cancel", unpaid["id"].as_str().unwrap());
    ctx.request("POST", &path).auth(&ctx.customer).send().await.expect(200);
    let unpaid = stored(&ctx, &unpaid).await;
    sent("cancelled", notify(&ctx.app, &event_for(&unpaid, OrderStatus::PendingPayment)).await);
    let refunded = paid_order(&ctx, &[(&mug, 1)]).await;
    let path = format!("/orders/{}/cancel", refunded.id.as_str());
    ctx.request("POST", &path).auth(&ctx.customer).send().await.expect(200);
    let refunded = ctx.app.store.order(&refunded.id).await.unwrap().unwrap();
    sent("cancelled (paid)", notify(&ctx.app, &event_for(&refunded, OrderStatus::Paid)).await);
    let declined = stored(&ctx, &ctx.order(&ctx.customer, &[(&mug, 1)]).await).await;
    let declined = move_to(&ctx, &declined, OrderStatus::PaymentFailed, Actor::Stripe).await;
    sent("payment_failed", notify(&ctx.app, &event_for(&declined, OrderStatus::PendingPayment)).await);
    let late = stored(&ctx, &ctx.order(&ctx.customer, &[(&mug, 1)]).await).await;
    let late = move_to(&ctx, &late, OrderStatus::Expired, Actor::PaymentExpirer).await;
    sent("expired", notify(&ctx.app, &event_for(&late, OrderStatus::PendingPayment)).await);

    let subjects: Vec<String> = mailbox(&ctx.customer).await.into_iter().map(|m| m.subject).collect();
    let has = |id: &OrderId, words: &str| subjects.iter().any(|s| s.contains(id.as_str()) && s.ends_with(words));
    for words in ["payment received", "being prepared", "shipped", "out for delivery", "delivered"] {
        assert!(has(&lifecycle, words), "no `{words}` email: {subjects:#?}");
    }
    assert!(has(&unpaid.id, ": cancelled"), "{subjects:#?}");
    assert!(
        has(&refunded.id, "cancelled, refund on its way") || has(&refunded.id, "cancelled and refunded"),
        "{subjects:#?}"
    );
    assert!(has(&declined.id, "payment failed"), "{subjects:#?}");
    assert!(has(&late.id, "expired"), "{subjects:#?}");
    assert_eq!(subjects.len(), 9, "one email per status notified, per order: {subjects:#?}");
    // The figure BENCHMARKS.md reports: emails per status of one order (two makers).
    println!("emails per status: {per_status:?}");
    assert_eq!(per_status[0], ("paid".to_owned(), 3));
    assert!(per_status[1..].iter().all(|(_, n)| *n == 1), "{per_status:?}");
}

#[tokio::test]
async fn a_declined_attempt_emails_the_customer_once_per_attempt_even_when_delivered_twice() {
    let ctx = stack().await;
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.decline(&order).await;
    let first = declined_event_for(&stored(&ctx, &order).await);

    // Three notifiers race on the event, then it comes again: one email.
    let racing = futures::future::join_all((0..3).map(|_| notify(&ctx.app, &first))).await;
    let sent: u64 = racing.iter().map(|r| r["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, 1, "{racing:?}");
    let again = notify(&ctx.app, &first).await;
    assert_eq!((again["sent"].as_u64(), again["already_handled"].as_u64()), (Some(0), Some(1)), "{again}");
    let inbox = mailbox(&ctx.customer).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let id = order["id"].as_str().unwrap();
    assert_eq!(inbox[0].subject, shared::email::subject_for_declined(id));
    assert!(inbox[0].subject.contains("didn't go through") && inbox[0].subject.contains("try again"));
    assert_eq!(inbox[0].from, SENDER);
    let body = &inbox[0].body;
    assert!(body.contains("Your card has insufficient funds") && body.contains("not charged"), "{body}");
    assert!(body.contains("Your account → Orders") && body.contains(id) && body.contains("€48.00"), "{body}");
    assert!(mailbox(&ctx.maker).await.is_empty(), "makers hear of paid orders only");

    // The second attempt has its own email, once; the first attempt's event, delivered
    // again now, is overtaken and sends nothing.
    ctx.decline(&order).await;
    let second = declined_event_for(&stored(&ctx, &order).await);
    assert_eq!(second["detail"]["attempt"], 2);
    assert_eq!(notify(&ctx.app, &second).await["sent"], 1);
    assert_eq!(notify(&ctx.app, &second).await["sent"], 0);
    assert_eq!(notify(&ctx.app, &first).await["sent"], 0);
    assert_eq!(mailbox(&ctx.customer).await.len(), 2);
    for attempt in [1, 2] {
        let key = MailKey::DeclinedAttempt {
            order: OrderId::parse(id).unwrap(),
            attempt,
            recipient: UserId::new(ctx.customer.sub.clone()),
        };
        assert_eq!(ctx.app.store.mail_state(&key).await.unwrap().as_deref(), Some("sent"), "attempt {attempt}");
    }

    // Paid with another card: a decline event that comes late asks for nothing any more.
    ctx.pay(&order).await;
    let mut late = second.clone();
    late["id"] = json!("another-delivery");
    let report = notify(&ctx.app, &late).await;
    assert_eq!((report["sent"].as_u64(), report["outdated"].as_u64()), (Some(0), Some(1)), "{report}");
    assert_eq!(mailbox(&ctx.customer).await.len(), 2);
}

/// A declined card, from the webhook to the customer's mailbox the way the cloud takes it:
/// the table's stream, the publisher, the bus, the notifier's rule (its queue, locally), the
/// notifier, SES.
#[tokio::test]
async fn a_declined_card_reaches_the_customer_through_the_stream_the_bus_and_the_rule() {
    let ctx = stack().await;
    let bus = ctx.app.config.event_bus_name.clone();
    let queues = notifications::provision(&ctx.aws, &bus, SENDER).await.unwrap();
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.decline(&order).await;
    let batch = crate::events::stream_batch(&ctx).await;
    assert_eq!(crate::events::publish(&ctx, &crate::events::bus(&ctx), &batch).await, Vec::<String>::new());

    let (pump, delivered) = notifier_pump(&ctx, &queues.queue_url);
    let seen = delivered.clone();
    pump_until(&pump, 10, || seen.load(Ordering::SeqCst) >= 1).await;
    let inbox = mailbox(&ctx.customer).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].subject, shared::email::subject_for_declined(order["id"].as_str().unwrap()));
}

/// A refund that failed, from the expirer's last attempt to the customer's mailbox the way
/// the cloud takes it (stream, publisher, bus, rule, notifier, SES): one email, however often
/// its event comes, with none of Stripe's internals in it.
#[tokio::test]
async fn a_failed_refund_reaches_the_customer_once_through_the_stream_the_bus_and_the_rule() {
    let ctx = stack().await;
    let bus = ctx.app.config.event_bus_name.clone();
    let queues = notifications::provision(&ctx.aws, &bus, SENDER).await.unwrap();
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&order).await;
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    local::stripe::refuse_refunds(&ctx.stripe_api_base(), pi, "charge_disputed", 1000).await.unwrap();
    let id = order["id"].as_str().unwrap();
    ctx.request("POST", &format!("/orders/{id}/cancel")).auth(&ctx.customer).send().await.expect(200);
    for attempt in 1..shared::domain::order::MAX_REFUND_ATTEMPTS {
        ctx.clock.advance(shared::domain::order::refund_retry_after(attempt) + Duration::from_secs(1));
        shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    }
    let failed = stored(&ctx, &order).await;
    assert_eq!(failed.payment.refund_status, Some(shared::domain::RefundStatus::Failed), "{failed:?}");

    let batch = crate::events::stream_batch(&ctx).await;
    assert_eq!(crate::events::publish(&ctx, &crate::events::bus(&ctx), &batch).await, Vec::<String>::new());
    let (pump, _invocations) = notifier_pump(&ctx, &queues.queue_url);
    let subject = shared::email::subject_for_refund_failed(id);
    // The batch also holds the order's moves (paid, cancelled): their emails come too.
    for _ in 0..15 {
        if mailbox(&ctx.customer).await.iter().any(|m| m.subject == subject) {
            break;
        }
        pump.once().await.unwrap();
    }
    let told: Vec<SentEmail> = mailbox(&ctx.customer).await.into_iter().filter(|m| m.subject == subject).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    let body = &told[0].body;
    assert!(body.contains("did not go through") && body.contains("€24.00") && body.contains(id), "{body}");
    assert!(!body.contains("charge_disputed") && !body.contains("re_") && !body.contains("Stripe"), "{body}");

    // The event again, from racing notifiers: no second email.
    let mut event = event_for(&failed, failed.status);
    event["detail-type"] = json!(shared::domain::OrderRefundFailed::DETAIL_TYPE);
    event["detail"] = json!(shared::domain::OrderRefundFailed::of(&failed).expect("a failed refund"));
    let racing = futures::future::join_all((0..3).map(|_| notify(&ctx.app, &event))).await;
    assert!(racing.iter().all(|r| r["sent"] == 0), "{racing:?}");
    assert_eq!(mailbox(&ctx.customer).await.iter().filter(|m| m.subject == subject).count(), 1);
    let key = MailKey::RefundFailed { order: failed.id.clone(), recipient: UserId::new(ctx.customer.sub.clone()) };
    assert_eq!(ctx.app.store.mail_state(&key).await.unwrap().as_deref(), Some("sent"));
}

/// A queue pump on `queue_url` that waits and backs off 1 s.
fn pump_options(queue_url: &str) -> PumpOptions {
    PumpOptions { queue_url: queue_url.to_owned(), wait: Duration::from_secs(1), backoff: Duration::from_secs(1) }
}

/// A pump on the notifier's queue `queue_url` that runs this stack's notifier in process,
/// and the count of its invocations.
fn notifier_pump(ctx: &TestContext, queue_url: &str) -> (Pump, Arc<AtomicUsize>) {
    let app: &'static App = Box::leak(Box::new(ctx.app_with(|_| {})));
    let delivered = Arc::new(AtomicUsize::new(0));
    (Pump::new(&ctx.aws, pump_options(queue_url), in_process(app, delivered.clone())), delivered)
}

/// The notifier's handler in this process, counting its invocations.
fn in_process(app: &'static App, invocations: Arc<AtomicUsize>) -> Invoke {
    Arc::new(move |event| {
        let invocations = invocations.clone();
        Box::pin(async move {
            invocations.fetch_add(1, Ordering::SeqCst);
            notifier::handle(app, event).await.map_err(|e| e.to_string())
        })
    })
}

async fn put_event(ctx: &TestContext, bus: &str, order: &Order, previous: OrderStatus) {
    let detail = serde_json::to_string(&OrderStatusChanged::of(order, previous)).unwrap();
    let out = aws_sdk_eventbridge::Client::new(&ctx.aws)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(bus)
                .source(OrderStatusChanged::SOURCE)
                .detail_type(OrderStatusChanged::DETAIL_TYPE)
                .detail(detail)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_entry_count, 0);
}

/// Pumps until `done` says so, or fails after `rounds` receives.
async fn pump_until(pump: &Pump, rounds: usize, mut done: impl FnMut() -> bool) {
    for _ in 0..rounds {
        if done() {
            return;
        }
        pump.once().await.unwrap();
    }
    assert!(done(), "the pump did not get there in {rounds} rounds");
}

#[tokio::test]
async fn ses_failing_is_retried_then_dead_lettered_and_never_duplicated() {
    let ctx = stack().await;
    let bus = ctx.app.config.event_bus_name.clone();
    let queues = notifications::provision(&ctx.aws, &bus, SENDER).await.unwrap();
    // An SES whose sender is not verified refuses every email, as SES does.
    let unverified = format!("Makers Market <orders@{}.example>", e2e::unique("unverified"));
    let failing: &'static App = Box::leak(Box::new(ctx.app_with(|c| c.mail.sender = unverified.clone())));
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = paid_order(&ctx, &[(&mug, 1)]).await;
    put_event(&ctx, &bus, &order, OrderStatus::PendingPayment).await;

    let attempts = Arc::new(AtomicUsize::new(0));
    let opts = pump_options(&queues.queue_url);
    let pump = Pump::new(&ctx.aws, opts.clone(), in_process(failing, attempts.clone()));
    let seen = attempts.clone();
    pump_until(&pump, 30, || seen.load(Ordering::SeqCst) >= notifications::MAX_ATTEMPTS as usize).await;
    // The next receive finds it past its attempts and moves it to the dead-letter queue.
    let after = pump.once().await.unwrap();
    assert_eq!((after.delivered, after.failed), (0, 0));
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "one try and two retries");
    assert!(mailbox(&ctx.customer).await.is_empty() && mailbox(&ctx.maker).await.is_empty());
    let key = MailKey::Order {
        order: order.id.clone(),
        status: OrderStatus::Paid,
        recipient: UserId::new(ctx.customer.sub.clone()),
    };
    assert_eq!(ctx.app.store.mail_state(&key).await.unwrap().as_deref(), Some("failed"), "the claim was released");

    // The cause fixed (the sender verified), the dead letter is re-driven: one email each.
    notifications::verify_sender(&ctx.aws, &unverified).await.unwrap();
    let delivered = Arc::new(AtomicUsize::new(0));
    let pump = Pump::new(&ctx.aws, opts.clone(), in_process(failing, delivered.clone()));
    assert_eq!(pump.redrive(&queues.dlq_url).await.unwrap(), 1, "the event was in the dead-letter queue");
    let seen = delivered.clone();
    pump_until(&pump, 10, || seen.load(Ordering::SeqCst) >= 1).await;
    assert_eq!(mailbox(&ctx.customer).await.len(), 1);
    assert_eq!(mailbox(&ctx.maker).await.len(), 1);
    assert_eq!(ctx.app.store.mail_state(&key).await.unwrap().as_deref(), Some("sent"));

    // EventBridge delivers the same move again: nothing more is sent.
    put_event(&ctx, &bus, &order, OrderStatus::PendingPayment).await;
    let seen = delivered.clone();
    pump_until(&pump, 10, || seen.load(Ordering::SeqCst) >= 2).await;
    assert_eq!(mailbox(&ctx.customer).await.len(), 1, "no duplicate after a retry");
    assert_eq!(mailbox(&ctx.maker).await.len(), 1, "no duplicate after a retry");
}

/// What the fake Resend server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: String,
    content_type: String,
    idempotency_key: String,
    body: Value,
}

/// A fake Resend API on 127.0.0.1: records each request, answers `{"id": "re_<n>"}`.
async fn fake_resend() -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let (base, seen, _) = slow_fake_resend(Duration::ZERO).await;
    (base, seen)
}

/// [`fake_resend`] that answers each request after `delay`, and counts the most requests
/// it held at once.
async fn slow_fake_resend(delay: Duration) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>, Arc<AtomicUsize>) {
    use http_body_util::BodyExt as _;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let most_seen = most.clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (log, in_flight, most) = (log.clone(), in_flight.clone(), most.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (log, in_flight, most) = (log.clone(), in_flight.clone(), most.clone());
                    async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(delay).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        let header = |name: &str| {
                            req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
                        };
                        let mut seen = Seen {
                            method: req.method().to_string(),
                            path: req.uri().path().to_owned(),
                            authorization: header("authorization"),
                            content_type: header("content-type"),
                            idempotency_key: header("idempotency-key"),
                            body: Value::Null,
                        };
                        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        seen.body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(seen);
                            log.len()
                        };
                        let answer = json!({"id": format!("re_{n}")}).to_string();
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            hyper::body::Bytes::from(answer),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, seen, most_seen)
}

/// An order's emails go out side by side: with a provider that takes 600 ms an email, the
/// customer's and two makers' emails take about one send, not three.
#[tokio::test]
async fn the_recipients_of_one_event_are_mailed_concurrently() {
    let ctx = stack().await;
    let delay = Duration::from_millis(600);
    let (base, seen, most) = slow_fake_resend(delay).await;
    let secret_name = format!("{}/resend-slow", ctx.app.config.table_name);
    aws_sdk_secretsmanager::Client::new(&ctx.aws)
        .create_secret()
        .name(&secret_name)
        .secret_string(json!({"api_key": "re_test_slow"}).to_string())
        .send()
        .await
        .unwrap();
    let slow = ctx.app_with(|c| {
        c.mail.provider = shared::config::MailProvider::Resend;
        c.mail.resend_api_base = base.clone();
        c.mail.resend_secret_id = Some(secret_name.clone());
    });
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let board = product(&ctx, &ctx.other_maker, "Olive wood cutting board", 3900).await;
    let order = paid_order(&ctx, &[(&mug, 1), (&board, 1)]).await;
    let started = std::time::Instant::now();
    assert_eq!(notify(&slow, &event_for(&order, OrderStatus::PendingPayment)).await["sent"], 3);
    let took = started.elapsed();
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(most.load(Ordering::SeqCst), 3, "the three emails were in flight at once");
    assert!(took < delay * 2, "three 600 ms sends took {took:?}");
}

#[tokio::test]
async fn the_resend_adapter_sends_the_right_request() {
    let ctx = stack().await;
    let (base, seen) = fake_resend().await;
    let secret_name = format!("{}/resend", ctx.app.config.table_name);
    let key = format!("re_test_{}", ulid::Ulid::new());
    aws_sdk_secretsmanager::Client::new(&ctx.aws)
        .create_secret()
        .name(&secret_name)
        .secret_string(json!({"api_key": key}).to_string())
        .send()
        .await
        .unwrap();
    let resend = ctx.app_with(|c| {
        c.mail.provider = shared::config::MailProvider::Resend;
        c.mail.resend_api_base = base.clone();
        c.mail.resend_secret_id = Some(secret_name.clone());
    });
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = paid_order(&ctx, &[(&mug, 1)]).await;
    let event = event_for(&order, OrderStatus::PendingPayment);
    assert_eq!(notify(&resend, &event).await["sent"], 2);
    assert_eq!(notify(&resend, &event).await["sent"], 0, "a redelivery sends nothing");

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let to_customer = requests.iter().find(|r| r.body["to"] == json!([ctx.customer.email])).expect("the customer's");
    assert_eq!((to_customer.method.as_str(), to_customer.path.as_str()), ("POST", "/emails"));
    assert_eq!(to_customer.authorization, format!("Bearer {key}"));
    assert_eq!(to_customer.content_type, "application/json");
    assert_eq!(to_customer.idempotency_key, format!("{}/paid/{}", order.id.as_str(), ctx.customer.sub));
    assert_eq!(to_customer.body["from"], SENDER);
    assert!(to_customer.body["subject"].as_str().unwrap().ends_with("payment received"));
    assert!(to_customer.body["html"].as_str().unwrap().contains("€24.00"));
    assert!(to_customer.body["text"].as_str().unwrap().contains("€24.00"));
    assert!(requests.iter().any(|r| r.body["to"] == json!([ctx.maker.email])), "{requests:#?}");
    // Nothing went through SES.
    assert!(mailbox(&ctx.customer).await.is_empty());
}

/// A log sink for one test: what the code under test logs, as text.
#[derive(Clone, Default)]
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    fn text(&self) -> String {
        self.0.lock().map(|log| String::from_utf8_lossy(&log).into_owned()).unwrap_or_default()
    }
}

/// An SES endpoint that refuses every email the way SES does for an unverified recipient
/// in the sandbox: its message names the address.
async fn refusing_ses() -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt as _;
                    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let to = sent["Destination"]["ToAddresses"][0].as_str().unwrap_or("nobody@example.com").to_owned();
                    let message = format!(
                        "Email address is not verified. The following identities failed the check in region EU-WEST-1: {to}"
                    );
                    let response = hyper::Response::builder()
                        .status(400)
                        .header("content-type", "application/json")
                        .header("x-amzn-errortype", "MessageRejected")
                        .body(http_body_util::Full::new(hyper::body::Bytes::from(
                            json!({"message": message}).to_string(),
                        )))
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

#[tokio::test]
async fn a_refused_send_logs_and_stores_no_recipient_address() {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let ctx = stack().await;
    let mug = product(&ctx, &ctx.maker, "Speckled stoneware mug", 2400).await;
    let order = paid_order(&ctx, &[(&mug, 1)]).await;
    let ses = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(e2e::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::for_tests(),
        ))
        .endpoint_url(refusing_ses().await)
        .build();
    let app = ctx.app_with(|_| {}).with_mailer(Arc::new(shared::email::SesMailer::new(&ses, SENDER)));

    let sink = LogSink::default();
    let writer = sink.clone();
    let guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_ansi(false)
        .finish()
        .set_default();
    let outcome = notifier::handle(&app, event_for(&order, OrderStatus::PendingPayment)).await;
    drop(guard);

    // The send failed (and will be retried), and the logs say why, without the address.
    assert!(outcome.is_err(), "{outcome:?}");
    let logs = sink.text();
    assert!(logs.contains("not verified") && logs.contains("<email>"), "the refusal is logged: {logs}");
    for address in [&ctx.customer.email, &ctx.maker.email] {
        assert!(!logs.contains(address.as_str()), "{address} in the logs: {logs}");
    }
    // Nor in the failure stored on the email's marker.
    let markers = aws_sdk_dynamodb::Client::new(&ctx.aws)
        .scan()
        .table_name(&ctx.app.config.table_name)
        .filter_expression("attribute_exists(failure)")
        .send()
        .await
        .unwrap();
    let failures: Vec<String> =
        markers.items().iter().filter_map(|item| item.get("failure").and_then(|v| v.as_s().ok()).cloned()).collect();
    assert!(!failures.is_empty(), "a failed email is recorded as failed");
    for failure in &failures {
        assert!(failure.contains("<email>") && !failure.contains('@'), "{failure}");
    }
}
