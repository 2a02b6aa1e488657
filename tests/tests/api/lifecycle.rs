//! After placing: who sees and cancels what, Stripe's webhooks applied once, refunds, expiry.

use e2e::{TestContext, User};
use local::stripe::TestCard;
use serde_json::{Value, json};
use std::time::Duration;

async fn product(ctx: &TestContext, stock: u64) -> String {
    ctx.create_product(&ctx.maker, json!({"stock": stock, "price_cents": 2500})).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn id(order: &Value) -> &str {
    order["id"].as_str().unwrap()
}

#[tokio::test]
async fn every_order_route_answers_each_role_as_it_should() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 20).await;
    // The maker with a line is `maker`; `other_maker` has none in this order.
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let path = format!("/orders/{}", id(&order));
    let cancel = format!("{path}/cancel");
    struct Who<'a>(&'a str, Option<&'a User>);
    let roles = [
        Who("anonymous", None),
        Who("customer", Some(&ctx.customer)),
        Who("another customer", Some(&ctx.other_customer)),
        Who("maker with a line", Some(&ctx.maker)),
        Who("maker without", Some(&ctx.other_maker)),
        Who("admin", Some(&ctx.admin)),
    ];
    for Who(role, user) in &roles {
        fn with<'c>(req: e2e::TestRequest<'c>, user: Option<&User>) -> e2e::TestRequest<'c> {
            match user {
                Some(u) => req.auth(u),
                None => req,
            }
        }
        let user = *user;
        let get = with(ctx.get(&path), user).send().await;
        let list = with(ctx.get("/orders"), user).send().await;
        let maker_list = with(ctx.get("/maker/orders"), user).send().await;
        let place = with(ctx.request("POST", "/orders"), user).json(&e2e::order_body(&[(&mug, 1)])).send().await;
        let expected: (u16, u16, u16, u16) = match *role {
            "anonymous" => (401, 401, 401, 401),
            "customer" => (200, 200, 403, 201),
            "another customer" => (404, 200, 403, 201),
            "maker with a line" => (200, 200, 200, 201),
            "maker without" => (404, 200, 200, 201),
            _ => (200, 200, 403, 201),
        };
        assert_eq!((get.status, list.status, maker_list.status, place.status), expected, "{role}: {}", get.text());
        match *role {
            "customer" => assert!(get.json()["payment"]["client_secret"].is_string(), "{role}"),
            "admin" => {
                let body = get.json();
                assert!(body["payment"]["client_secret"].is_null() && body["payment"]["payment_intent_id"].is_string());
                assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
            }
            "maker with a line" => {
                let body = get.json();
                assert!(body.get("payment").is_none() && body.get("customer_id").is_none(), "{body}");
                assert!(body["history"].is_array() && body["shipping_address"].is_object());
            }
            _ => {}
        }
        // The webhook trusts no token, only Stripe's signature: unsigned is a 400 for everyone.
        let unsigned = with(ctx.request("POST", "/webhooks/stripe"), user).json(&json!({"id": "evt_1"})).send().await;
        assert_eq!(unsigned.status, 400, "{role}: {}", unsigned.text());
        // Another customer's list never shows this order.
        if *role == "another customer" {
            assert!(!list.text().contains(id(&order)));
        }
    }
    // Cancel: anonymous 401, another customer and a maker without a line 404, the maker
    // with a line 403 — and none of them changes anything.
    for (user, status) in
        [(None, 401), (Some(&ctx.other_customer), 404), (Some(&ctx.other_maker), 404), (Some(&ctx.maker), 403)]
    {
        let req = ctx.request("POST", &cancel);
        let req = match user {
            Some(u) => req.auth(u),
            None => req,
        };
        req.send().await.problem(status);
    }
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
    ctx.request("POST", &cancel).auth(&ctx.admin).send().await.expect(200);
    let other = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let cancelled = ctx.request("POST", &format!("/orders/{}/cancel", id(&other))).auth(&ctx.customer).send().await;
    cancelled.expect(200);
    assert_eq!(cancelled.json()["status"], "cancelled");
    // Unknown and malformed ids are 404s.
    ctx.get("/orders/ord_01JDR0A1B2C3D4E5F6G7H8J9K0").auth(&ctx.admin).send().await.problem(404);
    ctx.get("/orders/nope").auth(&ctx.customer).send().await.problem(404);
    ctx.request("POST", "/orders/nope/cancel").auth(&ctx.customer).send().await.problem(404);
}

