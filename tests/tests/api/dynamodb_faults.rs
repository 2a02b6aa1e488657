//! The DynamoDB retry paths DynamoDB Local never takes (it never answers
//! `TransactionConflict` and never throttles), driven by injected errors
//! ([`e2e::faults`]): placing an order, an order's move (a cancel, a Stripe webhook, a
//! delivery step) and creating a product. A conflict is retried; one that outlasts the
//! retries is a clean 503 with `Retry-After` (a rush on one product: the request is fine, try
//! again in a moment), and throttling or a DynamoDB fault that outlasts the SDK's retries a
//! clean 503 — never a 500, never a half-written order or product.

use e2e::faults::{Fault, Timing};
use e2e::{TestContext, TestResponse, order_body, unique_price};
use serde_json::{Value, json};
use shared::delivery::{DeliveryReport, TickLimits, advance_due};
use std::time::Duration;

const TRANSACT: Option<&str> = Some("TransactWriteItems");
/// The SDK's attempts at a call that keeps being throttled or failing (its standard retry).
const SDK_ATTEMPTS: usize = 3;
/// Throttling, capacity and DynamoDB's own faults: retried by the SDK, then a 503.
const SDK_RETRIED: [Fault; 3] = [Fault::Throttling, Fault::ProvisionedThroughputExceeded, Fault::InternalServerError];

/// A clean problem that names nothing of DynamoDB or of the fault; a 503 says when to
/// try again.
#[track_caller]
fn assert_clean_problem(response: &TestResponse, status: u16) {
    let problem = response.problem(status).to_string();
    for leak in ["DynamoDB", "dynamodb", "Throttling", "Throughput", "TransactionConflict", "InternalServerError"] {
        assert!(!problem.contains(leak), "{problem}");
    }
    assert!(response.header("x-request-id").is_some());
    if status == 503 {
        let wait = response.header("retry-after").and_then(|v| v.parse::<u32>().ok());
        assert!(wait.is_some_and(|w| (1..=60).contains(&w)), "Retry-After: {wait:?}");
    }
}

/// Nothing of an order is left: no order for the customer, none for the maker, the stock
/// as it was.
async fn assert_no_order(ctx: &TestContext, product: &str, stock: u64) {
    assert_eq!(ctx.stock(product).await, stock, "stock reserved");
    let mine = ctx.get("/orders").auth(&ctx.customer).send().await.expect(200).json();
    assert_eq!(mine["items"], json!([]), "{mine}");
    let makers = ctx.get("/maker/orders").auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(makers["items"], json!([]), "a maker index item without its order: {makers}");
}

#[tokio::test]
async fn a_placement_that_lost_conflicts_is_retried_and_makes_one_order() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, 3);
    let placed = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 2)])).await;
    ctx.faults.clear();
    placed.expect(201);
    assert_eq!(ctx.faults.injected("TransactWriteItems"), 3, "three conflicts, then the fourth attempt");
    assert_eq!(ctx.stock(&mug).await, 3, "reserved once");
    let mine = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(mine["items"][0]["id"], placed.json()["id"]);
}

/// Conflicts that outlast the retries (a hot product, as real DynamoDB answers a rush on
/// one item): nothing was written, so a 503 with `Retry-After` the client may retry, and
/// Stripe was never called, since the stock is held before any intent is made.
#[tokio::test]
async fn a_placement_that_keeps_losing_conflicts_is_a_503_with_retry_after_that_reserves_nothing_and_calls_no_stripe() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5, "price_cents": price})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, u32::MAX);
    let refused = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await;
    ctx.faults.clear();
    assert_clean_problem(&refused, 503);
    assert_eq!(refused.header("retry-after"), Some("1"), "a lost race clears in a moment");
    assert!(ctx.faults.injected("TransactWriteItems") > 1, "retried before giving up");
    assert_no_order(&ctx, &mug, 5).await;
    let intents = ctx.intents_of_amount(price).await;
    assert_eq!(intents, Vec::<Value>::new(), "no intent for an order that holds nothing");
    // The rush is over: the same order goes through.
    ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await.expect(201);
    assert_eq!(ctx.stock(&mug).await, 4);
}

#[tokio::test]
async fn throttling_and_dynamodb_faults_are_retried_by_the_sdk_and_the_order_is_placed() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    for (i, fault) in SDK_RETRIED.into_iter().enumerate() {
        ctx.faults.inject(TRANSACT, fault, Timing::Instead, 1, u32::try_from(SDK_ATTEMPTS - 1).unwrap());
        let placed = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await;
        ctx.faults.clear();
        placed.expect(201);
        assert_eq!(ctx.faults.injected("TransactWriteItems"), (i + 1) * (SDK_ATTEMPTS - 1), "{fault:?}");
    }
    assert_eq!(ctx.stock(&mug).await, 2, "one unit per order, each reserved once");
}

