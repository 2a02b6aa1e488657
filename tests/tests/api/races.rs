//! Races: reservations at the store level, a payment racing the expirer, and DynamoDB
//! frozen in the middle of a rush.

use e2e::{TestContext, User, order_body};
use serde_json::json;
use shared::domain::{HistoryEntry, NewOrder, Order, OrderId, OrderInput, OrderStatus, Payment, Timestamp};
use shared::store::Placement;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// The reservation code itself, without HTTP or Stripe: 20 placing transactions at once on
/// a stock of 5 reserve exactly 5 units, every time.
#[tokio::test]
async fn twenty_concurrent_reservations_on_a_stock_of_five_reserve_exactly_five_every_run() {
    let ctx = TestContext::new().await;
    for run in 0..5 {
        let product = ctx.create_product(&ctx.maker, json!({"stock": 5})).await;
        let id = product["id"].as_str().unwrap();
        let input: OrderInput = serde_json::from_value(order_body(&[(id, 1)])).unwrap();
        let new = NewOrder::parse(input).unwrap();
        let attempts = (0..20).map(|i| {
            let (ctx, new) = (&ctx, new.clone());
            // Twenty customers (one may hold only 3 unpaid orders).
            let customer = shared::domain::UserId::new(format!("{}-{run}-{i}", ctx.customer.sub));
            async move {
                let now = std::time::SystemTime::now();
                let read = ctx.app.store.read_for_checkout(&customer, &[new.lines[0].0.clone()], None, now).await?;
                let (items, address) = new.price(&read.products, None)?;
                let at = Timestamp::at(now);
                let order = Order {
                    id: OrderId::generate(),
                    customer_id: customer,
                    status: OrderStatus::PendingPayment,
                    total_cents: items.iter().map(|l| l.subtotal_cents).sum(),
                    items,
                    currency: shared::domain::Currency::Eur,
                    shipping_address: address,
                    payment: Payment::stripe(format!("pi_race_{i}"), "secret"),
                    history: vec![HistoryEntry { status: OrderStatus::PendingPayment, at: at.clone(), note: None }],
                    created_at: at.clone(),
                    updated_at: at.clone(),
                };
                ctx.app.store.place_order(&order, &at, None, &read.products, now).await
            }
        });
        let results = futures::future::join_all(attempts).await;
        let placed = results.iter().filter(|r| matches!(r, Ok(Placement::Placed))).count();
        let refused: Vec<u16> = results.iter().filter_map(|r| r.as_ref().err().map(|e| e.status())).collect();
        assert_eq!(placed, 5, "run {run}: {refused:?}");
        assert!(refused.iter().all(|s| *s == 409), "run {run}: {refused:?}");
        assert_eq!(ctx.stock(id).await, 0, "run {run}");
    }
}

/// Payments made in time whose webhooks race the expirer: whichever of the two comes first
/// makes each order paid, the other finds it paid — none expired, none refunded.
#[tokio::test]
async fn payments_made_in_time_racing_the_expiry_all_end_paid_and_none_is_refunded() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({"stock": 50})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let mut orders = Vec::new();
    for customer in ctx.customers(8).await {
        let order = ctx.order(&customer, &[(&id, 1)]).await;
        let intent = ctx.confirm_at_stripe(&order, local::stripe::TestCard::Visa).await;
        orders.push((order, ctx.stripe_event("payment_intent.succeeded", &intent)));
    }
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    let webhooks = futures::future::join_all(orders.iter().map(|(_, event)| ctx.deliver(event)));
    let expirer = shared::orders::expire_due(&ctx.app, 100);
    let (responses, report) = tokio::join!(webhooks, expirer);
    let report = report.unwrap();
    assert_eq!(report.expired, 0, "{report:?}");
    for response in responses {
        response.expect(200);
    }
    // A second expirer run would retry any refund: there must be none to retry.
    ctx.clock.advance(shared::store::REFUND_RETRY_AFTER + Duration::from_secs(1));
    assert_eq!(shared::orders::expire_due(&ctx.app, 100).await.unwrap().refunds_retried, 0);
    for (order, _) in &orders {
        let now = ctx.fetch_order(&ctx.customer_of(order), order).await;
        let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
        let refunds =
            local::stripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
        assert_eq!(now["status"], "paid", "{now}");
        assert!(refunds.is_empty() && now["payment"]["refund_status"].is_null(), "paid and refunded: {now}");
        let paid = now["history"].as_array().unwrap().iter().filter(|h| h["status"] == "paid").count();
        assert_eq!(paid, 1, "paid once: {now}");
    }
    assert_eq!(ctx.stock(&id).await, 50 - orders.len() as u64);
}