#[tokio::test]
async fn a_paid_webhook_marks_the_order_paid_once_however_often_it_comes() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    let intent = ctx.confirm_at_stripe(&order, TestCard::Visa).await;
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    // Five deliveries of one event at once, and the same payment under another event id.
    let again = ctx.stripe_event("payment_intent.succeeded", &intent);
    let mut deliveries: Vec<_> = (0..5).map(|_| ctx.deliver(&event)).collect();
    deliveries.push(ctx.deliver(&again));
    for response in futures::future::join_all(deliveries).await {
        response.expect(200);
    }
    let paid = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(paid["status"], "paid");
    let statuses: Vec<&str> = paid["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect();
    assert_eq!(statuses, vec!["pending_payment", "paid"]);
    assert_eq!(ctx.stock(&mug).await, 3);
    // A failure that arrives after the success changes nothing.
    let failed = ctx.stripe_event("payment_intent.payment_failed", &intent);
    ctx.deliver(&failed).await.expect(200);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "paid");
    assert_eq!(ctx.stock(&mug).await, 3);
}

#[tokio::test]
async fn forged_stale_malformed_and_foreign_webhooks_are_refused_and_change_nothing() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&order, TestCard::Visa).await;
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    let body = event.to_string();
    let now = std::time::SystemTime::now();
    let sign = |secret: &str, at: std::time::SystemTime| {
        shared::payments::webhook::sign(&shared::config::Secret::new(secret), body.as_bytes(), at)
    };
    let good = ctx.stripe_keys.webhook_secret.clone();
    let tampered = body.replace("succeeded", "succeeded ");
    let cases = [
        ("another secret", body.clone(), sign("whsec_someone_else", now)),
        ("stale", body.clone(), sign(&good, now - Duration::from_secs(301))),
        ("from the future", body.clone(), sign(&good, now + Duration::from_secs(301))),
        ("tampered body", tampered, sign(&good, now)),
        ("malformed header", body.clone(), "t=abc,v1=zz".to_owned()),
        ("no v1", body.clone(), format!("t={}", now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs())),
        ("empty header", body.clone(), String::new()),
    ];
    for (what, body, signature) in cases {
        let response = ctx.deliver_raw(&body, &signature).await;
        assert_eq!(response.status, 400, "{what}: {}", response.text());
        response.problem(400);
    }
    // No header at all, and a signed body that is not an event.
    ctx.request("POST", "/webhooks/stripe").raw_body("application/json", &body).send().await.problem(400);
    let junk = "{\"not\": \"an event\"}";
    let signature = shared::payments::webhook::sign(&shared::config::Secret::new(good.clone()), junk.as_bytes(), now);
    ctx.deliver_raw(junk, &signature).await.problem(400);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
    // The genuine delivery still works afterwards.
    ctx.deliver(&event).await.expect(200);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "paid");
}

#[tokio::test]
async fn a_success_for_another_intent_or_amount_changes_nothing() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&order, TestCard::Visa).await;
    let mut wrong_amount = intent.clone();
    wrong_amount["amount"] = json!(1);
    let mut other_intent = intent.clone();
    other_intent["id"] = json!("pi_someoneelse000000000000");
    let mut wrong_currency = intent.clone();
    wrong_currency["currency"] = json!("usd");
    let mut unknown_order = intent.clone();
    unknown_order["metadata"]["order_id"] = json!("ord_01JDR0A1B2C3D4E5F6G7H8J9K0");
    for object in [&wrong_amount, &other_intent, &wrong_currency, &unknown_order] {
        ctx.deliver(&ctx.stripe_event("payment_intent.succeeded", object)).await.expect(200);
    }
    ctx.deliver(&ctx.stripe_event("customer.created", &json!({"id": "cus_1", "object": "customer"}))).await.expect(200);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
}

#[tokio::test]
async fn a_failed_payment_releases_the_stock() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    assert_eq!(ctx.stock(&mug).await, 3);
    let intent = ctx.confirm_at_stripe(&order, TestCard::Declined).await;
    let failed = ctx.stripe_event("payment_intent.payment_failed", &intent);
    ctx.deliver(&failed).await.expect(200);
    ctx.deliver(&failed).await.expect(200);
    let order = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(order["status"], "payment_failed");
    assert_eq!(ctx.stock(&mug).await, 5);
}

