//! Refunds that really finish: a refund Stripe refused is retried under a new key, one
//! Stripe reports pending is followed until it settles, one Stripe fails (or that keeps being
//! refused) ends `failed` for an admin to see and is not retried, and slow expirations do not
//! keep a refund waiting. Stripe's refunds are localstripe's, through the project's launcher
//! (`local/py/_refunds.py`: Stripe's refund test cards, refusals and delays per intent).

use e2e::TestContext;
use local::stripe::{self as localstripe, TestCard};
use serde_json::{Value, json};
use shared::domain::order::{MAX_REFUND_ATTEMPTS, refund_retry_after};
use std::time::{Duration, Instant};

async fn product(ctx: &TestContext) -> String {
    ctx.create_product(&ctx.maker, json!({"stock": 50, "price_cents": 2500})).await["id"].as_str().unwrap().to_owned()
}

fn id(order: &Value) -> &str {
    order["id"].as_str().unwrap()
}

fn intent(order: &Value) -> &str {
    order["payment"]["payment_intent_id"].as_str().unwrap()
}

/// Places an order of `quantity` mugs and pays it at localstripe with `card`, webhook
/// delivered: the order, paid.
async fn paid_with(ctx: &TestContext, mug: &str, quantity: u64, card: TestCard) -> Value {
    let order = ctx.order(&ctx.customer, &[(mug, quantity)]).await;
    let paid = ctx.confirm_at_stripe(&order, card).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    ctx.deliver(&ctx.stripe_event("payment_intent.succeeded", &paid)).await.expect(200);
    let order = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(order["status"], "paid", "{order}");
    order
}

/// Cancels `order` as its customer: the answer's body.
async fn cancel(ctx: &TestContext, order: &Value) -> Value {
    let response = ctx.request("POST", &format!("/orders/{}/cancel", id(order))).auth(&ctx.customer).send().await;
    response.expect(200);
    response.json()
}

/// The order as an admin sees it (with `payment.refund`), through `GET /orders/{id}`.
async fn as_admin(ctx: &TestContext, order: &Value) -> Value {
    ctx.fetch_order(&ctx.admin, order).await
}

/// What an admin's `GET /orders/{id}` shows, read from the store: for after the test clock
/// went further than the test users' tokens live.
async fn stored(ctx: &TestContext, order: &Value) -> Value {
    let id = shared::domain::OrderId::parse(id(order)).unwrap();
    serde_json::to_value(ctx.app.store.order(&id).await.unwrap().unwrap().for_admin()).unwrap()
}

async fn refunds_at_stripe(ctx: &TestContext, order: &Value) -> Vec<Value> {
    localstripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, intent(order)).await.unwrap()
}