/// DynamoDB Local frozen with SIGSTOP for a few seconds in the middle of a rush: every
/// request ends as a 201, a 409 or a clean problem+json 5xx, within the SDK's timeouts,
/// and the stock is conserved. The freeze must have taken (DynamoDB Local does not answer
/// during it) and hit the rush (requests were waiting on it meanwhile).
#[tokio::test]
async fn a_rush_survives_dynamodb_freezing_with_clean_errors_and_conserved_stock() {
    use local::emulators::{EmulatorOptions, start_dynamodb_local};
    let log_dir = std::env::temp_dir().join(e2e::unique("mm-freeze"));
    let dynamodb = start_dynamodb_local(&EmulatorOptions::new(None, &log_dir)).await.unwrap();
    let pid = dynamodb.pid().unwrap().to_string();
    let ctx = TestContext::on_dynamodb(&dynamodb.url()).await;
    let product = ctx.create_product(&ctx.maker, json!({"stock": 8})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let customers: [&User; 4] = [&ctx.customer, &ctx.other_customer, &ctx.other_maker, &ctx.admin];
    let body = order_body(&[(&id, 1)]);

    // Requests being served right now: read during the freeze.
    let in_flight = std::sync::atomic::AtomicUsize::new(0);
    let rush = futures::future::join_all((0..20).map(|i| {
        let (ctx, body, in_flight) = (&ctx, &body, &in_flight);
        async move {
            tokio::time::sleep(Duration::from_millis(25 * i as u64)).await;
            in_flight.fetch_add(1, SeqCst);
            let started = Instant::now();
            let response = ctx.place_order(customers[i % 4], body).await;
            in_flight.fetch_sub(1, SeqCst);
            (response, started.elapsed())
        }
    }));
    let probe = aws_sdk_dynamodb::Client::new(&ctx.aws);
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let signal = |sig: &str| std::process::Command::new("kill").args([sig, &pid]).status().map(|s| s.success());
        assert_eq!(signal("-STOP").ok(), Some(true));
        let stopped = Instant::now();
        // The freeze took: DynamoDB Local does not answer now (it answers in milliseconds).
        let answer = tokio::time::timeout(Duration::from_millis(1500), probe.list_tables().send()).await;
        // Every request has been sent by now; those not answered yet wait on the freeze.
        let waiting = in_flight.load(SeqCst);
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;
        assert_eq!(signal("-CONT").ok(), Some(true));
        (answer.is_err(), waiting)
    };
    let (responses, (frozen, waiting)) = tokio::join!(rush, freeze);
    assert!(frozen, "DynamoDB Local answered while it was meant to be stopped");
    // Requests were waiting on DynamoDB while it was shown to be stopped: it hit the rush.
    assert!(waiting > 0, "no request was in flight during the freeze");
    let mut statuses = Vec::new();
    for (response, took) in &responses {
        statuses.push(response.status);
        match response.status {
            201 | 409 => {}
            500..=599 => {
                let problem = response.problem(response.status);
                let text = problem.to_string();
                assert!(
                    !text.contains("dynamodb") && !text.contains("127.0.0.1") && !text.contains("Timeout"),
                    "{text}"
                );
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
        assert!(*took < Duration::from_secs(12), "a request took {took:?}");
    }
    // Conservation: stock left + units held by live orders = what there was.
    let mut held = 0;
    for user in customers {
        let list = ctx.get("/orders").auth(user).query("limit", "100").send().await.json();
        for order in list["items"].as_array().unwrap() {
            let status = OrderStatus::parse(order["status"].as_str().unwrap()).unwrap();
            if status.holds_stock() {
                held += order["items"][0]["quantity"].as_u64().unwrap();
            }
        }
    }
    let left = ctx.stock(&id).await;
    assert_eq!(left + held, 8, "statuses {statuses:?}");
    assert!(held <= 8);
    dynamodb.stop().await;
    let _ = std::fs::remove_dir_all(&log_dir);
}
