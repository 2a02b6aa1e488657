//! Order events: every transition puts one `OrderStatusChanged` on the context's bus, read
//! back as a client would (a rule on the bus → an SQS queue on moto); a stream batch handed
//! to the publisher twice still publishes each event once; what fails is reported for the
//! stream to hand over again; and the local stream pump hands batches over as the event
//! source mapping does.

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sqs::types::QueueAttributeName;
use e2e::TestContext;
use local::streams::{StreamPump, StreamPumpOptions, StreamReader};
use serde_json::{Value, json};
use shared::domain::order::next_delivery_step;
use shared::domain::{Order, OrderId, OrderPaymentFailed, OrderStatus, OrderStatusChanged};
use shared::events::{Bus, BusFuture, EventBridgeBus, OrderEvent};
use shared::store::EventKey;
use std::time::Duration;

/// A client of the bus: its own rule, delivering to its own queue.
struct Listener {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn queue(aws: &aws_config::SdkConfig) -> (aws_sdk_sqs::Client, String, String) {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let queue_url = sqs.create_queue().queue_name(e2e::unique("mm-events")).send().await.unwrap().queue_url.unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let arn = attributes[&QueueAttributeName::QueueArn].clone();
    (sqs, queue_url, arn)
}

/// Every body in the queue now, deleted once read.
async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).send().await.unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

impl Listener {
    /// A client of the `OrderStatusChanged` events.
    async fn on(ctx: &TestContext) -> Self {
        Self::of(ctx, &[OrderStatusChanged::DETAIL_TYPE]).await
    }

    /// A client of the events of these detail-types.
    async fn of(ctx: &TestContext, detail_types: &[&str]) -> Self {
        let (sqs, queue_url, arn) = queue(&ctx.aws).await;
        let events = aws_sdk_eventbridge::Client::new(&ctx.aws);
        let bus = &ctx.app.config.event_bus_name;
        let pattern = json!({"source": [OrderStatusChanged::SOURCE], "detail-type": detail_types});
        events
            .put_rule()
            .name("a-client-of-order-events")
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
        events.put_targets().rule("a-client-of-order-events").event_bus_name(bus).targets(target).send().await.unwrap();
        Self { sqs, queue_url }
    }

    /// The events delivered since the last call (EventBridge on moto delivers during
    /// PutEvents, so nothing is still on its way).
    async fn take(&self) -> Vec<Value> {
        drain(&self.sqs, &self.queue_url).await
    }
}

pub(crate) fn bus(ctx: &TestContext) -> EventBridgeBus {
    EventBridgeBus::new(&ctx.aws, ctx.app.config.event_bus_name.clone())
}

/// Everything on the context's table stream so far, as the event source mapping would hand
/// it to the publisher.
pub(crate) async fn stream_batch(ctx: &TestContext) -> Value {
    let mut reader = StreamReader::new(&ctx.aws, &e2e::dynamodb_endpoint(), &ctx.app.config.table_name);
    let records = reader.read_all().await.unwrap();
    let arn = reader.stream_arn().await.unwrap();
    local::streams::lambda_event(&records, &arn, e2e::REGION)
}

