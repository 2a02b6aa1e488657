//! Placing orders: stock reserved atomically, prices from the catalogue, idempotency keys,
//! and no oversell under a rush.

use e2e::{TestContext, order_body};
use serde_json::{Value, json};

async fn product(ctx: &TestContext, stock: u64, price: u64) -> String {
    let p = ctx.create_product(&ctx.maker, json!({"stock": stock, "price_cents": price})).await;
    p["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_places_an_order_priced_from_the_catalogue_and_reserving_its_stock() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10, 2400).await;
    let vase = ctx.create_product(&ctx.other_maker, json!({"stock": 3, "price_cents": 9900})).await;
    let vase = vase["id"].as_str().unwrap();
    let response = ctx.place_order(&ctx.customer, &order_body(&[(&mug, 2), (vase, 1)])).await;
    response.expect(201);
    let order = response.json();
    let id = order["id"].as_str().unwrap();
    assert!(id.starts_with("ord_"), "{order}");
    assert_eq!(response.header("location"), Some(format!("/orders/{id}").as_str()));
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["total_cents"], 2 * 2400 + 9900);
    assert_eq!(order["currency"], "eur");
    assert_eq!(order["items"][0]["unit_price_cents"], 2400);
    assert_eq!(order["items"][0]["subtotal_cents"], 4800);
    assert_eq!(order["items"][0]["maker_id"], ctx.maker.sub.as_str());
    assert_eq!(order["items"][1]["maker_id"], ctx.other_maker.sub.as_str());
    assert_eq!(order["history"].as_array().map(Vec::len), Some(1));
    assert!(order["payment"]["payment_intent_id"].as_str().is_some_and(|p| p.starts_with("pi_")), "{order}");
    assert!(order["payment"]["client_secret"].as_str().is_some_and(|s| !s.is_empty()), "{order}");
    assert_eq!(ctx.stock(&mug).await, 8);
    assert_eq!(ctx.stock(vase).await, 2);

    // The intent at Stripe is for the order's total, in euros, naming the order.
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    let intent = local::stripe::get_intent(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    assert_eq!(intent["amount"], 2 * 2400 + 9900);
    assert_eq!(intent["currency"], "eur");
    assert_eq!(intent["metadata"]["order_id"], id);
}

#[tokio::test]
async fn client_sent_prices_are_ignored() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5, 2400).await;
    let body = json!({
        "items": [{"product_id": mug, "quantity": 1, "unit_price_cents": 1, "subtotal_cents": 1, "title": "cheap"}],
        "total_cents": 1,
        "shipping_address": e2e::address(),
    });
    let response = ctx.place_order(&ctx.customer, &body).await;
    response.expect(201);
    let order = response.json();
    assert_eq!(order["total_cents"], 2400);
    assert_eq!(order["items"][0]["unit_price_cents"], 2400);
    assert_eq!(order["items"][0]["title"], "Speckled stoneware mug");
}

#[tokio::test]
async fn a_multi_line_order_short_on_one_line_reserves_nothing_and_names_the_short_product() {
    let ctx = TestContext::new().await;
    let plenty = product(&ctx, 10, 1000).await;
    let scarce = product(&ctx, 1, 1000).await;
    let also_scarce = product(&ctx, 0, 1000).await;
    let response = ctx.place_order(&ctx.customer, &order_body(&[(&plenty, 3), (&scarce, 2), (&also_scarce, 1)])).await;
    let problem = response.problem(409);
    let named: Vec<&str> = problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(named, vec!["items[1].quantity", "items[2].quantity"], "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains(&scarce), "{problem}");
    assert_eq!(ctx.stock(&plenty).await, 10);
    assert_eq!(ctx.stock(&scarce).await, 1);
    let list = ctx.get("/orders").auth(&ctx.customer).send().await;
    assert_eq!(list.json()["items"], json!([]));
}

#[tokio::test]
async fn invalid_orders_name_every_bad_field_and_change_nothing() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5, 2400).await;
    let archived = product(&ctx, 5, 2400).await;
    ctx.request("DELETE", &format!("/products/{archived}")).auth(&ctx.maker).send().await.expect(204);
    let unknown = shared::domain::ProductId::generate();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"items": []}), vec!["items"]),
        (
            json!({"items": [{"product_id": mug, "quantity": 0}], "shipping_address": e2e::address()}),
            vec!["items[0].quantity"],
        ),
        (
            json!({"items": [{"product_id": mug, "quantity": 101}], "shipping_address": e2e::address()}),
            vec!["items[0].quantity"],
        ),
        (
            json!({"items": [{"product_id": mug, "quantity": "2"}], "shipping_address": e2e::address()}),
            vec!["items[0].quantity"],
        ),
        (
            json!({"items": [{"product_id": mug, "quantity": 1}, {"product_id": mug, "quantity": 1}], "shipping_address": e2e::address()}),
            vec!["items[1].product_id"],
        ),
        (
            json!({"items": [{"product_id": archived, "quantity": 1}], "shipping_address": e2e::address()}),
            vec!["items[0].product_id"],
        ),
        (
            json!({"items": [{"product_id": unknown.as_str(), "quantity": 1}], "shipping_address": e2e::address()}),
            vec!["items[0].product_id"],
        ),
        (
            json!({"items": [{"product_id": mug, "quantity": 1}], "shipping_address": {"name": "x"}}),
            vec!["shipping_address.line1"],
        ),
        (json!({"items": [{"product_id": mug, "quantity": 1}], "colour": "red"}), vec!["colour"]),
        // No address sent and none in the profile.
        (json!({"items": [{"product_id": mug, "quantity": 1}]}), vec!["shipping_address"]),
    ];
    for (body, fields) in cases {
        let response = ctx.place_order(&ctx.customer, &body).await;
        assert_eq!(response.invalid_fields(), fields, "{body}");
    }
    // Below Stripe's smallest charge: refused up front, not a 502 from Stripe.
    let cheap = product(&ctx, 5, 49).await;
    let response = ctx.place_order(&ctx.customer, &order_body(&[(&cheap, 1)])).await;
    assert_eq!(response.invalid_fields(), vec!["items"]);
    ctx.place_order(&ctx.customer, &order_body(&[(&cheap, 2)])).await.expect(201);
    let many: Vec<Value> = (0..51).map(|_| json!({"product_id": mug, "quantity": 1})).collect();
    let response = ctx.place_order(&ctx.customer, &json!({"items": many, "shipping_address": e2e::address()})).await;
    assert!(response.invalid_fields().contains(&"items".to_owned()));
    ctx.request("POST", "/orders")
        .auth(&ctx.customer)
        .raw_body("application/json", "{\"items\": [")
        .send()
        .await
        .problem(400);
    ctx.request("POST", "/orders").auth(&ctx.customer).raw_body("text/plain", "{}").send().await.problem(415);
    let huge = format!("{{\"items\": [], \"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    ctx.request("POST", "/orders").auth(&ctx.customer).raw_body("application/json", &huge).send().await.problem(413);
    ctx.request("POST", "/orders").auth(&ctx.customer).json(&json!([1])).send().await.problem(400);
    assert_eq!(ctx.stock(&mug).await, 5);
    let orders = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(1), "only the 98-cent order");
}

