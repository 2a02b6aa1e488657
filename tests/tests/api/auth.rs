//! Who may call what: every token failure is a 401, every role rule a 403.

use e2e::{TestContext, User};
use serde_json::json;
use std::time::Duration;

/// Every route that needs a signed-in caller, with a body where it takes one.
fn protected_routes(product_id: &str) -> Vec<(&'static str, String, Option<serde_json::Value>)> {
    vec![
        ("POST", "/products".into(), Some(e2e::product_body(json!({})))),
        ("PATCH", format!("/products/{product_id}"), Some(json!({"stock": 1}))),
        ("DELETE", format!("/products/{product_id}"), None),
        ("GET", "/me".into(), None),
        ("PUT", "/me".into(), Some(json!({"display_name": "X"}))),
    ]
}

async fn assert_every_protected_route_refuses(ctx: &TestContext, product_id: &str, authorization: Option<&str>) {
    // Optional auth: a bad token on a public route is refused too, rather than ignored.
    let mut routes = protected_routes(product_id);
    routes.push(("GET", format!("/products/{product_id}"), None));
    for (method, path, body) in routes {
        if authorization.is_none() && method == "GET" && path.starts_with("/products/") {
            continue; // Public without a token.
        }
        let mut req = ctx.request(method, &path);
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let response = req.send().await;
        response.problem(401);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"), "{method} {path}");
    }
    let product = ctx.get(&format!("/products/{product_id}")).send().await;
    assert_eq!(product.expect(200).json()["stock"], json!(12), "a refused request changed the product");
}

async fn setup() -> (TestContext, String) {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({})).await;
    let id = product["id"].as_str().unwrap().to_owned();
    (ctx, id)
}

#[tokio::test]
async fn protected_routes_refuse_a_missing_token() {
    let (ctx, id) = setup().await;
    assert_every_protected_route_refuses(&ctx, &id, None).await;
}

#[tokio::test]
async fn protected_routes_refuse_garbage_and_other_schemes() {
    let (ctx, id) = setup().await;
    for value in ["Bearer garbage", "Bearer a.b.c", "Basic YWRhOnB3", "Bearer ", "Token x"] {
        assert_every_protected_route_refuses(&ctx, &id, Some(value)).await;
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let (ctx, id) = setup().await;
    ctx.request("GET", "/me").auth(&ctx.maker).send().await.expect(200);
    ctx.clock.advance(Duration::from_secs(2 * 3600));
    assert_every_protected_route_refuses(&ctx, &id, Some(&ctx.maker.bearer())).await;
}

#[tokio::test]
async fn a_token_with_a_tampered_signature_or_payload_is_refused() {
    let (ctx, id) = setup().await;
    let token = &ctx.maker.tokens.access;
    let (head_payload, signature) = token.rsplit_once('.').unwrap();
    let mut sig = signature.as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let bad_signature = format!("{head_payload}.{}", String::from_utf8(sig).unwrap());
    assert_every_protected_route_refuses(&ctx, &id, Some(&format!("Bearer {bad_signature}"))).await;

    // Claim to be an admin: the payload no longer matches the signature.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["cognito:groups"] = json!(["makers", "admins"]);
    let forged = format!("{}.{}.{}", parts[0], engine.encode(claims.to_string()), parts[2]);
    assert_every_protected_route_refuses(&ctx, &id, Some(&format!("Bearer {forged}"))).await;

    // alg=none with no signature.
    let none_header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_every_protected_route_refuses(&ctx, &id, Some(&format!("Bearer {unsigned}"))).await;
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let (ctx, id) = setup().await;
    let id_token = format!("Bearer {}", ctx.maker.tokens.id);
    assert_every_protected_route_refuses(&ctx, &id, Some(&id_token)).await;
}

#[tokio::test]
async fn a_token_from_another_pool_is_refused() {
    let (ctx, id) = setup().await;
    let other = local::cognito::create_pool(&ctx.aws, &e2e::unique("mm-other")).await.unwrap();
    local::cognito::create_user(&ctx.aws, &other, "maria@other.test", "Makers-Market-2026", &["makers"]).await.unwrap();
    let tokens =
        local::cognito::sign_in(&ctx.aws, &other.client_id, "maria@other.test", "Makers-Market-2026").await.unwrap();
    assert_every_protected_route_refuses(&ctx, &id, Some(&format!("Bearer {}", tokens.access))).await;
}

#[tokio::test]
async fn a_token_from_another_app_client_is_refused() {
    let (ctx, id) = setup().await;
    let client = local::cognito::add_client(&ctx.aws, &ctx.pool.user_pool_id, "other-app").await.unwrap();
    let tokens = local::cognito::sign_in(&ctx.aws, &client, &ctx.maker.email, "Makers-Market-2026").await.unwrap();
    assert_every_protected_route_refuses(&ctx, &id, Some(&format!("Bearer {}", tokens.access))).await;
}

#[tokio::test]
async fn only_makers_may_create_products() {
    let ctx = TestContext::new().await;
    for user in [&ctx.customer, &ctx.admin] {
        let response = ctx.request("POST", "/products").auth(user).json(&e2e::product_body(json!({}))).send().await;
        response.problem(403);
    }
    assert!(ctx.list_all(&[], 100).await.is_empty(), "a refused create wrote a product");
    ctx.create_product(&ctx.maker, json!({})).await;
}

async fn try_edit(ctx: &TestContext, user: &User, id: &str) -> (u16, u16) {
    let patch =
        ctx.request("PATCH", &format!("/products/{id}")).auth(user).json(&json!({"title": "Taken over"})).send().await;
    let delete = ctx.request("DELETE", &format!("/products/{id}")).auth(user).send().await;
    (patch.status, delete.status)
}

#[tokio::test]
async fn a_maker_cannot_edit_or_archive_another_makers_product() {
    let (ctx, id) = setup().await;
    assert_eq!(try_edit(&ctx, &ctx.other_maker, &id).await, (403, 403));
    assert_eq!(try_edit(&ctx, &ctx.customer, &id).await, (403, 403));
    let product = ctx.get(&format!("/products/{id}")).send().await.expect(200).json();
    assert_eq!(
        (product["title"].as_str(), product["status"].as_str()),
        (Some("Speckled stoneware mug"), Some("active"))
    );
}

#[tokio::test]
async fn an_admin_may_edit_and_archive_any_product() {
    let (ctx, id) = setup().await;
    assert_eq!(try_edit(&ctx, &ctx.admin, &id).await, (200, 204));
    let product = ctx.get(&format!("/products/{id}")).auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!((product["title"].as_str(), product["status"].as_str()), (Some("Taken over"), Some("archived")));
}

#[tokio::test]
async fn public_routes_need_no_token() {
    let (ctx, id) = setup().await;
    ctx.get("/health").send().await.expect(200);
    ctx.get("/products").send().await.expect(200);
    ctx.get(&format!("/products/{id}")).send().await.expect(200);
    ctx.get(&format!("/makers/{}", ctx.maker.sub)).send().await.expect(200);
}

#[tokio::test]
async fn roles_come_from_cognito_groups() {
    let ctx = TestContext::new().await;
    for (user, roles) in [
        (&ctx.customer, json!(["customer"])),
        (&ctx.maker, json!(["customer", "maker"])),
        (&ctx.admin, json!(["customer", "admin"])),
    ] {
        let me = ctx.get("/me").auth(user).send().await.expect(200).json();
        assert_eq!(me["roles"], roles, "{}", user.username);
        assert_eq!(me["id"].as_str(), Some(user.sub.as_str()));
    }
}
