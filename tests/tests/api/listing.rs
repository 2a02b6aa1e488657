//! `GET /products`: filters, order and pagination.

use e2e::TestContext;
use serde_json::{Value, json};
use std::collections::HashSet;

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|p| p["id"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn pagination_returns_every_product_exactly_once_newest_first() {
    let ctx = TestContext::new().await;
    let mut created = Vec::new();
    for i in 0..23 {
        let maker = if i % 2 == 0 { &ctx.maker } else { &ctx.other_maker };
        created.push(ctx.create_product(maker, json!({"title": format!("Item {i}")})).await["id"].clone());
    }
    let newest_first: Vec<String> = created.iter().rev().map(|v| v.as_str().unwrap().to_owned()).collect();
    for limit in [1, 5, 7, 23, 100] {
        let listed = ids(&ctx.list_all(&[], limit).await);
        assert_eq!(listed, newest_first, "limit {limit}");
    }
    let first = ctx.get("/products").send().await.expect(200).json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(20), "the default limit is 20");
    let last = ctx.get("/products").query("limit", "100").send().await.expect(200).json();
    assert_eq!(last["next_cursor"], Value::Null);
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let ctx = TestContext::new().await;
    let mug = ctx
        .create_product(&ctx.maker, json!({"title": "Blue stoneware mug", "price_cents": 2400, "category": "ceramics"}))
        .await;
    let bowl = ctx
        .create_product(&ctx.maker, json!({"title": "Blue serving bowl", "price_cents": 5800, "category": "ceramics"}))
        .await;
    let board = ctx
        .create_product(
            &ctx.other_maker,
            json!({"title": "Olive cutting board", "price_cents": 3900, "category": "woodwork"}),
        )
        .await;
    let runner = ctx
        .create_product(
            &ctx.other_maker,
            json!({"title": "Linen runner, blue", "price_cents": 4500, "category": "textiles"}),
        )
        .await;
    let set = |items: Vec<Value>| ids(&items).into_iter().collect::<HashSet<_>>();
    let of =
        |products: &[&Value]| products.iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<HashSet<_>>();

    assert_eq!(set(ctx.list_all(&[("category", "ceramics")], 1).await), of(&[&mug, &bowl]));
    assert_eq!(set(ctx.list_all(&[("maker_id", &ctx.other_maker.sub)], 1).await), of(&[&board, &runner]));
    assert_eq!(set(ctx.list_all(&[("q", "BLUE")], 1).await), of(&[&mug, &bowl, &runner]));
    assert_eq!(set(ctx.list_all(&[("q", "blue mug")], 1).await), of(&[&mug]));
    assert_eq!(set(ctx.list_all(&[("q", "blu")], 1).await), of(&[]), "q matches whole words");
    assert_eq!(set(ctx.list_all(&[("min_price_cents", "3900")], 1).await), of(&[&bowl, &board, &runner]));
    assert_eq!(set(ctx.list_all(&[("max_price_cents", "3900")], 1).await), of(&[&mug, &board]));
    assert_eq!(
        set(ctx.list_all(&[("min_price_cents", "2400"), ("max_price_cents", "4500"), ("q", "blue")], 1).await),
        of(&[&mug, &runner])
    );
    assert_eq!(
        set(ctx
            .list_all(&[("maker_id", &ctx.maker.sub), ("category", "ceramics"), ("max_price_cents", "3000")], 1)
            .await),
        of(&[&mug])
    );
    assert_eq!(set(ctx.list_all(&[("category", "glass")], 1).await), of(&[]));
}