#[tokio::test]
async fn the_address_defaults_to_the_profiles() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5, 2400).await;
    let profile = json!({"display_name": "Ada", "shipping_address": {"name": "Ada L", "line1": "Rua 2", "city": "Lisboa", "postal_code": "1000-001", "country": "PT"}});
    ctx.request("PUT", "/me").auth(&ctx.customer).json(&profile).send().await.expect(200);
    let response = ctx.place_order(&ctx.customer, &json!({"items": [{"product_id": mug, "quantity": 1}]})).await;
    response.expect(201);
    assert_eq!(response.json()["shipping_address"]["city"], "Lisboa");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_order_and_refuses_another_body() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 5, 2400).await;
    let body = order_body(&[(&mug, 1)]);
    let send = |body: Value| {
        let ctx = &ctx;
        async move {
            ctx.request("POST", "/orders")
                .auth(&ctx.customer)
                .header("idempotency-key", "key-1")
                .json(&body)
                .send()
                .await
        }
    };
    let first = send(body.clone()).await;
    first.expect(201);
    // The same body, its keys in another order: the same order, not a second one.
    let mut reordered = json!({"shipping_address": e2e::address()});
    reordered["items"] = body["items"].clone();
    let retry = send(reordered).await;
    retry.expect(201);
    assert_eq!(retry.json()["id"], first.json()["id"]);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let other = send(order_body(&[(&mug, 2)])).await;
    other.problem(422);
    assert_eq!(ctx.stock(&mug).await, 4);
    // The key is the customer's own: another customer may use the same one.
    let theirs = ctx
        .request("POST", "/orders")
        .auth(&ctx.other_customer)
        .header("idempotency-key", "key-1")
        .json(&body)
        .send()
        .await;
    theirs.expect(201);
    assert_ne!(theirs.json()["id"], first.json()["id"]);
    let long = "k".repeat(256);
    let refused =
        ctx.request("POST", "/orders").auth(&ctx.customer).header("idempotency-key", &long).json(&body).send().await;
    assert_eq!(refused.invalid_fields(), vec!["Idempotency-Key"]);
    assert_eq!(ctx.stock(&mug).await, 3);
}

#[tokio::test]
async fn two_requests_with_one_idempotency_key_at_once_make_one_order() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 10, 2400).await;
    let body = order_body(&[(&mug, 1)]);
    let requests = (0..5).map(|_| {
        ctx.request("POST", "/orders").auth(&ctx.customer).header("idempotency-key", "same-key").json(&body).send()
    });
    let responses = futures::future::join_all(requests).await;
    let ids: std::collections::BTreeSet<String> =
        responses.iter().filter(|r| r.status == 201).map(|r| r.json()["id"].as_str().unwrap().to_owned()).collect();
    for r in &responses {
        assert!(r.status == 201 || r.status == 409, "{} {}", r.status, r.text());
    }
    assert_eq!(ids.len(), 1, "one order for one key");
    assert_eq!(ctx.stock(&mug).await, 9);
    let list = ctx.get("/orders").auth(&ctx.customer).send().await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