/// The refund as localstripe has it, once it is no longer `from` (the launcher settles its
/// test cards' refunds a few seconds after they were made).
async fn settled_at_stripe(ctx: &TestContext, refund_id: &str, from: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let refund =
            localstripe::get_refund(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, refund_id).await.unwrap();
        if refund["status"] != from {
            return refund;
        }
        assert!(Instant::now() < deadline, "localstripe never settled {refund}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One payment expirer run, `by` later.
async fn expirer_after(ctx: &TestContext, by: Duration) -> shared::orders::ExpiryReport {
    ctx.clock.advance(by);
    shared::orders::expire_due(&ctx.app, 100).await.unwrap()
}

fn notes(order: &Value) -> Vec<&str> {
    order["history"].as_array().unwrap().iter().filter_map(|h| h["note"].as_str()).collect()
}

#[tokio::test]
async fn a_refund_stripe_refused_is_retried_under_a_new_key_and_records_the_attempt_that_made_it() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx).await;
    let order = paid_with(&ctx, &mug, 2, TestCard::Visa).await;
    // Stripe refuses the first refund (the account's balance cannot cover it), a definite
    // answer it keeps under the request's Idempotency-Key.
    localstripe::refuse_refunds(&ctx.stripe_api_base(), intent(&order), "balance_insufficient", 1).await.unwrap();

    let cancelled = cancel(&ctx, &order).await;
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["payment"]["refund_status"].as_str()),
        (Some("cancelled"), Some("pending"))
    );
    assert!(cancelled["payment"].get("refund").is_none(), "the customer sees no internals: {cancelled}");
    let admin = as_admin(&ctx, &order).await;
    let refund = &admin["payment"]["refund"];
    assert_eq!((refund["attempts"].as_u64(), refund["key_attempt"].as_u64()), (Some(1), Some(2)), "{admin}");
    assert!(refund["last_error"].as_str().is_some_and(|e| e.contains("balance_insufficient")), "{admin}");
    assert!(refunds_at_stripe(&ctx, &order).await.is_empty());

    // Not due yet; then due: the second attempt, under its own key, makes the refund.
    assert_eq!(expirer_after(&ctx, Duration::ZERO).await.refunds_retried, 0);
    let report = expirer_after(&ctx, refund_retry_after(1) + Duration::from_secs(1)).await;
    assert_eq!((report.refunds_retried, report.refunds_failed), (1, 0), "{report:?}");

    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["payment"]["refund_status"], "succeeded", "{after}");
    let refunds = refunds_at_stripe(&ctx, &order).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!((refunds[0]["amount"].as_u64(), refunds[0]["status"].as_str()), (Some(2 * 2500), Some("succeeded")));
    assert_eq!(after["payment"]["refund_id"], refunds[0]["id"]);
    let admin = as_admin(&ctx, &order).await;
    let refund = &admin["payment"]["refund"];
    assert_eq!(refund["succeeded_attempt"], 2, "the record says which attempt made it: {admin}");
    assert_eq!((refund["attempts"].as_u64(), refund["stripe_status"].as_str()), (Some(2), Some("succeeded")));
    // Done: off the due index, nothing more to try.
    assert_eq!(expirer_after(&ctx, Duration::from_secs(24 * 3600)).await.refunds_retried, 0);
    assert_eq!(refunds_at_stripe(&ctx, &order).await.len(), 1);
}

#[tokio::test]
async fn a_refund_stripe_reports_pending_is_followed_until_it_settles_and_made_once() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx).await;
    let by_expirer = paid_with(&ctx, &mug, 1, TestCard::PendingRefund).await;
    let by_webhook = paid_with(&ctx, &mug, 3, TestCard::PendingRefund).await;

    let cancelled = cancel(&ctx, &by_expirer).await;
    assert_eq!(cancelled["payment"]["refund_status"], "pending", "a 2xx is not a refund: {cancelled}");
    let admin = as_admin(&ctx, &by_expirer).await;
    assert_eq!(admin["payment"]["refund"]["stripe_status"], "pending", "{admin}");
    let refund_id = admin["payment"]["refund_id"].as_str().unwrap().to_owned();
    assert!(refund_id.starts_with("re_"), "{admin}");
    // The expirer reads the refund again (still pending, or settled if the launcher was
    // quick): one look, never a second refund.
    let first = expirer_after(&ctx, refund_retry_after(1) + Duration::from_secs(1)).await;
    assert_eq!(first.refunds_retried, 1, "{first:?}");
    assert_eq!(refunds_at_stripe(&ctx, &by_expirer).await.len(), 1);

    // The other one is settled by Stripe's webhook, delivered twice.
    let cancelled = cancel(&ctx, &by_webhook).await;
    assert_eq!(cancelled["payment"]["refund_status"], "pending", "{cancelled}");
    let webhook_refund_id = cancelled["payment"]["refund_id"].as_str().unwrap().to_owned();
    let settled = settled_at_stripe(&ctx, &webhook_refund_id, "pending").await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    let event = ctx.stripe_event("charge.refund.updated", &settled);
    ctx.deliver(&event).await.expect(200);
    ctx.deliver(&event).await.expect(200);
    let after = ctx.fetch_order(&ctx.customer, &by_webhook).await;
    assert_eq!(after["payment"]["refund_status"], "succeeded", "the webhook settled it: {after}");

    // The first, settled at Stripe too: the expirer's next look records it.
    assert_eq!(settled_at_stripe(&ctx, &refund_id, "pending").await["status"], "succeeded");
    expirer_after(&ctx, Duration::from_secs(6 * 3600)).await;
    for (order, quantity) in [(&by_expirer, 1), (&by_webhook, 3)] {
        let after = stored(&ctx, order).await;
        assert_eq!(after["payment"]["refund_status"], "succeeded", "{after}");
        assert_eq!(after["payment"]["refund"]["stripe_status"], "succeeded", "{after}");
        assert_eq!(after["payment"]["refund"]["attempts"], 1, "one request, then reads: {after}");
        assert_eq!(notes(&after).iter().filter(|n| n.starts_with("payment refunded")).count(), 1, "{after}");
        let refunds = refunds_at_stripe(&ctx, order).await;
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(refunds[0]["id"], after["payment"]["refund_id"]);
        assert_eq!(
            (refunds[0]["amount"].as_u64(), refunds[0]["status"].as_str()),
            (Some(quantity * 2500), Some("succeeded"))
        );
    }
    // Settled: nothing left to follow.
    assert_eq!(expirer_after(&ctx, Duration::from_secs(24 * 3600)).await.refunds_retried, 0);
}

