//! `POST /webhooks/stripe` refuses an oversized `Stripe-Signature` (API.md, "Limits that
//! protect the stock") even when it carries a valid signature, and changes nothing.

use e2e::TestContext;
use serde_json::json;
use shared::domain::Clock as _;

#[tokio::test]
async fn a_signature_header_with_nine_signatures_or_over_two_kib_is_a_400_that_changes_nothing() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 5})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    let intent = ctx.confirm_at_stripe(&order, local::stripe::TestCard::Visa).await;
    let body = ctx.stripe_event("payment_intent.succeeded", &intent).to_string();
    let secret = shared::config::Secret::new(ctx.stripe_keys.webhook_secret.clone());
    let valid = shared::payments::webhook::sign(&secret, body.as_bytes(), ctx.clock.now());

    let junk = format!(",v1={}", "0".repeat(64));
    let nine = format!("{valid}{}", junk.repeat(8));
    let long = format!("{valid},v0={}", "a".repeat(2100));
    for header in [&nine, &long] {
        let refused = ctx.deliver_raw(&body, header).await;
        refused.problem(400);
        assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "pending_payment");
    }
    // Eight signatures, one of them valid, are fine.
    ctx.deliver_raw(&body, &format!("{valid}{}", junk.repeat(7))).await.expect(200);
    assert_eq!(ctx.fetch_order(&ctx.customer, &order).await["status"], "paid");
}