/// Throttling (or DynamoDB failing) through all the SDK's attempts: a 503 problem, nothing
/// reserved, no order.
#[tokio::test]
async fn throttling_and_dynamodb_faults_that_outlast_the_sdk_retries_are_a_503_that_reserves_nothing() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    for (i, fault) in SDK_RETRIED.into_iter().enumerate() {
        ctx.faults.inject(TRANSACT, fault, Timing::Instead, 1, u32::MAX);
        let refused = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await;
        ctx.faults.clear();
        assert_clean_problem(&refused, 503);
        assert_eq!(ctx.faults.injected("TransactWriteItems"), (i + 1) * SDK_ATTEMPTS, "{fault:?}");
    }
    assert_no_order(&ctx, &mug, 5).await;
}

/// The placing transaction commits and every answer to it is lost: the outcome is unknown
/// to the function, so a 503, and Stripe is not called (the order may or may not exist).
/// The order is whole — stock reserved once, the maker's index item there — and a retry
/// with the same Idempotency-Key returns it, its payment started then: one intent.
#[tokio::test]
async fn a_placement_whose_answer_was_lost_is_a_503_and_its_key_returns_the_whole_order() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5, "price_cents": price})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = || {
        ctx.request("POST", "/orders")
            .auth(&ctx.customer)
            .header("idempotency-key", "lost-answer")
            .json(&order_body(&[(&mug, 2)]))
            .send()
    };
    ctx.faults.inject(TRANSACT, Fault::InternalServerError, Timing::After, 1, u32::MAX);
    let lost = send().await;
    ctx.faults.clear();
    assert_clean_problem(&lost, 503);
    assert_eq!(ctx.stock(&mug).await, 3, "the first attempt committed; the SDK's retries did not add to it");

    let retry = send().await;
    retry.expect(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let order = retry.json();
    let makers = ctx.get("/maker/orders").auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(makers["items"][0]["id"], order["id"], "{makers}");
    assert_eq!(ctx.stock(&mug).await, 3);
    let intents = ctx.intents_of_amount(price * 2).await;
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["id"], order["payment"]["payment_intent_id"]);
    assert_eq!(intents[0]["status"], "requires_payment_method", "the order's intent stays payable");
}

async fn cancel(ctx: &TestContext, order: &Value) -> TestResponse {
    ctx.request("POST", &format!("/orders/{}/cancel", order["id"].as_str().unwrap())).auth(&ctx.customer).send().await
}

#[tokio::test]
async fn a_cancel_that_lost_conflicts_is_retried_and_releases_the_stock_once() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, 2);
    let cancelled = cancel(&ctx, &order).await;
    ctx.faults.clear();
    cancelled.expect(200);
    assert_eq!(ctx.faults.injected("TransactWriteItems"), 2);
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(ctx.stock(&mug).await, 5, "released once");
    let history = ctx.fetch_order(&ctx.customer, &order).await["history"].clone();
    assert_eq!(history.as_array().unwrap().iter().filter(|h| h["status"] == "cancelled").count(), 1, "{history}");
}

/// A move that keeps losing conflicts, and throttling through the SDK's retries, are a 503
/// with `Retry-After`: the order and its stock are as they were, and the cancel works once
/// DynamoDB does.
#[tokio::test]
async fn a_cancel_that_dynamodb_keeps_refusing_is_a_503_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    for (fault, status) in [(Fault::Conflict, 503), (Fault::Throttling, 503), (Fault::InternalServerError, 503)] {
        ctx.faults.inject(TRANSACT, fault, Timing::Instead, 1, u32::MAX);
        let refused = cancel(&ctx, &order).await;
        ctx.faults.clear();
        assert_clean_problem(&refused, status);
        let now = ctx.fetch_order(&ctx.customer, &order).await;
        assert_eq!(now["status"], "pending_payment", "{fault:?}: {now}");
        assert_eq!(now["history"].as_array().map(Vec::len), Some(1), "{now}");
        assert_eq!(ctx.stock(&mug).await, 3, "{fault:?}");
    }
    assert!(ctx.faults.injected("TransactWriteItems") > 1 + 2 * SDK_ATTEMPTS, "the conflict was retried");
    cancel(&ctx, &order).await.expect(200);
    assert_eq!(ctx.stock(&mug).await, 5);
}