#[tokio::test]
async fn invalid_filters_are_named() {
    let ctx = TestContext::new().await;
    let list = |query: &[(&str, &str)]| {
        let mut req = ctx.get("/products");
        for (k, v) in query {
            req = req.query(k, v);
        }
        req.send()
    };
    assert_eq!(list(&[("limit", "0")]).await.invalid_fields(), ["limit"]);
    assert_eq!(list(&[("limit", "101")]).await.invalid_fields(), ["limit"]);
    assert_eq!(list(&[("limit", "ten")]).await.invalid_fields(), ["limit"]);
    assert_eq!(list(&[("category", "Not Slug")]).await.invalid_fields(), ["category"]);
    assert_eq!(list(&[("min_price_cents", "-1")]).await.invalid_fields(), ["min_price_cents"]);
    assert_eq!(list(&[("max_price_cents", "1e3")]).await.invalid_fields(), ["max_price_cents"]);
    assert_eq!(list(&[("q", &"w".repeat(201))]).await.invalid_fields(), ["q"]);
    let empty_range = list(&[("min_price_cents", "500"), ("max_price_cents", "100")]).await;
    assert_eq!(empty_range.expect(200).json(), json!({"items": [], "next_cursor": null}));
    assert_eq!(list(&[("maker_id", "a/b")]).await.invalid_fields(), ["maker_id"]);
}

#[tokio::test]
async fn tampered_and_foreign_cursors_are_refused() {
    let ctx = TestContext::new().await;
    for _ in 0..3 {
        ctx.create_product(&ctx.maker, json!({})).await;
    }
    let page = ctx.get("/products").query("limit", "1").query("category", "ceramics").send().await.expect(200).json();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // The genuine cursor works for its own query.
    ctx.get("/products")
        .query("limit", "1")
        .query("category", "ceramics")
        .query("cursor", &cursor)
        .send()
        .await
        .expect(200);
    // A different limit is the same query.
    ctx.get("/products")
        .query("limit", "2")
        .query("category", "ceramics")
        .query("cursor", &cursor)
        .send()
        .await
        .expect(200);

    let (payload, mac) = cursor.split_once('.').unwrap();
    let mut flipped = payload.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{mac}", String::from_utf8(flipped).unwrap());
    for bad in [tampered.as_str(), "garbage", "a.b", &format!("{cursor}x"), &"A".repeat(4000)] {
        let response =
            ctx.get("/products").query("limit", "1").query("category", "ceramics").query("cursor", bad).send().await;
        assert_eq!(response.invalid_fields(), ["cursor"], "cursor {bad:?}");
    }
    for foreign_query in [vec![], vec![("category", "woodwork")], vec![("category", "ceramics"), ("q", "mug")]] {
        let mut req = ctx.get("/products").query("cursor", &cursor);
        for (k, v) in &foreign_query {
            req = req.query(k, v);
        }
        assert_eq!(req.send().await.invalid_fields(), ["cursor"], "{foreign_query:?}");
    }
}

#[tokio::test]
async fn query_strings_arrive_encoded_as_the_alb_passes_them() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({"title": "Café crème cup"})).await;
    let found = ctx.list_all(&[("q", "café crème")], 5).await;
    assert_eq!(ids(&found), [product["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn a_maker_lists_their_archived_products_and_nobody_else_can() {
    let ctx = TestContext::new().await;
    let kept = ctx.create_product(&ctx.maker, json!({"title": "Kept"})).await;
    let gone = ctx.create_product(&ctx.maker, json!({"title": "Gone"})).await;
    ctx.request("DELETE", &format!("/products/{}", gone["id"].as_str().unwrap()))
        .auth(&ctx.maker)
        .send()
        .await
        .expect(204);
    let maker = ctx.maker.sub.as_str();
    let list = |status: &str| ctx.get("/products").query("maker_id", maker).query("status", status);

    let archived = list("archived").auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(ids(archived["items"].as_array().unwrap()), [gone["id"].as_str().unwrap()]);
    let all = list("all").auth(&ctx.admin).send().await.expect(200).json();
    assert_eq!(ids(all["items"].as_array().unwrap()), [gone["id"].as_str().unwrap(), kept["id"].as_str().unwrap()]);
    let active = list("active").send().await.expect(200).json();
    assert_eq!(ids(active["items"].as_array().unwrap()), [kept["id"].as_str().unwrap()]);

    list("archived").send().await.problem(401);
    list("archived").auth(&ctx.other_maker).send().await.problem(403);
    list("all").auth(&ctx.customer).send().await.problem(403);
    ctx.get("/products").query("status", "archived").auth(&ctx.maker).send().await.problem(403);
    assert_eq!(list("deleted").auth(&ctx.maker).send().await.invalid_fields(), ["status"]);
}
