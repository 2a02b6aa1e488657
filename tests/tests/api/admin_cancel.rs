//! An admin cancels an order for its customer: before `shipped` it is cancelled, its stock
//! released and its payment refunded; from `shipped` on it is a 409 and nothing changes.

use e2e::TestContext;
use serde_json::{Value, json};
use shared::delivery::{TickLimits, advance_due};
use std::time::Duration;

fn id(order: &Value) -> &str {
    order["id"].as_str().unwrap()
}

/// One order of `quantity` mugs, paid, then moved on by `steps` delivery ticks.
async fn order_moved_on(ctx: &TestContext, mug: &str, quantity: u64, steps: usize) -> Value {
    let order = ctx.order(&ctx.customer, &[(mug, quantity)]).await;
    ctx.pay(&order).await;
    for _ in 0..steps {
        ctx.clock.advance(ctx.app.config.delivery_dwell + Duration::from_secs(1));
        advance_due(&ctx.app, TickLimits::default()).await.unwrap();
    }
    ctx.fetch_order(&ctx.customer, &order).await
}

async fn refunds_of(ctx: &TestContext, order: &Value) -> Vec<Value> {
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    local::stripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap()
}

#[tokio::test]
async fn an_admin_cancels_paid_and_preparing_orders_with_a_refund_and_their_stock_back() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 10, "price_cents": 1500})).await;
    let mug = id(&mug).to_owned();
    let preparing = order_moved_on(&ctx, &mug, 2, 1).await;
    let paid = order_moved_on(&ctx, &mug, 3, 0).await;
    assert_eq!((paid["status"].as_str(), preparing["status"].as_str()), (Some("paid"), Some("preparing")));
    assert_eq!(ctx.stock(&mug).await, 5);

    for (order, quantity) in [(&paid, 3), (&preparing, 2)] {
        let before = ctx.stock(&mug).await;
        let response = ctx.request("POST", &format!("/orders/{}/cancel", id(order))).auth(&ctx.admin).send().await;
        response.expect(200);
        let body = response.json();
        assert_eq!(body["status"], "cancelled", "{body}");
        assert_eq!(ctx.stock(&mug).await, before + quantity, "its stock is back");
        let now = ctx.fetch_order(&ctx.customer, order).await;
        assert_eq!(now["payment"]["refund_status"], "succeeded", "{now}");
        let refunds = refunds_of(&ctx, order).await;
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(refunds[0]["amount"], order["total_cents"], "refunded in full: {refunds:?}");
        let last = now["history"].as_array().unwrap().iter().rev().find(|h| h["note"].is_null()).cloned();
        assert_eq!(last.map(|h| h["status"].clone()), Some(json!("cancelled")), "{now}");
    }
    assert_eq!(ctx.stock(&mug).await, 10);
}

#[tokio::test]
async fn an_admin_cannot_cancel_a_shipped_order_and_nothing_changes() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 10})).await;
    let mug = id(&mug).to_owned();
    let shipped = order_moved_on(&ctx, &mug, 2, 2).await;
    assert_eq!(shipped["status"], "shipped", "{shipped}");

    let refused = ctx.request("POST", &format!("/orders/{}/cancel", id(&shipped))).auth(&ctx.admin).send().await;
    refused.problem(409);
    let now = ctx.fetch_order(&ctx.customer, &shipped).await;
    assert_eq!(now["status"], "shipped", "{now}");
    assert_eq!(now["history"], shipped["history"], "no history entry");
    assert!(now["payment"]["refund_status"].is_null(), "{now}");
    assert!(refunds_of(&ctx, &shipped).await.is_empty());
    assert_eq!(ctx.stock(&mug).await, 8, "the shipped units stay sold");
}