#[tokio::test]
async fn cancelling_in_every_state_does_what_that_state_allows() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 20).await;
    let api = ctx.stripe_api_base();
    let key = ctx.stripe_keys.secret_key.clone();
    let cancel = |order: &Value| {
        let path = format!("/orders/{}/cancel", id(order));
        let ctx = &ctx;
        async move { ctx.request("POST", &path).auth(&ctx.customer).send().await }
    };

    // pending_payment: the intent is cancelled at Stripe and the stock comes back.
    let pending = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    let response = cancel(&pending).await;
    response.expect(200);
    assert_eq!(response.json()["status"], "cancelled");
    let pi = pending["payment"]["payment_intent_id"].as_str().unwrap();
    assert_eq!(local::stripe::get_intent(&api, &key, pi).await.unwrap()["status"], "canceled");
    assert_eq!(ctx.stock(&mug).await, 20);

    // paid: refunded through Stripe, the refund id kept, the stock back.
    let paid = ctx.order(&ctx.customer, &[(&mug, 3)]).await;
    ctx.pay(&paid).await;
    let response = cancel(&paid).await;
    response.expect(200);
    let body = response.json();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["payment"]["refund_status"], "succeeded", "{body}");
    let refund_id = body["payment"]["refund_id"].as_str().unwrap();
    let pi = paid["payment"]["payment_intent_id"].as_str().unwrap();
    let refunds = local::stripe::list_refunds(&api, &key, pi).await.unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["id"], refund_id);
    assert_eq!(refunds[0]["amount"], 3 * 2500);
    assert_eq!(ctx.stock(&mug).await, 20);
    let statuses: Vec<&str> = body["history"].as_array().unwrap().iter().filter_map(|h| h["status"].as_str()).collect();
    assert_eq!(statuses, vec!["pending_payment", "paid", "cancelled", "cancelled"]);

    // Already cancelled, expired or failed: a 409 that changes nothing.
    cancel(&pending).await.problem(409);
    cancel(&paid).await.problem(409);
    assert_eq!(local::stripe::list_refunds(&api, &key, pi).await.unwrap().len(), 1);
    let failed = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&failed, TestCard::Declined).await;
    ctx.deliver(&ctx.stripe_event("payment_intent.payment_failed", &intent)).await.expect(200);
    cancel(&failed).await.problem(409);
    assert_eq!(ctx.stock(&mug).await, 20);

    // preparing: still cancellable, refunded.
    let preparing = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.pay(&preparing).await;
    deliver_steps(&ctx, &preparing, 1).await;
    let response = cancel(&preparing).await;
    response.expect(200);
    assert_eq!(response.json()["payment"]["refund_status"], "succeeded");
    assert_eq!(ctx.stock(&mug).await, 20);

    // shipped, out for delivery, delivered: too late; nothing changes, nothing refunded.
    for steps in 2..=4 {
        let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
        ctx.pay(&order).await;
        let status = deliver_steps(&ctx, &order, steps).await;
        let problem = cancel(&order).await.problem(409);
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("cannot become cancelled")), "{problem}");
        let after = ctx.fetch_order(&ctx.customer, &order).await;
        assert_eq!(after["status"], status.as_str());
        assert!(after["payment"]["refund_status"].is_null());
        let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
        assert!(local::stripe::list_refunds(&api, &key, pi).await.unwrap().is_empty());
    }
    assert_eq!(ctx.stock(&mug).await, 17);

    // expired: a 409 too.
    let unpaid = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!(ctx.fetch_order(&ctx.customer, &unpaid).await["status"], "expired");
    cancel(&unpaid).await.problem(409);
    assert_eq!(ctx.stock(&mug).await, 17);
}

/// Moves a paid order `steps` delivery steps on, the way the delivery simulator will: through
/// the state machine, one compare-and-set move at a time. Returns where it ends.
async fn deliver_steps(ctx: &TestContext, order: &Value, steps: usize) -> shared::domain::OrderStatus {
    let id = shared::domain::OrderId::parse(id(order)).unwrap();
    for _ in 0..steps {
        let current = ctx.app.store.order(&id).await.unwrap().unwrap();
        let mv = shared::domain::order::next_delivery_step(current.status).unwrap();
        let outcome = ctx.app.store.apply_move(&current, mv, &ctx.app.now(), None).await.unwrap();
        assert!(matches!(outcome, shared::store::MoveOutcome::Moved(_)));
    }
    ctx.app.store.order(&id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn unpaid_orders_expire_releasing_their_stock_and_a_late_payment_is_refunded() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10).await;
    let unpaid = ctx.order(&ctx.customer, &[(&mug, 4)]).await;
    let paid_late = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let paid_in_time = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.pay(&paid_in_time).await;
    assert_eq!(ctx.stock(&mug).await, 3);
    // Nothing is due yet.
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!(report.expired, 0);
    // The payment is confirmed at Stripe before the window closes, its webhook arrives after.
    let intent = ctx.confirm_at_stripe(&paid_late, TestCard::Visa).await;
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!(report.expired, 2, "{report:?}");
    assert_eq!(ctx.fetch_order(&ctx.customer, &unpaid).await["status"], "expired");
    assert_eq!(ctx.fetch_order(&ctx.customer, &paid_in_time).await["status"], "paid");
    assert_eq!(ctx.stock(&mug).await, 8);
    // A second run finds nothing more to do.
    assert_eq!(shared::orders::expire_due(&ctx.app, 100).await.unwrap().expired, 0);

    // The expirer saw the late intent had succeeded (it could not cancel it) and refunded
    // it; the webhook that follows finds the refund decided and does nothing more.
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    ctx.deliver(&event).await.expect(200);
    ctx.deliver(&event).await.expect(200);
    let late = ctx.fetch_order(&ctx.customer, &paid_late).await;
    assert_eq!(late["status"], "expired");
    assert_eq!(late["payment"]["refund_status"], "succeeded", "{late}");
    assert!(
        late["history"].as_array().unwrap().iter().any(|h| h["note"].as_str().is_some_and(|n| n.contains("refund")))
    );
    let pi = paid_late["payment"]["payment_intent_id"].as_str().unwrap();
    let refunds = local::stripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(ctx.stock(&mug).await, 8);
}

