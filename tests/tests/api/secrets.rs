//! Secrets read from Secrets Manager at run time: once per App, cached, never shown.

use e2e::{TestContext, TestResponse, dispatch, unique};
use serde_json::{Value, json};
use shared::App;

fn secrets_manager(ctx: &TestContext) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&ctx.aws)
}

/// What Secrets Manager holds now under `id`.
async fn secret_value(ctx: &TestContext, id: &str) -> String {
    let out = secrets_manager(ctx).get_secret_value().secret_id(id).send().await.unwrap();
    out.secret_string().unwrap().to_owned()
}

async fn put_secret(ctx: &TestContext, id: &str, value: &str) {
    secrets_manager(ctx).put_secret_value().secret_id(id).secret_string(value).send().await.unwrap();
}

async fn create_secret(ctx: &TestContext, name: &str, value: &str) {
    secrets_manager(ctx).create_secret().name(name).secret_string(value).send().await.unwrap();
}

/// Sends `event` to `function` on `app` (another App than the context's own).
async fn send_to(app: &App, function: &str, event: &Value) -> TestResponse {
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    TestResponse::from(dispatch(app, function, req).await)
}

/// `GET /products?limit=1`, following `cursor` if given.
fn first_product_page(ctx: &TestContext, cursor: Option<&str>) -> Value {
    let req = ctx.get("/products").query("limit", "1");
    match cursor {
        Some(c) => req.query("cursor", c).event().clone(),
        None => req.event().clone(),
    }
}

