//! After placing: who sees and cancels what, Stripe's webhooks applied once, declined cards,
//! refunds, expiry.

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

/// The notes of an order's history, in order.
fn notes(order: &Value) -> Vec<&str> {
    order["history"].as_array().unwrap().iter().filter_map(|h| h["note"].as_str()).collect()
}

/// The statuses an order's history entered (its notes left out).
fn statuses(order: &Value) -> Vec<&str> {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["note"].is_null())
        .filter_map(|h| h["status"].as_str())
        .collect()
}

async fn intent_at_stripe(ctx: &TestContext, order: &Value) -> Value {
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    local::stripe::get_intent(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap()
}

async fn refunds_at_stripe(ctx: &TestContext, order: &Value) -> Vec<Value> {
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    local::stripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap()
}

#[tokio::test]
async fn a_declined_card_keeps_the_order_waiting_with_its_stock_and_a_replay_changes_nothing() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    assert_eq!(order["payment"]["failed_attempts"], 0, "{order}");
    // localstripe declines the card and sends its event.
    let intent = ctx.confirm_at_stripe(&order, TestCard::Declined).await;
    assert_eq!(intent["last_payment_error"]["code"], "card_declined", "{intent}");
    let event = ctx.stripe_event("payment_intent.payment_failed", &intent);
    ctx.deliver(&event).await.expect(200);

    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["status"], "pending_payment", "{after}");
    assert_eq!(after["payment"]["failed_attempts"], 1, "{after}");
    // Stripe's test card 4000 0000 0000 0002 is `card_declined` with the bank's
    // `decline_code` `generic_decline`; the bank's code is the one recorded.
    assert_eq!(after["payment"]["last_error"]["code"], "generic_decline", "{after}");
    let message = after["payment"]["last_error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("declined") && message.contains("another card"), "{after}");
    assert_eq!(notes(&after), ["payment attempt 1 declined"]);
    assert_eq!(statuses(&after), ["pending_payment"]);
    assert_eq!(ctx.stock(&mug).await, 3, "the stock stays held for the next attempt");
    assert_eq!(intent_at_stripe(&ctx, &order).await["status"], "requires_payment_method", "still payable");

    // The same event again, twice at once: it had its effect.
    for response in futures::future::join_all([ctx.deliver(&event), ctx.deliver(&event)]).await {
        response.expect(200);
    }
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await, after, "a replay changes nothing");
    assert_eq!(ctx.stock(&mug).await, 3);
    // Still the customer's to cancel, which gives the stock back.
    ctx.request("POST", &format!("/orders/{}/cancel", id(&order))).auth(&ctx.customer).send().await.expect(200);
    assert_eq!(ctx.stock(&mug).await, 5);
}

#[tokio::test]
async fn a_declined_card_then_a_good_one_pays_the_same_order_and_nothing_is_refunded() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    let declined = ctx.decline(&order).await;
    let paid = ctx.pay(&order).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert_eq!(paid["payment"]["failed_attempts"], 1, "{paid}");
    assert_eq!(statuses(&paid), ["pending_payment", "paid"]);
    assert_eq!(ctx.stock(&mug).await, 3);
    // The decline, delivered again after the success, or late under another event id.
    ctx.deliver(&declined).await.expect(200);
    let mut late = declined.clone();
    late["id"] = json!(format!("evt_{}", ulid::Ulid::new()));
    ctx.deliver(&late).await.expect(200);

    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after, paid, "nothing changes once paid");
    assert!(after["payment"]["refund_status"].is_null(), "{after}");
    assert!(refunds_at_stripe(&ctx, &order).await.is_empty(), "never refunded");
    assert_eq!(intent_at_stripe(&ctx, &order).await["status"], "succeeded");
    let orders = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(1), "one order: {orders}");
    assert_eq!(ctx.stock(&mug).await, 3);
}