/// Stripe's webhook: conflicts on its move are retried; conflicts that outlast the retries
/// are a non-2xx answer, so Stripe delivers the event again, and it has its effect once.
#[tokio::test]
async fn a_payment_webhook_that_loses_conflicts_is_retried_or_refused_and_pays_the_order_once() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let paid_count =
        |order: &Value| order["history"].as_array().unwrap().iter().filter(|h| h["status"] == "paid").count();

    let first = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&first, local::stripe::TestCard::Visa).await;
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, 2);
    let delivered = ctx.deliver(&event).await;
    ctx.faults.clear();
    delivered.expect(200);
    assert_eq!(ctx.faults.injected("TransactWriteItems"), 2);
    let now = ctx.fetch_order(&ctx.customer, &first).await;
    assert_eq!((now["status"].as_str(), paid_count(&now)), (Some("paid"), 1), "{now}");

    let second = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&second, local::stripe::TestCard::Visa).await;
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, u32::MAX);
    let refused = ctx.deliver(&event).await;
    ctx.faults.clear();
    assert_clean_problem(&refused, 503);
    assert_eq!(ctx.fetch_order(&ctx.customer, &second).await["status"], "pending_payment");
    // Stripe delivers it again, twice.
    ctx.deliver(&event).await.expect(200);
    ctx.deliver(&event).await.expect(200);
    let now = ctx.fetch_order(&ctx.customer, &second).await;
    assert_eq!((now["status"].as_str(), paid_count(&now)), (Some("paid"), 1), "{now}");
    assert_eq!(ctx.stock(&mug).await, 3);
}

/// The delivery simulator: a step that lost conflicts is retried within the tick; one that
/// keeps losing them is `failed`, stays due, and the next tick makes it once.
#[tokio::test]
async fn a_delivery_step_that_loses_conflicts_is_retried_or_left_for_the_next_tick() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&order).await;
    let tick = || advance_due(&ctx.app, TickLimits::default());
    let statuses = |order: &Value| -> Vec<String> {
        order["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str().map(str::to_owned)).collect()
    };

    ctx.clock.advance(ctx.app.config.delivery_dwell + Duration::from_secs(1));
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, 2);
    let report = tick().await.unwrap();
    ctx.faults.clear();
    assert_eq!(report, DeliveryReport { advanced: 1, skipped: 0, failed: 0, more: false });
    assert_eq!(ctx.faults.injected("TransactWriteItems"), 2);

    ctx.clock.advance(ctx.app.config.delivery_dwell + Duration::from_secs(1));
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, u32::MAX);
    let report = tick().await.unwrap();
    ctx.faults.clear();
    assert_eq!(report, DeliveryReport { advanced: 0, skipped: 0, failed: 1, more: false });
    assert!(ctx.faults.injected("TransactWriteItems") > 3, "retried before giving up");
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "preparing");
    assert_eq!(tick().await.unwrap().advanced, 1, "still due");
    let now = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(statuses(&now), ["pending_payment", "paid", "preparing", "shipped"], "{now}");
}

/// Creating a product writes it and its maker's profile in one transaction: conflicts are
/// retried; conflicts beyond the retries, and throttling beyond the SDK's, are a 503, and
/// neither leaves a product behind.
#[tokio::test]
async fn a_product_creation_that_loses_conflicts_is_retried_or_refused_cleanly_and_writes_one_product_or_none() {
    let ctx = TestContext::new().await;
    let create = |title: &str| {
        ctx.request("POST", "/products").auth(&ctx.maker).json(&e2e::product_body(json!({"title": title}))).send()
    };
    ctx.faults.inject(TRANSACT, Fault::Conflict, Timing::Instead, 1, 2);
    let created = create("Retried mug").await;
    ctx.faults.clear();
    created.expect(201);
    assert_eq!(ctx.faults.injected("TransactWriteItems"), 2);

    for (fault, status) in
        [(Fault::Conflict, 503), (Fault::Throttling, 503), (Fault::ProvisionedThroughputExceeded, 503)]
    {
        ctx.faults.inject(TRANSACT, fault, Timing::Instead, 1, u32::MAX);
        let refused = create("Refused mug").await;
        ctx.faults.clear();
        assert_clean_problem(&refused, status);
    }
    let titles: Vec<Value> = ctx.list_all(&[], 100).await.iter().map(|p| p["title"].clone()).collect();
    assert_eq!(titles, vec![json!("Retried mug")]);
    let shop = ctx.get(&format!("/makers/{}", ctx.maker.sub)).send().await.expect(200).json();
    assert_eq!(shop["product_count"], json!(1), "{shop}");
}
