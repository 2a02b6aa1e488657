//! `GET /me`, `PUT /me` and makers' public shops.

use e2e::TestContext;
use serde_json::{Value, json};

fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "Rua das Flores 12", "city": "Porto", "postal_code": "4050-262", "country": "PT"})
}

#[tokio::test]
async fn a_profile_is_created_on_first_sight_and_then_kept() {
    let ctx = TestContext::new().await;
    let first = ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json();
    // An email pool names its users by their sub; the name defaults to it.
    assert_eq!(first["username"], json!(ctx.customer.username));
    assert_eq!(first["display_name"], json!(ctx.customer.username));
    assert_eq!(first["shipping_address"], Value::Null);
    let again = ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json();
    assert_eq!(again, first);
}

#[tokio::test]
async fn put_me_replaces_the_editable_fields() {
    let ctx = TestContext::new().await;
    let body = json!({"display_name": "Ada L.", "shipping_address": address()});
    let saved = ctx.request("PUT", "/me").auth(&ctx.customer).json(&body).send().await.expect(200).json();
    assert_eq!(saved["display_name"], json!("Ada L."));
    assert_eq!(saved["shipping_address"], address());
    let read = ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json();
    assert_eq!(read, saved);
    // PUT replaces: leaving the address out clears it.
    let cleared = ctx
        .request("PUT", "/me")
        .auth(&ctx.customer)
        .json(&json!({"display_name": "Ada"}))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(cleared["shipping_address"], Value::Null);
    assert_eq!(cleared["created_at"], saved["created_at"]);
}

#[tokio::test]
async fn put_me_names_invalid_fields_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let before = ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json();
    let mut bad_address = address();
    bad_address["country"] = json!("Portugal");
    bad_address["postal_code"] = json!("");
    let response = ctx
        .request("PUT", "/me")
        .auth(&ctx.customer)
        .json(&json!({"display_name": "", "shipping_address": bad_address}))
        .send()
        .await;
    assert_eq!(response.invalid_fields(), ["display_name", "shipping_address.postal_code", "shipping_address.country"]);
    let response = ctx.request("PUT", "/me").auth(&ctx.customer).json(&json!({"display_name": 5})).send().await;
    assert_eq!(response.invalid_fields(), ["display_name"]);
    let response = ctx
        .request("PUT", "/me")
        .auth(&ctx.customer)
        .json(&json!({"display_name": "x", "roles": ["admin"]}))
        .send()
        .await;
    assert_eq!(response.invalid_fields(), ["roles"]);
    assert_eq!(ctx.get("/me").auth(&ctx.customer).send().await.expect(200).json(), before);
}

#[tokio::test]
async fn only_makers_have_a_shop_bio_and_location() {
    let ctx = TestContext::new().await;
    let body = json!({"display_name": "Ada", "bio": "I sell things", "location": "Porto"});
    ctx.request("PUT", "/me").auth(&ctx.customer).json(&body).send().await.problem(403);
    let shop =
        json!({"display_name": "Maria's Ceramics", "bio": "Stoneware from Porto.", "location": "Porto, Portugal"});
    ctx.request("PUT", "/me").auth(&ctx.maker).json(&shop).send().await.expect(200);
    let public = ctx.get(&format!("/makers/{}", ctx.maker.sub)).send().await.expect(200).json();
    assert_eq!(
        public,
        json!({"id": ctx.maker.sub, "display_name": "Maria's Ceramics", "bio": "Stoneware from Porto.", "location": "Porto, Portugal", "product_count": 0})
    );
}

#[tokio::test]
async fn a_makers_shop_appears_with_their_first_product() {
    let ctx = TestContext::new().await;
    let shop = format!("/makers/{}", ctx.other_maker.sub);
    ctx.get(&shop).send().await.problem(404);
    ctx.create_product(&ctx.other_maker, json!({})).await;
    ctx.create_product(&ctx.other_maker, json!({})).await;
    let public = ctx.get(&shop).send().await.expect(200).json();
    assert_eq!(
        (public["display_name"].as_str(), public["product_count"].as_u64()),
        (Some(ctx.other_maker.username.as_str()), Some(2))
    );
}

#[tokio::test]
async fn customers_and_strangers_have_no_shop() {
    let ctx = TestContext::new().await;
    ctx.get("/me").auth(&ctx.customer).send().await.expect(200);
    ctx.get(&format!("/makers/{}", ctx.customer.sub)).send().await.problem(404);
    ctx.get("/makers/00000000-0000-0000-0000-000000000000").send().await.problem(404);
    ctx.get("/makers/not%20an%20id").send().await.problem(404);
}