#[tokio::test]
async fn five_declines_fail_the_order_release_its_stock_and_cancel_its_intent() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    // localstripe's own decline first, then those it cannot make (see `TestContext::decline`).
    let intent = ctx.confirm_at_stripe(&order, TestCard::Declined).await;
    ctx.deliver(&ctx.stripe_event("payment_intent.payment_failed", &intent)).await.expect(200);
    for attempt in 1..=4 {
        if attempt > 1 {
            ctx.decline(&order).await;
        }
        let after = ctx.fetch_order(&ctx.customer, &order).await;
        assert_eq!(
            (after["status"].as_str(), after["payment"]["failed_attempts"].as_u64()),
            (Some("pending_payment"), Some(attempt)),
            "{after}"
        );
        assert_eq!(ctx.stock(&mug).await, 3, "attempt {attempt}");
    }
    assert_eq!(intent_at_stripe(&ctx, &order).await["status"], "requires_payment_method");
    let fifth = ctx.decline(&order).await;

    let failed = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(failed["status"], "payment_failed", "{failed}");
    assert_eq!(failed["payment"]["failed_attempts"], 5, "{failed}");
    assert_eq!(failed["payment"]["last_error"]["code"], "insufficient_funds", "the issuer's reason: {failed}");
    let expected: Vec<String> = (1..=5).map(|n| format!("payment attempt {n} declined")).collect();
    assert_eq!(notes(&failed), expected);
    assert_eq!(statuses(&failed), ["pending_payment", "payment_failed"]);
    assert_eq!(failed["history"].as_array().unwrap().last().unwrap()["status"], "payment_failed");
    assert_eq!(ctx.stock(&mug).await, 5, "the stock is released");
    assert_eq!(intent_at_stripe(&ctx, &order).await["status"], "canceled", "no sixth attempt can pay it");

    // The fifth again, or a sixth: nothing changes; the customer can no longer cancel.
    ctx.deliver(&fifth).await.expect(200);
    let mut sixth = fifth.clone();
    sixth["id"] = json!(format!("evt_{}", ulid::Ulid::new()));
    ctx.deliver(&sixth).await.expect(200);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await, failed);
    ctx.request("POST", &format!("/orders/{}/cancel", id(&order))).auth(&ctx.customer).send().await.problem(409);
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
    for _ in 0..shared::domain::order::MAX_FAILED_ATTEMPTS {
        ctx.decline(&failed).await;
    }
    assert_eq!(ctx.fetch_order(&ctx.customer, &failed).await["status"], "payment_failed");
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
async fn unpaid_orders_expire_releasing_their_stock_and_one_paid_in_time_is_paid_not_refunded() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10).await;
    let unpaid = ctx.order(&ctx.customer, &[(&mug, 4)]).await;
    let paid_late = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let paid_in_time = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.pay(&paid_in_time).await;
    assert_eq!(ctx.stock(&mug).await, 3);
    // Nothing is due yet.
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!((report.expired, report.paid), (0, 0));
    // The payment is confirmed at Stripe before the window closes, its webhook arrives after
    // the expirer came.
    let intent = ctx.confirm_at_stripe(&paid_late, TestCard::Visa).await;
    assert_eq!(intent["status"], "succeeded");
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!((report.expired, report.paid), (1, 1), "{report:?}");
    assert_eq!(ctx.fetch_order(&ctx.customer, &unpaid).await["status"], "expired");
    assert_eq!(intent_at_stripe(&ctx, &unpaid).await["status"], "canceled");
    assert_eq!(ctx.fetch_order(&ctx.customer, &paid_in_time).await["status"], "paid");
    let found_paid = ctx.fetch_order(&ctx.customer, &paid_late).await;
    assert_eq!(found_paid["status"], "paid", "paid in time: not expired, {found_paid}");
    assert_eq!(statuses(&found_paid), ["pending_payment", "paid"]);
    assert_eq!(ctx.stock(&mug).await, 7, "only the unpaid order's stock came back");
    // A second run finds nothing more to do.
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!((report.expired, report.paid), (0, 0));

    // The late webhook, delivered twice, finds the order paid and does nothing: no second
    // `paid`, no refund.
    let event = ctx.stripe_event("payment_intent.succeeded", &intent);
    ctx.deliver(&event).await.expect(200);
    ctx.deliver(&event).await.expect(200);
    let late = ctx.fetch_order(&ctx.customer, &paid_late).await;
    assert_eq!(late, found_paid, "the late webhook changes nothing");
    assert!(late["payment"]["refund_status"].is_null(), "{late}");
    assert!(refunds_at_stripe(&ctx, &paid_late).await.is_empty(), "never refunded");
    assert_eq!(ctx.stock(&mug).await, 7);
}

