//! Checkout holds the stock first and only then asks Stripe for an intent (`shared::orders`,
//! "the order of the steps"): Stripe is called only for units that are really held, and
//! when Stripe fails nothing stays held. Intents are counted at localstripe by amount, with
//! a price no other test uses.

use e2e::{TestContext, TestResponse, order_body, unique_price};
use serde_json::{Value, json};
use shared::domain::OrderId;
use std::time::Duration;

async fn product(ctx: &TestContext, stock: u64, price: u64) -> String {
    ctx.create_product(&ctx.maker, json!({"stock": stock, "price_cents": price})).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `POST /orders` through `app` (the stack's app, or a copy with a broken dependency).
async fn place_through(ctx: &TestContext, app: &shared::App, key: Option<&str>, body: &Value) -> TestResponse {
    let mut request = ctx.request("POST", "/orders").auth(&ctx.customer).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let req = lambda_http::request::from_str(&request.event().to_string()).unwrap();
    e2e::dispatch(app, "create-order", req).await.into()
}

/// The customer's orders, as the API lists them.
async fn my_orders(ctx: &TestContext) -> Vec<Value> {
    ctx.get("/orders").auth(&ctx.customer).send().await.expect(200).json()["items"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn a_sold_out_product_or_a_lost_race_for_it_never_calls_stripe() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = product(&ctx, 2, price).await;
    // Six people want both units at once: all read 2 in stock, one transaction holds them.
    let people = ctx.customers(6).await;
    let body = order_body(&[(&mug, 2)]);
    let answers = futures::future::join_all(people.iter().map(|who| ctx.place_order(who, &body))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    // Sold out now: refused on the checkout's read, before any write.
    for _ in 0..3 {
        let refused = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await;
        assert_eq!(refused.problem(409)["errors"][0]["field"], "items[0].quantity");
    }
    assert_eq!(ctx.stock(&mug).await, 0);
    let intents = ctx.intents_of_amount(price * 2).await;
    assert_eq!(intents.len(), 1, "one intent, for the one order that holds the units: {intents:?}");
    let winner = answers.iter().find(|a| a.status == 201).unwrap().json();
    assert_eq!(intents[0]["id"], winner["payment"]["payment_intent_id"]);
    assert_eq!(ctx.intents_of_amount(price).await, Vec::<Value>::new(), "no intent for a sold-out request");
}

/// Stripe down at checkout: the order placed a moment before is withdrawn — no stock held,
/// no order pending (for the customer, the maker, or the unpaid-orders limit) — and the
/// same `Idempotency-Key` places it once Stripe is back.
#[tokio::test]
async fn with_stripe_down_checkout_holds_nothing_and_the_same_key_places_the_order_once_stripe_is_back() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = product(&ctx, 10, price).await;
    let port = local::emulators::free_port().unwrap();
    let down = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    let body = order_body(&[(&mug, 1)]);
    // More failures than the unpaid orders a customer may hold (3): none is left counted.
    for key in ["try-1", "try-2", "try-3", "try-4"] {
        let refused = place_through(&ctx, &down, Some(key), &body).await;
        refused.problem(503);
        assert!(refused.header("retry-after").is_some());
    }
    assert_eq!(ctx.stock(&mug).await, 10, "nothing held");
    assert_eq!(my_orders(&ctx).await, Vec::<Value>::new());
    let makers = ctx.get("/maker/orders").auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(makers["items"], json!([]), "{makers}");

    let placed = place_through(&ctx, &ctx.app, Some("try-1"), &body).await;
    placed.expect(201);
    assert_eq!(placed.header("idempotent-replayed"), None, "a new order: the failed one left no record");
    for key in ["try-2", "try-3"] {
        place_through(&ctx, &ctx.app, Some(key), &body).await.expect(201);
    }
    assert_eq!(ctx.stock(&mug).await, 7);
    assert_eq!(my_orders(&ctx).await.len(), 3);
    assert_eq!(ctx.intents_of_amount(price).await.len(), 3);
}

/// Places an order through a Stripe that accepts connections and never answers, and stops
/// the function (drops the request) once the order is written: a function that died
/// between holding the stock and recording the intent. Returns the order as stored.
async fn order_left_without_intent(ctx: &TestContext, key: Option<&'static str>, body: Value) -> Value {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let silent = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    let request = {
        let ctx_request = place_through(ctx, &silent, key, &body);
        tokio::time::timeout(Duration::from_secs(3), ctx_request)
    };
    let mut waiting = Box::pin(request);
    let mut found = None;
    for _ in 0..60 {
        tokio::select! {
            done = &mut waiting => panic!("the request ended while Stripe was silent: {:?}", done.map(|r| r.status)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if let Some(order) = my_orders(ctx).await.into_iter().next() {
            found = Some(order);
            break;
        }
    }
    drop(waiting);
    held.abort();
    found.expect("the order was written before Stripe was asked")
}

#[tokio::test]
async fn an_order_whose_function_died_before_stripe_answered_is_resumed_by_its_key() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = product(&ctx, 5, price).await;
    let body = order_body(&[(&mug, 2)]);
    let stranded = order_left_without_intent(&ctx, Some("resume-me"), body.clone()).await;
    assert_eq!(stranded["status"], "pending_payment");
    assert_eq!(stranded["payment"]["payment_intent_id"], "", "{stranded}");
    assert_eq!(ctx.stock(&mug).await, 3, "its units are held");

    let resumed = place_through(&ctx, &ctx.app, Some("resume-me"), &body).await;
    resumed.expect(201);
    assert_eq!(resumed.header("idempotent-replayed"), Some("true"));
    let order = resumed.json();
    assert_eq!(order["id"], stranded["id"]);
    assert!(order["payment"]["client_secret"].as_str().is_some_and(|s| !s.is_empty()), "{order}");
    let intents = ctx.intents_of_amount(price * 2).await;
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["id"], order["payment"]["payment_intent_id"]);
    assert_eq!(ctx.stock(&mug).await, 3, "held once");
    // And it can be paid.
    assert_eq!(ctx.pay(&order).await["status"], "paid");
}

#[tokio::test]
async fn an_order_whose_function_died_before_stripe_answered_expires_without_calling_stripe() {
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = product(&ctx, 5, price).await;
    let stranded = order_left_without_intent(&ctx, None, order_body(&[(&mug, 1)])).await;
    assert_eq!(ctx.stock(&mug).await, 4);

    ctx.clock.advance(ctx.app.config.payment_window + Duration::from_secs(1));
    let mut expired = 0;
    for _ in 0..3 {
        expired += shared::orders::expire_due(&ctx.app, 100).await.unwrap().expired;
    }
    assert!(expired >= 1, "the expirer found it");
    let id = OrderId::parse(stranded["id"].as_str().unwrap()).unwrap();
    let order = ctx.app.store.order(&id).await.unwrap().unwrap();
    assert_eq!(order.status.as_str(), "expired");
    assert_eq!(ctx.stock(&mug).await, 5, "released");
    assert_eq!(ctx.intents_of_amount(price).await, Vec::<Value>::new(), "Stripe never heard of it");
}

/// Recording the intent is tried again when DynamoDB does not answer (here: failing
/// through every attempt of the SDK's first call): the order holds its stock and Stripe
/// made its intent, so the customer gets it, payable, rather than a 503.
#[tokio::test]
async fn recording_the_intent_is_tried_again_when_dynamodb_does_not_answer() {
    use e2e::faults::{Fault, Timing};
    let ctx = TestContext::new().await;
    let price = unique_price();
    let mug = product(&ctx, 3, price).await;
    ctx.faults.inject(Some("UpdateItem"), Fault::InternalServerError, Timing::Instead, 1, 3);
    let placed = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 1)])).await;
    ctx.faults.clear();
    placed.expect(201);
    assert_eq!(ctx.faults.injected("UpdateItem"), 3, "the SDK's three attempts of the first try failed");
    let order = placed.json();
    let stored = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(stored["payment"]["payment_intent_id"], order["payment"]["payment_intent_id"]);
    assert_eq!(ctx.intents_of_amount(price).await.len(), 1);
    assert_eq!(ctx.stock(&mug).await, 2);
}
