//! Limits that protect the stock (API.md): at most 3 unpaid orders per customer, race-safe
//! and checked before anything is reserved or Stripe is called; no order over Stripe's
//! largest charge; no invisible formatting characters in text.

use e2e::{TestContext, order_body};
use serde_json::{Value, json};

async fn product(ctx: &TestContext, stock: u64, price: u64) -> String {
    let p = ctx.create_product(&ctx.maker, json!({"stock": stock, "price_cents": price})).await;
    p["id"].as_str().unwrap().to_owned()
}

/// A copy of the stack whose Stripe is a port nobody listens on: an answer other than a
/// 5xx from it proves Stripe was not called.
fn without_stripe(ctx: &TestContext) -> shared::App {
    let port = local::emulators::free_port().unwrap();
    ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"))
}

async fn place_via(ctx: &TestContext, app: &shared::App, body: &Value) -> e2e::TestResponse {
    ctx.send_event_to(app, ctx.request("POST", "/orders").auth(&ctx.customer).json(body).event()).await
}

#[tokio::test]
async fn a_fourth_unpaid_order_is_a_409_before_anything_is_reserved_or_stripe_is_called() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 20, 2400).await;
    let orders: Vec<Value> = {
        let mut placed = Vec::new();
        for _ in 0..3 {
            placed.push(ctx.order(&ctx.customer, &[(&mug, 1)]).await);
        }
        placed
    };
    assert_eq!(ctx.stock(&mug).await, 17);

    let offline = without_stripe(&ctx);
    let fourth = place_via(&ctx, &offline, &order_body(&[(&mug, 1)])).await;
    let problem = fourth.problem(409);
    assert!(problem["type"].as_str().unwrap().ends_with("/unpaid-orders-limit"), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("3 unpaid orders"), "{problem}");
    assert_eq!(ctx.stock(&mug).await, 17, "nothing reserved");
    assert_eq!(ctx.get("/orders").auth(&ctx.customer).send().await.json()["items"].as_array().map(Vec::len), Some(3));
    // Another customer is not affected.
    ctx.order(&ctx.other_customer, &[(&mug, 1)]).await;

    // Paying one frees a place; so does cancelling one.
    ctx.pay(&orders[0]).await;
    let fifth = ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    place_via(&ctx, &offline, &order_body(&[(&mug, 1)])).await.problem(409);
    let id = orders[1]["id"].as_str().unwrap();
    ctx.request("POST", &format!("/orders/{id}/cancel")).auth(&ctx.customer).send().await.expect(200);
    ctx.order(&ctx.customer, &[(&mug, 1)]).await;
    place_via(&ctx, &offline, &order_body(&[(&mug, 1)])).await.problem(409);
    // A replay of a placed order is not a new order: its key still answers.
    assert_eq!(fifth["status"], "pending_payment");
}

#[tokio::test]
async fn ten_concurrent_orders_from_one_customer_make_at_most_three() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 100, 2400).await;
    let body = order_body(&[(&mug, 2)]);
    let answers = futures::future::join_all((0..10).map(|_| ctx.place_order(&ctx.customer, &body))).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let placed = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(placed, 3, "{statuses:?}");
    for refused in answers.iter().filter(|r| r.status != 201) {
        let problem = refused.problem(409);
        assert!(problem["type"].as_str().unwrap().ends_with("/unpaid-orders-limit"), "{problem}");
    }
    assert_eq!(ctx.stock(&mug).await, 100 - 3 * 2, "only the placed orders hold stock");
    let listed = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn an_order_over_stripes_largest_charge_is_a_400_naming_items_not_a_502() {
    let ctx = TestContext::new().await;
    let dear = product(&ctx, 50, 10_000_000).await;
    // 10 × 100 000.00 EUR = 1 000 000.00 EUR, one cent over 999 999.99 EUR... and more.
    let response = place_via(&ctx, &without_stripe(&ctx), &order_body(&[(&dear, 10)])).await;
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.invalid_fields(), ["items"]);
    assert!(response.text().contains("999 999.99"), "{}", response.text());
    assert_eq!(ctx.stock(&dear).await, 50);
    // Just under the limit is an order (9 × 100 000.00 EUR).
    ctx.order(&ctx.customer, &[(&dear, 9)]).await;
}

#[tokio::test]
async fn invisible_formatting_characters_are_refused_in_every_text_field() {
    let ctx = TestContext::new().await;
    // A right-to-left override that would make "gpj.exe" read as "exe.jpg".
    let create = ctx
        .request("POST", "/products")
        .auth(&ctx.maker)
        .json(&e2e::product_body(json!({"title": "Bowl \u{202E}gpj.exe"})))
        .send()
        .await;
    assert_eq!(create.invalid_fields(), ["title"]);
    let mug = product(&ctx, 5, 2400).await;
    let edit = ctx
        .request("PATCH", &format!("/products/{mug}"))
        .auth(&ctx.maker)
        .json(&json!({"description": "Zero\u{200B}width"}))
        .send()
        .await;
    assert_eq!(edit.invalid_fields(), ["description"]);
    let me = ctx
        .request("PUT", "/me")
        .auth(&ctx.maker)
        .json(&json!({"display_name": "Maria\u{2066}", "bio": "Clay\u{FEFF}"}))
        .send()
        .await;
    assert_eq!(me.invalid_fields(), ["display_name", "bio"]);
    let mut body = order_body(&[(&mug, 1)]);
    body["shipping_address"]["name"] = json!("Ada\u{200F} Lovelace");
    let order = ctx.place_order(&ctx.customer, &body).await;
    assert_eq!(order.invalid_fields(), ["shipping_address.name"]);
    assert_eq!(ctx.stock(&mug).await, 5, "nothing reserved");
    // Visible text in any script still goes through.
    let mut fine = order_body(&[(&mug, 1)]);
    fine["shipping_address"]["name"] = json!("Zoë Ñúñez 王");
    assert_eq!(ctx.place_order(&ctx.customer, &fine).await.status, 201);
}