#[tokio::test]
async fn a_success_that_arrives_after_a_cancellation_is_refunded_once() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    // Cancelled by an admin while the customer's payment is in flight: the intent is
    // cancelled first, so simulate a payment that Stripe still reports as succeeded.
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    ctx.request("POST", &format!("/orders/{}/cancel", id(&order))).auth(&ctx.admin).send().await.expect(200);
    let mut intent = local::stripe::get_intent(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    intent["status"] = json!("succeeded");
    let events: Vec<Value> = (0..3).map(|_| ctx.stripe_event("payment_intent.succeeded", &intent)).collect();
    let deliveries = events.iter().map(|event| ctx.deliver(event));
    for response in futures::future::join_all(deliveries).await {
        response.expect(200);
    }
    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["status"], "cancelled");
    // localstripe refuses to refund a cancelled intent, so the refund stays pending for
    // the sweeper; what matters here is that it was decided exactly once.
    assert!(after["payment"]["refund_status"].is_string(), "{after}");
    let notes = after["history"].as_array().unwrap().iter().filter(|h| h["note"].is_string()).count();
    assert!(notes <= 1, "{after}");
}

#[tokio::test]
async fn bad_input_on_every_order_route_is_a_problem_4xx_that_changes_nothing() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    // Lists: tampered, foreign and garbage cursors, bad limits.
    for path in ["/orders", "/maker/orders"] {
        for (name, value) in
            [("cursor", "e30.AAAA"), ("cursor", "not-a-cursor"), ("limit", "0"), ("limit", "x"), ("limit", "101")]
        {
            let response = ctx.get(path).auth(&ctx.maker).query(name, value).send().await;
            assert_eq!(response.invalid_fields(), vec![name.to_owned()], "{path} {name}={value}");
        }
    }
    // A maker's cursor does not open another maker's list.
    let other = ctx.create_product(&ctx.other_maker, json!({"stock": 5})).await;
    ctx.order(&ctx.customer, &[(other["id"].as_str().unwrap(), 1)]).await;
    ctx.order(&ctx.customer, &[(other["id"].as_str().unwrap(), 1)]).await;
    let page = ctx.get("/maker/orders").auth(&ctx.other_maker).query("limit", "1").send().await.json();
    let cursor = page["next_cursor"].as_str().unwrap();
    ctx.get("/maker/orders").auth(&ctx.maker).query("limit", "1").query("cursor", cursor).send().await.problem(400);
    // The webhook: an oversized body is a 413 before any verification.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    ctx.deliver_raw(&huge, "t=1,v1=00").await.problem(413);
    // Cancel takes no body; whatever comes is ignored, and a bad id is a 404.
    ctx.request("POST", "/orders/ord_x/cancel")
        .auth(&ctx.customer)
        .raw_body("application/json", "{")
        .send()
        .await
        .problem(404);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
    assert_eq!(ctx.stock(&mug).await, 4);
}

#[tokio::test]
async fn the_payment_expirer_runs_on_its_sample_schedule_event() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 3).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    let report = payment_expirer::handle(&ctx.app, e2e::sample_event("payment-expirer")).await.unwrap();
    assert_eq!(report, json!({"expired": 1, "refunds_retried": 0, "skipped": 0}));
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "expired");
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    let intent = local::stripe::get_intent(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    assert_eq!(intent["status"], "canceled");
    assert_eq!(ctx.stock(&mug).await, 3);
}