/// Hands `batch` to the publisher's handler; the sequence numbers it reports failed.
pub(crate) async fn publish(ctx: &TestContext, bus: &dyn Bus, batch: &Value) -> Vec<String> {
    let event: Event = serde_json::from_value(batch.clone()).unwrap();
    let response = serde_json::to_value(order_events::handle(&ctx.app, bus, event).await).unwrap();
    response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

async fn product(ctx: &TestContext) -> String {
    ctx.create_product(&ctx.maker, json!({"stock": 50, "price_cents": 2500})).await["id"].as_str().unwrap().to_owned()
}

fn order_id(order: &Value) -> OrderId {
    OrderId::parse(order["id"].as_str().unwrap()).unwrap()
}

async fn stored(ctx: &TestContext, order: &Value) -> Order {
    ctx.app.store.order(&order_id(order)).await.unwrap().unwrap()
}

/// Moves `order` along the delivery steps, as the delivery simulator does.
async fn deliver_steps(ctx: &TestContext, order: &Value, steps: usize) {
    for _ in 0..steps {
        let current = stored(ctx, order).await;
        let mv = next_delivery_step(current.status).unwrap();
        ctx.app.store.apply_move(&current, mv, &ctx.app.now(), None).await.unwrap();
    }
}

/// The events an order's history says it should have published: one per status entered
/// after the first, with the status before it and the time it was entered.
fn expected_events(order: &Order) -> Vec<Value> {
    let moves: Vec<_> = order.history.iter().filter(|h| h.note.is_none()).collect();
    moves
        .windows(2)
        .map(|pair| {
            json!({
                "order_id": order.id.as_str(),
                "status": pair[1].status.as_str(),
                "previous_status": pair[0].status.as_str(),
                "customer_id": order.customer_id.as_str(),
                "maker_ids": order.maker_ids().iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "total_cents": order.total_cents,
                "at": pair[1].at.as_str(),
            })
        })
        .collect()
}

fn sorted(mut details: Vec<Value>) -> Vec<Value> {
    details.sort_by_key(|d| (d["order_id"].to_string(), d["at"].to_string(), d["status"].to_string()));
    details
}

fn details(events: &[Value]) -> Vec<Value> {
    for event in events {
        assert_eq!(event["source"], OrderStatusChanged::SOURCE, "{event}");
        assert_eq!(event["detail-type"], OrderStatusChanged::DETAIL_TYPE, "{event}");
    }
    sorted(events.iter().map(|e| e["detail"].clone()).collect())
}

#[tokio::test]
async fn each_transition_publishes_one_event_with_its_detail_even_when_the_publisher_sees_the_batch_twice() {
    let ctx = TestContext::new().await;
    let listener = Listener::on(&ctx).await;
    let mug = product(&ctx).await;
    let vase = ctx.create_product(&ctx.other_maker, json!({"stock": 5, "price_cents": 900})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Paid, then every delivery step to delivered; two makers.
    let delivered = ctx.order(&ctx.customer, &[(&mug, 2), (&vase, 1)]).await;
    ctx.pay(&delivered).await;
    deliver_steps(&ctx, &delivered, 4).await;
    // Cancelled while waiting for payment.
    let cancelled = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.request("POST", &format!("/orders/{}/cancel", cancelled["id"].as_str().unwrap()))
        .auth(&ctx.customer)
        .send()
        .await
        .expect(200);
    // Paid, then cancelled and refunded (the refund changes the order, not its status).
    let refunded = ctx.order(&ctx.other_customer, &[(&mug, 1)]).await;
    ctx.pay(&refunded).await;
    let response = ctx
        .request("POST", &format!("/orders/{}/cancel", refunded["id"].as_str().unwrap()))
        .auth(&ctx.other_customer)
        .send()
        .await;
    assert_eq!(response.json()["payment"]["refund_status"], "succeeded", "{}", response.text());
    // Declined by the bank until it failed.
    let declined = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    for _ in 0..shared::domain::order::MAX_FAILED_ATTEMPTS {
        ctx.decline(&declined).await;
    }
    // Never paid: expired by the payment expirer.
    let expired = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.clock.advance(ctx.app.config.payment_window + Duration::from_secs(1));
    let report = payment_expirer::handle(&ctx.app, e2e::sample_event("payment-expirer")).await.unwrap();
    assert_eq!(report["expired"], 1, "{report}");
    // Placed and left alone: placing is no transition.
    let placed = ctx.order(&ctx.customer, &[(&mug, 1)]).await;

    let mut expected = Vec::new();
    for order in [&delivered, &cancelled, &refunded, &declined, &expired, &placed] {
        expected.extend(expected_events(&stored(&ctx, order).await));
    }
    let expected = sorted(expected);
    let statuses: Vec<&str> = expected.iter().filter_map(|e| e["status"].as_str()).collect();
    assert_eq!(statuses.len(), 5 + 1 + 2 + 1 + 1, "{statuses:?}");

    let batch = stream_batch(&ctx).await;
    let bus = bus(&ctx);
    assert_eq!(publish(&ctx, &bus, &batch).await, Vec::<String>::new());
    let events = listener.take().await;
    assert_eq!(details(&events), expected, "one event per transition, with the API's detail");
    let first = events.iter().find(|e| e["detail"]["status"] == "delivered").unwrap();
    assert_eq!(first["detail"]["maker_ids"].as_array().map(Vec::len), Some(2));

    // The same batch again (a retry after a timeout, say): nothing new goes out.
    assert_eq!(publish(&ctx, &bus, &batch).await, Vec::<String>::new());
    assert_eq!(listener.take().await, Vec::<Value>::new(), "a batch seen twice publishes once");
    // The stream now also holds the publisher's own markers; they are no transitions.
    let again = stream_batch(&ctx).await;
    assert!(again["Records"].as_array().unwrap().len() > batch["Records"].as_array().unwrap().len());
    assert_eq!(publish(&ctx, &bus, &again).await, Vec::<String>::new());
    assert_eq!(listener.take().await, Vec::<Value>::new());
}

/// The declined attempts among `events`, as (attempt, attempts left, error code, order id).
fn declines(events: &[Value]) -> Vec<(u64, u64, String, String)> {
    let mut declines: Vec<_> = events
        .iter()
        .filter(|e| e["detail-type"] == OrderPaymentFailed::DETAIL_TYPE)
        .map(|e| {
            assert_eq!(e["source"], OrderPaymentFailed::SOURCE, "{e}");
            let d = &e["detail"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                d["attempt"].as_u64().unwrap(),
                d["attempts_left"].as_u64().unwrap(),
                text(&d["last_error"]["code"]),
                text(&d["order_id"]),
            )
        })
        .collect();
    declines.sort();
    declines
}

#[tokio::test]
async fn each_declined_attempt_publishes_one_order_payment_failed_even_when_the_publisher_sees_the_batch_twice() {
    let ctx = TestContext::new().await;
    let listener = Listener::of(&ctx, &[OrderStatusChanged::DETAIL_TYPE, OrderPaymentFailed::DETAIL_TYPE]).await;
    let mug = product(&ctx).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let first = ctx.decline(&order).await;
    ctx.deliver(&first).await.expect(200);
    ctx.decline(&order).await;

    let batch = stream_batch(&ctx).await;
    let bus = bus(&ctx);
    assert_eq!(publish(&ctx, &bus, &batch).await, Vec::<String>::new());
    let events = listener.take().await;
    let funds = || "insufficient_funds".to_owned();
    assert_eq!(declines(&events), vec![(1, 4, funds(), id.clone()), (2, 3, funds(), id.clone())]);
    assert_eq!(events.len(), 2, "no status changed: {events:?}");
    let declined = stored(&ctx, &order).await;
    let noted: Vec<&str> = declined.history.iter().filter(|h| h.note.is_some()).map(|h| h.at.as_str()).collect();
    let mut times: Vec<&str> = events.iter().filter_map(|e| e["detail"]["at"].as_str()).collect();
    times.sort_unstable();
    assert_eq!(times, noted, "each event at its decline's time");
    assert_eq!(events[0]["detail"]["customer_id"], ctx.customer.sub.as_str());

    // The batch again: nothing new goes out.
    assert_eq!(publish(&ctx, &bus, &batch).await, Vec::<String>::new());
    assert_eq!(listener.take().await, Vec::<Value>::new(), "a batch seen twice publishes once");

    // Three more declines: attempts 3 and 4, then the fifth ends the order — a status change,
    // no fifth OrderPaymentFailed.
    for _ in 0..3 {
        ctx.decline(&order).await;
    }
    assert_eq!(publish(&ctx, &bus, &stream_batch(&ctx).await).await, Vec::<String>::new());
    let events = listener.take().await;
    assert_eq!(declines(&events), vec![(3, 2, funds(), id.clone()), (4, 1, funds(), id.clone())]);
    let changed: Vec<Value> = events
        .iter()
        .filter(|e| e["detail-type"] == OrderStatusChanged::DETAIL_TYPE)
        .map(|e| e["detail"].clone())
        .collect();
    assert_eq!(changed, expected_events(&stored(&ctx, &order).await), "{events:?}");
    assert_eq!(changed[0]["status"], "payment_failed");
}

/// Forges a record of an order that is not one: its new image has a status no order has.
fn garbled(record: &Value) -> Value {
    let mut forged = record.clone();
    let other = OrderId::generate();
    forged["eventID"] = json!("forged");
    forged["dynamodb"]["SequenceNumber"] = json!("1");
    forged["dynamodb"]["Keys"]["pk"] = json!({"S": format!("ORDER#{}", other.as_str())});
    forged["dynamodb"]["NewImage"]["pk"] = json!({"S": format!("ORDER#{}", other.as_str())});
    forged["dynamodb"]["NewImage"]["id"] = json!({"S": other.as_str()});
    forged["dynamodb"]["NewImage"]["status"] = json!({"S": "teleported"});
    forged
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned()
}

/// The record of `order`'s move into `status`.
fn record_of<'b>(batch: &'b Value, order: &Value, status: &str) -> &'b Value {
    let pk = format!("ORDER#{}", order["id"].as_str().unwrap());
    batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["dynamodb"]["Keys"]["pk"]["S"] == pk.as_str()
                && r["dynamodb"]["Keys"]["sk"]["S"] == "ORDER"
                && r["dynamodb"]["NewImage"]["status"]["S"] == status
                && r["eventName"] == "MODIFY"
        })
        .unwrap_or_else(|| panic!("no record of {pk} entering {status}"))
}