#[tokio::test]
async fn a_refund_stripe_fails_is_failed_for_admins_and_never_retried() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx).await;
    let order = paid_with(&ctx, &mug, 2, TestCard::RefundFails).await;
    // Stripe first reports this card's refund succeeded, then fails it.
    let cancelled = cancel(&ctx, &order).await;
    assert_eq!(cancelled["payment"]["refund_status"], "succeeded", "{cancelled}");
    let refund_id = cancelled["payment"]["refund_id"].as_str().unwrap().to_owned();
    let failed = settled_at_stripe(&ctx, &refund_id, "succeeded").await;
    assert_eq!(failed["status"], "failed", "{failed}");

    let event = ctx.stripe_event("charge.refund.updated", &failed);
    ctx.deliver(&event).await.expect(200);
    let customer_view = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(customer_view["payment"]["refund_status"], "failed", "{customer_view}");
    assert!(customer_view["payment"].get("refund").is_none(), "no Stripe internals for the customer: {customer_view}");
    assert!(!customer_view.to_string().contains("expired_or_canceled_card"), "{customer_view}");
    let listed = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert!(!listed.to_string().contains("expired_or_canceled_card"), "{listed}");
    let maker_view = ctx.fetch_order(&ctx.maker, &order).await;
    assert!(maker_view.get("payment").is_none(), "{maker_view}");
    let admin = as_admin(&ctx, &order).await;
    let refund = &admin["payment"]["refund"];
    assert_eq!(
        (refund["stripe_status"].as_str(), refund["failure_reason"].as_str()),
        (Some("failed"), Some("expired_or_canceled_card")),
        "{admin}"
    );
    assert_eq!(notes(&admin).last(), Some(&"refund failed"), "{admin}");

    // The event again (and the refund.updated twin): nothing changes.
    ctx.deliver(&event).await.expect(200);
    ctx.deliver(&ctx.stripe_event("refund.updated", &failed)).await.expect(200);
    assert_eq!(as_admin(&ctx, &order).await, admin);
    // Final: no retry, ever; and no second refund at Stripe.
    assert_eq!(expirer_after(&ctx, Duration::from_secs(24 * 3600)).await.refunds_retried, 0);
    assert_eq!(refunds_at_stripe(&ctx, &order).await.len(), 1);
}