/// When Stripe cannot say whether a due order was paid, the expirer leaves it for its next
/// run rather than risk refunding a payment made in time.
#[tokio::test]
async fn the_expirer_leaves_an_order_waiting_while_stripe_cannot_be_asked() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 3).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));
    let port = local::emulators::free_port().unwrap();
    let offline = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    let report = shared::orders::expire_due(&offline, 100).await.unwrap();
    assert_eq!((report.expired, report.paid), (0, 0), "{report:?}");
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
    assert_eq!(ctx.stock(&mug).await, 1);
    // Stripe back: the next run expires it.
    assert_eq!(shared::orders::expire_due(&ctx.app, 100).await.unwrap().expired, 1);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "expired");
    assert_eq!(ctx.stock(&mug).await, 3);
}

/// A payment that went through after its order was cancelled: the cancellation could not
/// cancel the intent (Stripe was unreachable), the customer's payment then succeeded at
/// Stripe, and its webhook comes — several times at once, and under another event id. The
/// money goes back exactly once, for the whole amount, and the order says so.
#[tokio::test]
async fn a_success_that_arrives_after_a_cancellation_is_refunded_once() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10).await;
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    let port = local::emulators::free_port().unwrap();
    let offline = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    let cancel = ctx.request("POST", &format!("/orders/{}/cancel", id(&order))).auth(&ctx.admin);
    ctx.send_event_to(&offline, cancel.event()).await.expect(200);
    assert_eq!(ctx.stock(&mug).await, 10);
    // Still payable at Stripe, and paid.
    let intent = ctx.confirm_at_stripe(&order, TestCard::Visa).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");

    let mut events: Vec<Value> = (0..3).map(|_| ctx.stripe_event("payment_intent.succeeded", &intent)).collect();
    events.push(events[0].clone());
    let deliveries = events.iter().map(|event| ctx.deliver(event));
    for response in futures::future::join_all(deliveries).await {
        response.expect(200);
    }
    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["payment"]["refund_status"], "succeeded", "{after}");
    let refunds = refunds_at_stripe(&ctx, &order).await;
    assert_eq!(refunds.len(), 1, "exactly one refund at Stripe: {refunds:?}");
    assert_eq!(refunds[0]["amount"], 2 * 2500, "for the whole amount: {refunds:?}");
    assert_eq!(refunds[0]["status"], "succeeded", "{refunds:?}");
    assert_eq!(after["payment"]["refund_id"], refunds[0]["id"]);
    let refunded: Vec<&str> = notes(&after).into_iter().filter(|n| n.starts_with("payment refunded")).collect();
    assert_eq!(refunded.len(), 1, "{after}");
    assert_eq!(statuses(&after), ["pending_payment", "cancelled"]);
    assert_eq!(ctx.stock(&mug).await, 10, "the stock stays released");
    // Nothing left for the sweeper.
    ctx.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(shared::orders::expire_due(&ctx.app, 100).await.unwrap().refunds_retried, 0);
    assert_eq!(refunds_at_stripe(&ctx, &order).await.len(), 1);
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
    assert_eq!(
        report,
        json!({"expired": 1, "paid": 0, "refunds_retried": 0, "refunds_failed": 0, "skipped": 0, "deferred": 0})
    );
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "expired");
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    let intent = local::stripe::get_intent(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    assert_eq!(intent["status"], "canceled");
    assert_eq!(ctx.stock(&mug).await, 3);
}