#[tokio::test]
async fn a_garbled_record_is_reported_failed_and_the_good_ones_still_go_out() {
    let ctx = TestContext::new().await;
    let listener = Listener::on(&ctx).await;
    let mug = product(&ctx).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&order).await;
    let mut batch = stream_batch(&ctx).await;
    let paid = record_of(&batch, &order, "paid").clone();
    let records = batch["Records"].as_array_mut().unwrap();
    records.insert(0, garbled(&paid));

    assert_eq!(publish(&ctx, &bus(&ctx), &batch).await, vec!["1".to_owned()], "only the garbled record failed");
    let events = listener.take().await;
    assert_eq!(details(&events), expected_events(&stored(&ctx, &order).await));
}

/// A bus that refuses the events of one status, and passes the others to EventBridge.
#[derive(Debug)]
struct Refusing {
    inner: EventBridgeBus,
    status: OrderStatus,
}

impl Refusing {
    fn refuses(&self, event: &OrderEvent) -> bool {
        matches!(event, OrderEvent::StatusChanged(e) if e.status == self.status)
    }
}

impl Bus for Refusing {
    fn put<'a>(&'a self, events: &'a [OrderEvent]) -> BusFuture<'a> {
        Box::pin(async move {
            let kept: Vec<OrderEvent> = events.iter().filter(|e| !self.refuses(e)).cloned().collect();
            let mut results = if kept.is_empty() { Vec::new() } else { self.inner.put(&kept).await? }.into_iter();
            Ok(events
                .iter()
                .map(|e| {
                    if self.refuses(e) {
                        Err("InternalFailure: refused".to_owned())
                    } else {
                        results.next().unwrap_or_else(|| Err("no result".to_owned()))
                    }
                })
                .collect())
        })
    }
}