#[tokio::test]
async fn the_cursor_secret_is_fetched_once_and_cached_for_the_life_of_the_app() {
    let ctx = TestContext::new().await;
    for title in ["First mug", "Second mug", "Third mug"] {
        ctx.create_product(&ctx.maker, json!({"title": title})).await;
    }
    assert_eq!(ctx.app.secrets.fetches(), 0, "nothing is fetched before it is needed");
    let first = send_to(&ctx.app, "list-products", &first_product_page(&ctx, None)).await;
    let cursor = first.expect(200).json()["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(ctx.app.secrets.fetches(), 1);

    // Rotated in Secrets Manager: this App keeps the key it read.
    let id = ctx.app.config.cursor_secret_id.clone();
    put_secret(&ctx, &id, &"r".repeat(64)).await;
    let second = send_to(&ctx.app, "list-products", &first_product_page(&ctx, Some(&cursor))).await;
    let next = second.expect(200).json()["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(ctx.app.secrets.fetches(), 1, "the cached key served the second request");

    // A fresh App (a new cold start) reads the new key: the old cursor no longer opens.
    let fresh = ctx.app_with(|_| {});
    let refused = send_to(&fresh, "list-products", &first_product_page(&ctx, Some(&cursor))).await;
    assert_eq!(refused.invalid_fields(), ["cursor"]);
    let own = send_to(&fresh, "list-products", &first_product_page(&ctx, None)).await;
    let own_cursor = own.expect(200).json()["next_cursor"].as_str().unwrap().to_owned();
    send_to(&fresh, "list-products", &first_product_page(&ctx, Some(&own_cursor))).await.expect(200);
    assert_eq!(fresh.secrets.fetches(), 1);

    // Even with the secret gone, the first App still signs and opens cursors.
    secrets_manager(&ctx).delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await.unwrap();
    send_to(&ctx.app, "list-products", &first_product_page(&ctx, Some(&next))).await.expect(200);
    assert_eq!(ctx.app.secrets.fetches(), 1);
}

#[tokio::test]
async fn concurrent_first_requests_fetch_the_cursor_secret_once() {
    let ctx = TestContext::new().await;
    let event = first_product_page(&ctx, None);
    let responses = futures::future::join_all((0..8).map(|_| send_to(&ctx.app, "list-products", &event))).await;
    for r in &responses {
        r.expect(200);
    }
    assert_eq!(ctx.app.secrets.fetches(), 1);
}

#[tokio::test]
async fn a_missing_cursor_secret_is_a_clean_500_and_is_fetched_again_once_it_exists() {
    let ctx = TestContext::new().await;
    let name = unique("mm-missing-secret");
    let broken = ctx.app_with(|cfg| cfg.cursor_secret_id = name.clone());
    let mut event = first_product_page(&ctx, None);
    event["headers"]["x-amzn-trace-id"] = json!("Root=1-6745f2a1-000000000000000000000002");
    let response = send_to(&broken, "list-products", &event).await;
    let body = response.problem(500);
    let text = response.text();
    for internal in ["mm-missing-secret", "ResourceNotFound", "secretsmanager", "Secrets Manager", "127.0.0.1"] {
        assert!(!text.contains(internal), "leaked {internal}: {text}");
    }
    assert_eq!(body["type"], json!("https://makers-market.pt/problems/internal-error"));
    assert_eq!(response.header("x-request-id"), Some("1-6745f2a1-000000000000000000000002"));

    // A failure is not cached: once the secret exists, the same App reads it.
    create_secret(&ctx, &name, &"k".repeat(48)).await;
    send_to(&broken, "list-products", &event).await.expect(200);
    assert_eq!(broken.secrets.fetches(), 2);
}

#[tokio::test]
async fn a_cursor_secret_shorter_than_32_bytes_is_refused_at_fetch_time() {
    let ctx = TestContext::new().await;
    let name = unique("mm-short-secret");
    create_secret(&ctx, &name, "too-short-to-sign-with").await;
    let weak = ctx.app_with(|cfg| cfg.cursor_secret_id = name.clone());
    let err = weak.cursor_secret().await.map(|_| ()).err().unwrap();
    assert_eq!(err.status(), 500);
    let logged = err.to_string();
    assert!(logged.contains("shorter than 32 bytes") && logged.contains(&name), "{logged}");
    assert!(!logged.contains("too-short-to-sign-with"), "{logged}");
    send_to(&weak, "list-products", &first_product_page(&ctx, None)).await.problem(500);
}

#[tokio::test]
async fn stripe_secrets_are_read_from_their_json_secret_once() {
    let ctx = TestContext::new().await;
    let (a, b) = tokio::join!(ctx.app.stripe_secrets(), ctx.app.stripe_secrets());
    for stripe in [a.unwrap(), b.unwrap()] {
        assert_eq!(stripe.secret_key.expose(), ctx.stripe_keys.secret_key);
        assert_eq!(stripe.webhook_secret.expose(), ctx.stripe_keys.webhook_secret);
    }
    assert_eq!(ctx.app.secrets.fetches(), 1);
}

#[tokio::test]
async fn a_function_without_stripe_configured_or_with_a_malformed_stripe_secret_gets_a_500() {
    let ctx = TestContext::new().await;
    let unconfigured = ctx.app_with(|cfg| cfg.stripe_secret_id = None);
    let err = unconfigured.stripe_secrets().await.map(|_| ()).err().unwrap();
    assert_eq!(err.status(), 500);
    assert!(err.to_string().contains("STRIPE_SECRET_ID is not set"), "{err}");
    assert_eq!(unconfigured.secrets.fetches(), 0);

    let name = unique("mm-bad-stripe");
    create_secret(&ctx, &name, r#"{"secret_key": "sk_test_hush"}"#).await;
    let malformed = ctx.app_with(|cfg| cfg.stripe_secret_id = Some(name.clone()));
    let err = malformed.stripe_secrets().await.map(|_| ()).err().unwrap();
    assert_eq!(err.status(), 500);
    assert!(err.to_string().contains("no string field webhook_secret"), "{err}");
    assert!(!err.to_string().contains("hush"), "{err}");
    let problem = serde_json::to_string(&err.problem()).unwrap();
    assert!(!problem.contains(&name) && !problem.contains("webhook_secret"), "{problem}");
}

#[tokio::test]
async fn debug_output_never_shows_a_secret_value() {
    let ctx = TestContext::new().await;
    let cursor = ctx.app.cursor_secret().await.unwrap().expose().to_owned();
    let stripe = ctx.app.stripe_secrets().await.unwrap();
    assert_eq!(cursor, secret_value(&ctx, &ctx.app.config.cursor_secret_id).await);
    let printed = [format!("{:?}", ctx.app), format!("{:?}", ctx.app.config), format!("{stripe:?}")];
    for text in &printed {
        for value in [cursor.as_str(), &ctx.stripe_keys.secret_key, &ctx.stripe_keys.webhook_secret] {
            assert!(!text.contains(value), "a secret value in {text}");
        }
    }
    assert!(printed[0].contains("cursor_secret_cached: true"), "{}", printed[0]);
}
