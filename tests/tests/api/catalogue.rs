//! Creating, reading, editing and archiving products.

use e2e::{TestContext, product_body};
use serde_json::json;

#[tokio::test]
async fn a_maker_creates_updates_and_archives_a_product() {
    let ctx = TestContext::new().await;
    let created = ctx.request("POST", "/products").auth(&ctx.maker).json(&product_body(json!({}))).send().await;
    let product = created.expect(201).json();
    let id = product["id"].as_str().unwrap();
    assert!(id.starts_with("prd_"), "{id}");
    assert_eq!(created.header("location"), Some(format!("/products/{id}").as_str()));
    assert_eq!(product["maker_id"].as_str(), Some(ctx.maker.sub.as_str()));
    assert_eq!((product["currency"].as_str(), product["status"].as_str()), (Some("eur"), Some("active")));
    assert_eq!(product["created_at"], product["updated_at"]);

    let fetched = ctx.get(&format!("/products/{id}")).send().await.expect(200).json();
    assert_eq!(fetched, product);

    let patched = ctx
        .request("PATCH", &format!("/products/{id}"))
        .auth(&ctx.maker)
        .json(&json!({"price_cents": 2600, "stock": 0, "images": []}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!((patched["price_cents"].as_u64(), patched["stock"].as_u64()), (Some(2600), Some(0)));
    assert_eq!(patched["images"], json!([]));
    assert_eq!(patched["title"], product["title"]);
    assert!(patched["updated_at"].as_str() >= product["updated_at"].as_str());

    let archive = ctx.request("DELETE", &format!("/products/{id}")).auth(&ctx.maker).send().await;
    archive.expect(204);
    assert!(archive.body.is_empty());
    // Archiving again is not an error.
    ctx.request("DELETE", &format!("/products/{id}")).auth(&ctx.maker).send().await.expect(204);
    // And the maker can bring it back.
    let restored = ctx
        .request("PATCH", &format!("/products/{id}"))
        .auth(&ctx.maker)
        .json(&json!({"status": "active"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(restored["status"], json!("active"));
}

#[tokio::test]
async fn archived_products_are_hidden_from_the_public_but_not_from_their_maker() {
    let ctx = TestContext::new().await;
    let kept = ctx.create_product(&ctx.maker, json!({"title": "Kept bowl"})).await;
    let gone = ctx.create_product(&ctx.maker, json!({"title": "Gone bowl"})).await;
    let gone_id = gone["id"].as_str().unwrap();
    ctx.request("DELETE", &format!("/products/{gone_id}")).auth(&ctx.maker).send().await.expect(204);

    let path = format!("/products/{gone_id}");
    ctx.get(&path).send().await.problem(404);
    ctx.get(&path).auth(&ctx.customer).send().await.problem(404);
    ctx.get(&path).auth(&ctx.other_maker).send().await.problem(404);
    let seen = ctx.get(&path).auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(seen["status"], json!("archived"));
    ctx.get(&path).auth(&ctx.admin).send().await.expect(200);

    let ids = |items: Vec<serde_json::Value>| items.iter().map(|p| p["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(ctx.list_all(&[], 20).await), vec![kept["id"].clone()]);
    let maker_id = ctx.maker.sub.as_str();
    assert_eq!(ids(ctx.list_all(&[("maker_id", maker_id)], 20).await), vec![kept["id"].clone()]);
    assert_eq!(ids(ctx.list_all(&[("category", "ceramics")], 20).await), vec![kept["id"].clone()]);
    let shop = ctx.get(&format!("/makers/{maker_id}")).send().await.expect(200).json();
    assert_eq!(shop["product_count"], json!(1));
}

#[tokio::test]
async fn invalid_products_are_refused_naming_every_field_and_nothing_is_written() {
    let ctx = TestContext::new().await;
    let bad = json!({
        "title": "",
        "description": "x".repeat(5001),
        "price_cents": 0,
        "stock": 100_001,
        "category": "Not A Slug",
        "images": ["http://insecure.example/a.jpg"],
        "currency": "usd",
    });
    let response = ctx.request("POST", "/products").auth(&ctx.maker).json(&bad).send().await;
    assert_eq!(
        response.invalid_fields(),
        ["title", "description", "price_cents", "currency", "stock", "category", "images[0]"]
    );
    let too_many_images =
        product_body(json!({"images": vec!["https://a.example/x.jpg"; 9], "price_cents": 10_000_001}));
    let response = ctx.request("POST", "/products").auth(&ctx.maker).json(&too_many_images).send().await;
    assert_eq!(response.invalid_fields(), ["price_cents", "images"]);
    assert!(ctx.list_all(&[], 100).await.is_empty());
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_named() {
    let ctx = TestContext::new().await;
    let post = |body: serde_json::Value| ctx.request("POST", "/products").auth(&ctx.maker).json(&body).send();
    assert_eq!(post(product_body(json!({"price_cents": "12.50"}))).await.invalid_fields(), ["price_cents"]);
    assert_eq!(post(product_body(json!({"price_cents": 12.5}))).await.invalid_fields(), ["price_cents"]);
    assert_eq!(post(product_body(json!({"images": "https://a.example"}))).await.invalid_fields(), ["images"]);
    assert_eq!(post(product_body(json!({"images": [1]}))).await.invalid_fields(), ["images[0]"]);
    assert_eq!(post(product_body(json!({"maker_id": "someone-else"}))).await.invalid_fields(), ["maker_id"]);
    assert_eq!(post(json!({"title": "Mug", "price_cents": 100, "stock": 1})).await.invalid_fields(), ["category"]);
    assert_eq!(post(json!([1, 2])).await.invalid_fields(), ["body"]);
    assert_eq!(post(product_body(json!({"currency": null}))).await.invalid_fields(), ["currency"]);
    assert_eq!(post(product_body(json!({"title": "Mug\u{1}"}))).await.invalid_fields(), ["title"]);
    assert!(ctx.list_all(&[], 100).await.is_empty());
}

#[tokio::test]
async fn patches_are_validated_and_refused_whole() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({})).await;
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    let patch = |body: serde_json::Value| ctx.request("PATCH", &path).auth(&ctx.maker).json(&body).send();
    assert_eq!(patch(json!({})).await.invalid_fields(), ["body"]);
    assert_eq!(patch(json!({"title": "New", "stock": -1})).await.invalid_fields(), ["stock"]);
    assert_eq!(patch(json!({"status": "deleted"})).await.invalid_fields(), ["status"]);
    assert_eq!(patch(json!({"status": null})).await.invalid_fields(), ["status"]);
    assert_eq!(patch(json!({"title": "   "})).await.invalid_fields(), ["title"]);
    assert_eq!(patch(json!({"id": "prd_x"})).await.invalid_fields(), ["id"]);
    assert_eq!(patch(json!({"maker_id": ctx.other_maker.sub})).await.invalid_fields(), ["maker_id"]);
    let unchanged = ctx.get(&path).send().await.expect(200).json();
    assert_eq!(unchanged, product);
}

#[tokio::test]
async fn unknown_and_malformed_product_ids_are_404() {
    let ctx = TestContext::new().await;
    for path in ["/products/prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F", "/products/nope", "/products/prd_01J/extra"] {
        ctx.get(path).send().await.problem(404);
        ctx.request("PATCH", path).auth(&ctx.maker).json(&json!({"stock": 1})).send().await.problem(404);
        ctx.request("DELETE", path).auth(&ctx.admin).send().await.problem(404);
    }
}

/// Three edits of different fields at once: each one that loses the race (its write finds
/// a newer version) reads again and reapplies itself. Each lost race is another edit's
/// win, so with three edits and three attempts each, every edit lands: all 200, all three
/// fields written. (A version check without the re-read loses edits or answers 409.)
#[tokio::test]
async fn concurrent_edits_of_one_product_all_land() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({"stock": 0})).await;
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    let edits =
        [json!({"title": "Renamed mug"}), json!({"price_cents": 9999}), json!({"description": "Now with a handle."})];
    let responses = futures::future::join_all(
        edits.iter().map(|body| ctx.request("PATCH", &path).auth(&ctx.maker).json(body).send()),
    )
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200; 3], "{:?}", responses.iter().map(e2e::TestResponse::text).collect::<Vec<_>>());
    let last = ctx.get(&path).send().await.expect(200).json();
    for edit in &edits {
        let (field, value) = edit.as_object().unwrap().iter().next().unwrap();
        assert_eq!(&last[field], value, "the edit of {field} was lost: {last}");
    }
}

#[tokio::test]
async fn a_maker_may_create_many_products_at_once() {
    let ctx = TestContext::new().await;
    let bodies: Vec<serde_json::Value> =
        (0..8).map(|i| product_body(json!({"title": format!("Batch item {i}")}))).collect();
    let responses = futures::future::join_all(
        bodies.iter().map(|body| ctx.request("POST", "/products").auth(&ctx.maker).json(body).send()),
    )
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![201; 8]);
    assert_eq!(ctx.list_all(&[], 100).await.len(), 8);
    let shop = ctx.get(&format!("/makers/{}", ctx.maker.sub)).send().await.expect(200).json();
    assert_eq!(shop["product_count"], json!(8));
}