#[tokio::test]
async fn an_event_the_bus_refuses_is_reported_unmarked_and_published_by_the_retry() {
    let ctx = TestContext::new().await;
    let listener = Listener::on(&ctx).await;
    let mug = product(&ctx).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&order).await;
    deliver_steps(&ctx, &order, 1).await;
    let batch = stream_batch(&ctx).await;

    let refusing = Refusing { inner: bus(&ctx), status: OrderStatus::Preparing };
    let failed = publish(&ctx, &refusing, &batch).await;
    assert_eq!(failed, vec![sequence_number(record_of(&batch, &order, "preparing"))]);
    let statuses: Vec<Value> = listener.take().await.iter().map(|e| e["detail"]["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("paid")]);
    let id = order_id(&order);
    let marked = ctx
        .app
        .store
        .published_events(&[
            (id.clone(), EventKey::Status(OrderStatus::Paid)),
            (id, EventKey::Status(OrderStatus::Preparing)),
        ])
        .await;
    assert_eq!(marked.unwrap().len(), 1, "only what the bus took is marked");

    // The event source mapping hands the batch over again: the refused one goes out now.
    assert_eq!(publish(&ctx, &bus(&ctx), &batch).await, Vec::<String>::new());
    let statuses: Vec<Value> = listener.take().await.iter().map(|e| e["detail"]["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("preparing")]);
}

/// A loopback URL where nothing listens.
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn with_eventbridge_unreachable_the_transitions_are_reported_failed_and_a_retry_publishes_them() {
    let ctx = TestContext::new().await;
    let listener = Listener::on(&ctx).await;
    let mug = product(&ctx).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&order).await;
    let batch = stream_batch(&ctx).await;

    // DynamoDB answers; EventBridge is a closed port.
    let unreachable =
        local::provision::sdk_config_with_dynamodb(&dead_endpoint(), &e2e::dynamodb_endpoint(), e2e::REGION).await;
    let down = EventBridgeBus::new(&unreachable, ctx.app.config.event_bus_name.clone());
    let failed = publish(&ctx, &down, &batch).await;
    assert_eq!(failed, vec![sequence_number(record_of(&batch, &order, "paid"))], "only the transition is retried");
    assert_eq!(listener.take().await, Vec::<Value>::new());
    let marked =
        ctx.app.store.published_events(&[(order_id(&order), EventKey::Status(OrderStatus::Paid))]).await.unwrap();
    assert!(marked.is_empty(), "no marker for an event that did not go out");

    assert_eq!(publish(&ctx, &bus(&ctx), &batch).await, Vec::<String>::new());
    assert_eq!(details(&listener.take().await), expected_events(&stored(&ctx, &order).await));
}

/// A stand-in publisher: logs the `pk` of each record it is handed (one line per
/// invocation) and reports the records of `POISON` failed, every time.
const FAKE_PUBLISHER: &str = r#"
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    records = event["Records"]
    with open(os.environ["OUT"], "a") as out:
        out.write(",".join(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) + "\n")
    failures = [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records
                if r["dynamodb"]["Keys"]["pk"]["S"] == os.environ["POISON"]]
    body = json.dumps({"batchItemFailures": failures}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body, method="POST")).read()
"#;

async fn put(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_owned()))
        .item("sk", AttributeValue::S("X".to_owned()))
        .send()
        .await
        .unwrap();
}