/// 20 single-unit orders at once on a stock of 5, from 4 customers: exactly 5 succeed, the
/// rest are 409s, nothing is a 5xx, the stock ends at 0. Five rushes in a row.
#[tokio::test]
async fn a_rush_of_twenty_on_a_stock_of_five_sells_exactly_five() {
    let ctx = TestContext::new().await;
    let customers = ctx.customers(20).await;
    for rush in 0..5 {
        let item = product(&ctx, 5, 1500).await;
        let body = order_body(&[(&item, 1)]);
        let requests = customers.iter().map(|customer| ctx.place_order(customer, &body));
        let responses = futures::future::join_all(requests).await;
        let created = responses.iter().filter(|r| r.status == 201).count();
        let conflicts = responses
            .iter()
            .filter(|r| r.status == 409 && r.json()["type"].as_str().is_some_and(|t| t.ends_with("/conflict")))
            .count();
        let others: Vec<String> = responses
            .iter()
            .filter(|r| r.status != 201 && r.status != 409)
            .map(|r| format!("{} {}", r.status, r.text()))
            .collect();
        assert!(others.is_empty(), "rush {rush}: {others:?}");
        assert_eq!((created, conflicts), (5, 15), "rush {rush}");
        assert_eq!(ctx.stock(&item).await, 0, "rush {rush}");
        // The winners cancel, so that nobody nears the limit of unpaid orders.
        for (placed, customer) in responses.iter().zip(&customers).filter(|(r, _)| r.status == 201) {
            let path = format!("/orders/{}/cancel", placed.json()["id"].as_str().unwrap());
            ctx.request("POST", &path).auth(customer).send().await.expect(200);
        }
    }
}

#[tokio::test]
async fn customers_list_their_own_orders_newest_first_with_signed_cursors() {
    let ctx = TestContext::new().await;
    let mug = product(&ctx, 20, 2400).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(ctx.order(&ctx.customer, &[(&mug, 1)]).await["id"].as_str().unwrap().to_owned());
    }
    ctx.order(&ctx.other_customer, &[(&mug, 1)]).await;
    ids.reverse();
    let first = ctx.get("/orders").auth(&ctx.customer).query("limit", "2").send().await;
    first.expect(200);
    let page = first.json();
    let got: Vec<&str> = page["items"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(got, vec![ids[0].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let second = ctx.get("/orders").auth(&ctx.customer).query("limit", "2").query("cursor", cursor).send().await.json();
    assert_eq!(second["items"][0]["id"], ids[2].as_str());
    assert_eq!(second["next_cursor"], Value::Null);
    // Another customer's list does not open this customer's cursor; a tampered one is a 400.
    ctx.get("/orders").auth(&ctx.other_customer).query("cursor", cursor).send().await.problem(400);
    let tampered = format!("x{cursor}");
    ctx.get("/orders").auth(&ctx.customer).query("cursor", &tampered).send().await.problem(400);
    ctx.get("/orders").auth(&ctx.customer).query("limit", "0").send().await.problem(400);
}

#[tokio::test]
async fn makers_list_orders_with_their_lines_only_filtered_by_status() {
    let ctx = TestContext::new().await;
    let mine = product(&ctx, 10, 2400).await;
    let theirs = ctx.create_product(&ctx.other_maker, json!({"stock": 10})).await;
    let theirs = theirs["id"].as_str().unwrap();
    let both = ctx.order(&ctx.customer, &[(&mine, 1), (theirs, 2)]).await;
    let only_theirs = ctx.order(&ctx.customer, &[(theirs, 1)]).await;
    let paid = ctx.order(&ctx.other_customer, &[(&mine, 3)]).await;
    ctx.pay(&paid).await;

    let list = ctx.get("/maker/orders").auth(&ctx.maker).send().await;
    list.expect(200);
    let items = list.json()["items"].as_array().cloned().unwrap();
    let ids: Vec<&str> = items.iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(ids, vec![paid["id"].as_str().unwrap(), both["id"].as_str().unwrap()]);
    assert!(!ids.contains(&only_theirs["id"].as_str().unwrap()));
    let lines = items[1]["items"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["product_id"], mine.as_str());
    assert_eq!(items[1]["total_cents"], 2400);
    assert!(items[1].get("payment").is_none() && items[1].get("customer_id").is_none(), "{}", items[1]);
    assert_eq!(items[1]["shipping_address"]["city"], "Porto");

    let paid_only = ctx.get("/maker/orders").auth(&ctx.maker).query("status", "paid").send().await.json();
    let paid_ids: Vec<&str> = paid_only["items"].as_array().unwrap().iter().filter_map(|o| o["id"].as_str()).collect();
    assert_eq!(paid_ids, vec![paid["id"].as_str().unwrap()]);
    assert_eq!(paid_only["items"][0]["status"], "paid");
    ctx.get("/maker/orders").auth(&ctx.maker).query("status", "lost").send().await.problem(400);
    ctx.get("/maker/orders").auth(&ctx.customer).send().await.problem(403);
    ctx.get("/maker/orders").send().await.problem(401);
}