#[tokio::test]
async fn a_refund_stripe_keeps_refusing_is_failed_after_the_attempts_allowed_with_backoff() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx).await;
    let order = paid_with(&ctx, &mug, 1, TestCard::Visa).await;
    localstripe::refuse_refunds(&ctx.stripe_api_base(), intent(&order), "charge_disputed", 1000).await.unwrap();
    assert_eq!(cancel(&ctx, &order).await["payment"]["refund_status"], "pending");

    let mut runs = 0;
    for attempt in 1..MAX_REFUND_ATTEMPTS {
        // Backoff: a minute after the first attempt, doubling; never every minute.
        if attempt > 1 {
            let early = expirer_after(&ctx, refund_retry_after(attempt) / 2).await;
            assert_eq!(early.refunds_retried, 0, "attempt {attempt} came early: {early:?}");
        }
        let report = expirer_after(&ctx, refund_retry_after(attempt) + Duration::from_secs(1)).await;
        assert_eq!(report.refunds_retried, 1, "after attempt {attempt}: {report:?}");
        runs += 1;
        let admin = stored(&ctx, &order).await;
        let done = admin["payment"]["refund_status"] == "failed";
        assert_eq!(done, attempt + 1 == MAX_REFUND_ATTEMPTS, "after attempt {}: {admin}", attempt + 1);
        assert_eq!(report.refunds_failed, usize::from(done));
    }
    assert_eq!(runs, MAX_REFUND_ATTEMPTS - 1);
    let admin = stored(&ctx, &order).await;
    let refund = &admin["payment"]["refund"];
    assert_eq!(refund["attempts"], MAX_REFUND_ATTEMPTS, "{admin}");
    // A definite answer each time: each attempt had its own key (the next would be the 9th).
    assert_eq!(refund["key_attempt"], MAX_REFUND_ATTEMPTS + 1, "a new key each time: {admin}");
    assert!(refund.get("next_try_at").is_none(), "nothing more to try: {admin}");
    assert!(refund["last_error"].as_str().is_some_and(|e| e.contains("charge_disputed")), "{admin}");
    // Given up: no more requests, however long we wait.
    assert_eq!(expirer_after(&ctx, Duration::from_secs(7 * 24 * 3600)).await.refunds_retried, 0);
    assert!(refunds_at_stripe(&ctx, &order).await.is_empty());
}

/// 200 slow expirations must not keep a refund waiting: the two kinds each have their share
/// of a run. Scaled down: orders whose intents localstripe answers 2 s late, few at a time,
/// a short time budget, and a run cut off (as Lambda would) well before all could expire.
#[tokio::test]
async fn slow_expirations_do_not_starve_a_due_refund_within_one_run() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx).await;
    let base = ctx.stripe_api_base();
    // A refund due for its retry: the first attempt was refused.
    let paid = paid_with(&ctx, &mug, 1, TestCard::Visa).await;
    localstripe::refuse_refunds(&base, intent(&paid), "balance_insufficient", 1).await.unwrap();
    assert_eq!(cancel(&ctx, &paid).await["payment"]["refund_status"], "pending");
    // Unpaid orders whose every Stripe call takes 2 s: each expiry reads and cancels its intent.
    // Spread over three customers: a customer may hold only a few unpaid orders at once.
    let mut unpaid = Vec::new();
    for i in 0..8 {
        let who = [&ctx.other_customer, &ctx.admin, &ctx.other_maker][i % 3];
        let order = ctx.order(who, &[(&mug, 1)]).await;
        localstripe::delay_intent(&base, intent(&order), 2.0).await.unwrap();
        unpaid.push(order);
    }
    ctx.clock.advance(shared::config::DEFAULT_PAYMENT_WINDOW + Duration::from_secs(1));

    let budget = shared::orders::ExpirerBudget {
        batch: 200,
        expiry_concurrency: 2,
        refund_concurrency: 1,
        time: Duration::from_secs(1),
    };
    // All eight would take 8 × 4 s / 2 = 16 s; the "function" times out after 12.
    let started = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(12), shared::orders::expire_due_within(&ctx.app, budget))
        .await
        .expect("the run ends within its function's timeout")
        .unwrap();
    let elapsed = started.elapsed();
    for order in &unpaid {
        localstripe::delay_intent(&base, intent(order), 0.0).await.unwrap();
    }
    assert_eq!(report.refunds_retried, 1, "the refund had its turn: {report:?}");
    let after = ctx.fetch_order(&ctx.customer, &paid).await;
    assert_eq!(after["payment"]["refund_status"], "succeeded", "{after}");
    assert!(report.expired >= 1 && report.deferred >= 1, "{report:?}");
    assert_eq!(report.expired + report.deferred + report.skipped, unpaid.len(), "{report:?}");
    eprintln!("one run: {report:?} in {elapsed:?}");
    // The next run takes what was left.
    let rest = shared::orders::expire_due(&ctx.app, 200).await.unwrap();
    assert_eq!(report.expired + rest.expired, unpaid.len(), "{rest:?}");
}