async fn lines_until(path: &std::path::Path, count: usize) -> Vec<String> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count {
            return text.lines().map(str::to_owned).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} invocations: {:?}", std::fs::read_to_string(path).unwrap_or_default());
}

#[tokio::test]
async fn the_stream_pump_retries_from_the_failed_record_then_gives_the_batch_to_its_on_failure_queue() {
    let aws = e2e::sdk_config().await;
    let table = e2e::unique("mm-test-pump");
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    shared::store::schema::create_table(&dynamodb, &table).await.unwrap();
    // Written before the pump starts: it reads new shards from the trim horizon.
    for pk in ["a", "poison", "b"] {
        put(&dynamodb, &table, pk).await;
    }

    let out = std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let python = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let dir = std::env::temp_dir().join(e2e::unique("mm-pump-test"));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("fake-publisher");
    std::fs::write(&binary, format!("#!{python}\n{FAKE_PUBLISHER}")).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = dir.join("invocations.txt");

    let failure_queue = e2e::unique("mm-pump-failures");
    let mut opts =
        StreamPumpOptions::new(&table, e2e::dynamodb_endpoint(), "fake-publisher", &dir, dir.join("logs"), e2e::REGION);
    opts.env = vec![("OUT".into(), log.display().to_string()), ("POISON".into(), "poison".into())];
    opts.max_retries = 2;
    opts.retry_backoff = Duration::from_millis(20);
    opts.poll_every = Duration::from_millis(50);
    opts.on_failure_queue = Some(failure_queue.clone());
    let pump = StreamPump::start(&aws, opts).await.unwrap();

    let first = lines_until(&log, 3).await;
    put(&dynamodb, &table, "c").await;
    let all = lines_until(&log, 4).await;
    pump.shutdown().await;
    assert_eq!(first, ["a,poison,b", "poison,b", "poison,b"], "retried from the failed record, twice");
    assert_eq!(all[3], "c", "then the pump moved on");

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = sqs.get_queue_url().queue_name(&failure_queue).send().await.unwrap().queue_url.unwrap();
    let given_up = drain(&sqs, &queue_url).await;
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    let info = &given_up[0]["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 2, "{info}");
    assert!(info["streamArn"].as_str().unwrap().contains(&table), "{info}");
    assert_eq!(given_up[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    let _ = std::fs::remove_dir_all(&dir);
}
