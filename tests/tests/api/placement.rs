//! Placing orders at the edges of what the store keeps and holds: idempotency records that
//! expire, and the largest order a placing transaction (100 items) can write.

use e2e::{TestContext, order_body};
use serde_json::{Value, json};
use shared::auth::Principal;
use shared::domain::order::MAX_MAKERS;
use shared::domain::{ProductId, Role, UserId};
use shared::store::IDEMPOTENCY_TTL;
use std::time::Duration;

/// An `Idempotency-Key` is kept 24 hours. Within them the same request replays the first
/// order; after them the key is free: the same request makes a new order (the record TTL has
/// not deleted yet is replaced), and the key then replays that one.
///
/// Called on the use case, because the test clock moves a day and the users' access tokens
/// (checked against that clock) last an hour.
#[tokio::test]
async fn an_idempotency_key_reused_after_it_expired_makes_a_new_order() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 10})).await["id"].as_str().unwrap().to_owned();
    let ada = Principal {
        user_id: UserId::new(ctx.customer.sub.clone()),
        username: ctx.customer.username.clone(),
        roles: vec![Role::Customer],
    };
    let place = |body: Value| shared::orders::place(&ctx.app, &ada, body, Some("daily-key"));
    ctx.clock.freeze();

    let first = place(order_body(&[(&mug, 1)])).await.unwrap();
    assert!(!first.replayed);
    ctx.clock.advance(IDEMPOTENCY_TTL - Duration::from_secs(1));
    let within = place(order_body(&[(&mug, 1)])).await.unwrap();
    assert!(within.replayed, "a second before it expires, the key still replays");
    assert_eq!(within.order.id, first.order.id);

    ctx.clock.advance(Duration::from_secs(1));
    let after = place(order_body(&[(&mug, 1)])).await.unwrap();
    assert!(!after.replayed, "an expired key makes a new order");
    assert_ne!(after.order.id, first.order.id);
    let again = place(order_body(&[(&mug, 1)])).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.order.id, after.order.id, "the key now names the new order");

    // Expired with another body: a new order too, not a 422.
    ctx.clock.advance(IDEMPOTENCY_TTL);
    let other = place(order_body(&[(&mug, 3)])).await.unwrap();
    assert!(!other.replayed);
    // (Read from the store: the admin's token has expired on the test clock too.)
    let id = ProductId::parse(&mug).unwrap();
    let stock = ctx.app.store.get_product(&id, shared::store::Read::Latest).await.unwrap().map(|p| p.stock);
    assert_eq!(stock, Some(10 - 1 - 1 - 3), "three orders made, each reserved once");
}

/// `n` products of `n` distinct makers (made up: the store takes any maker id), each a
/// copy of a product the test maker created through the API, priced 1 €, stock 5.
async fn products_of_distinct_makers(ctx: &TestContext, n: usize) -> Vec<String> {
    let template = ctx.create_product(&ctx.maker, json!({"stock": 5, "price_cents": 100})).await;
    let template_id = ProductId::parse(template["id"].as_str().unwrap()).unwrap();
    let template = ctx.app.store.get_product(&template_id, shared::store::Read::Latest).await.unwrap().unwrap();
    let mut ids = vec![template.id.as_str().to_owned()];
    for i in 1..n {
        let mut product = template.clone();
        product.id = ProductId::generate();
        product.maker_id = UserId::new(format!("maker-{i:02}-{}", e2e::unique("cap")));
        ctx.app.store.create_product(&product, &format!("maker-{i:02}")).await.unwrap();
        ids.push(product.id.as_str().to_owned());
    }
    ids
}

/// A placing transaction writes the order, one index item per maker, one stock update per
/// line, the idempotency record and the customer's unpaid-orders item: 1 + 47 + 50 + 1 + 1
/// = 100, DynamoDB's limit. So an order of 50 lines from 47 makers, with a key, is placed
/// (and cancelled: 1 + 47 + 50 + 1 items), and one from 48 makers is a 400 naming `items`,
/// with nothing reserved.
#[tokio::test]
async fn an_order_may_hold_products_of_47_makers_and_not_48() {
    assert_eq!(MAX_MAKERS, 47);
    let ctx = TestContext::new().await;
    let of_makers = products_of_distinct_makers(&ctx, 48).await;
    // 47 makers, the test maker (the first) with three more products: 50 lines.
    let mut lines: Vec<String> = of_makers[..47].to_vec();
    for _ in 0..3 {
        let more = ctx.create_product(&ctx.maker, json!({"stock": 5, "price_cents": 100})).await;
        lines.push(more["id"].as_str().unwrap().to_owned());
    }
    let body = order_body(&lines.iter().map(|id| (id.as_str(), 1)).collect::<Vec<_>>());
    let placed =
        ctx.request("POST", "/orders").auth(&ctx.customer).header("idempotency-key", "cap-47").json(&body).send().await;
    placed.expect(201);
    let order = placed.json();
    let makers: std::collections::BTreeSet<&str> =
        order["items"].as_array().unwrap().iter().filter_map(|l| l["maker_id"].as_str()).collect();
    assert_eq!((order["items"].as_array().map(Vec::len), makers.len()), (Some(50), 47), "{order}");
    for id in &lines {
        assert_eq!(ctx.stock(id).await, 4, "{id}");
    }
    let path = format!("/orders/{}/cancel", order["id"].as_str().unwrap());
    ctx.request("POST", &path).auth(&ctx.customer).send().await.expect(200);
    for id in &lines {
        assert_eq!(ctx.stock(id).await, 5, "{id}");
    }

    let too_many = order_body(&of_makers.iter().map(|id| (id.as_str(), 1)).collect::<Vec<_>>());
    let refused = ctx.place_order(&ctx.customer, &too_many).await;
    assert_eq!(refused.invalid_fields(), vec!["items"], "{}", refused.text());
    for id in &of_makers {
        assert_eq!(ctx.stock(id).await, 5, "{id}");
    }
}
