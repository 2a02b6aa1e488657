//! What every route shares: request ids, body limits, problem documents, faults.

use e2e::{TestContext, product_body, sample_event};
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn every_response_carries_a_request_id_and_reuses_the_alb_trace_id() {
    let ctx = TestContext::new().await;
    let responses = [
        ctx.get("/health").send().await,
        ctx.get("/products").query("limit", "0").send().await,
        ctx.get("/me").send().await,
        ctx.request("POST", "/products").auth(&ctx.customer).json(&product_body(json!({}))).send().await,
        ctx.get("/products/prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F").send().await,
    ];
    for r in &responses {
        let id = r.header("x-request-id").unwrap_or_default();
        assert!(id.starts_with("1-6745f2a1-"), "status {} has request id {id:?}", r.status);
    }
    let mut event = ctx.get("/health").event().clone();
    event["headers"].as_object_mut().unwrap().remove("x-amzn-trace-id");
    let fresh = ctx.send_event(&event).await;
    assert_eq!(fresh.header("x-request-id").map(str::len), Some(26), "a fresh ULID without a trace id");
}

#[tokio::test]
async fn oversized_non_json_and_malformed_bodies_are_refused_and_change_nothing() {
    let ctx = TestContext::new().await;
    let big = product_body(json!({"description": "x".repeat(300 * 1024)}));
    let post = |content_type: &str, body: String| {
        ctx.request("POST", "/products").auth(&ctx.maker).raw_body(content_type, &body).send()
    };
    post("application/json", big.to_string()).await.problem(413);
    post("text/plain", product_body(json!({})).to_string()).await.problem(415);
    post("application/x-www-form-urlencoded", "title=Mug".into()).await.problem(415);
    post("application/json", "{\"title\": \"Mug\",".into()).await.problem(400);
    post("application/json", "not json".into()).await.problem(400);
    post("application/json", "".into()).await.problem(400);
    let put = ctx
        .request("PUT", "/me")
        .auth(&ctx.maker)
        .raw_body("application/json", &format!("{{\"display_name\":\"{}\"}}", "x".repeat(270_000)))
        .send()
        .await;
    put.problem(413);
    let patch_path = format!("/products/{}", ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap());
    ctx.request("PATCH", &patch_path).auth(&ctx.maker).raw_body("text/csv", "stock,1").send().await.problem(415);
    assert_eq!(ctx.list_all(&[], 100).await.len(), 1, "only the valid product exists");
}

#[tokio::test]
async fn a_failing_dependency_is_a_clean_500_without_internals() {
    let ctx = TestContext::new().await;
    let broken = ctx.app_with(|cfg| cfg.table_name = "mm-missing-table-4242".into());
    for (function, mut event) in [
        ("get-product", ctx.get("/products/prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F").event().clone()),
        ("list-products", ctx.get("/products").event().clone()),
        (
            "create-product",
            ctx.request("POST", "/products").auth(&ctx.maker).json(&product_body(json!({}))).event().clone(),
        ),
        ("get-me", ctx.get("/me").auth(&ctx.maker).event().clone()),
    ] {
        event["headers"]["x-amzn-trace-id"] = json!("Root=1-6745f2a1-000000000000000000000001");
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let response = e2e::TestResponse::from(e2e::dispatch(&broken, function, req).await);
        let body = response.problem(500);
        let text = response.text();
        for secret in ["mm-missing-table", "ResourceNotFound", "dynamodb", "DynamoDB", "127.0.0.1"] {
            assert!(!text.contains(secret), "{function} leaked {secret}: {text}");
        }
        assert_eq!(body["type"], json!("https://makers-market.pt/problems/internal-error"));
        assert_eq!(response.header("x-request-id"), Some("1-6745f2a1-000000000000000000000001"));
    }
}

/// Not the caller's fault (no 401), not a bug of ours (no 500): Cognito is unreachable.
#[tokio::test]
async fn an_unreachable_key_set_is_a_503_not_a_401() {
    let ctx = TestContext::new().await;
    let broken = ctx.app_with(|cfg| cfg.cognito.jwks_url = "http://127.0.0.1:9/nothing-here".into());
    let event = ctx.get("/me").auth(&ctx.maker).event().clone();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = e2e::TestResponse::from(e2e::dispatch(&broken, "get-me", req).await);
    response.problem(503);
    assert!(!response.text().contains("127.0.0.1"));
}

#[tokio::test]
async fn problem_bodies_say_what_is_wrong_without_internals() {
    let ctx = TestContext::new().await;
    let unauthorized = ctx.get("/me").bearer("eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.e30.c2ln").send().await;
    let body = unauthorized.problem(401);
    let text = unauthorized.text();
    assert!(!text.contains("kid") && !text.contains("nope"), "{text}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("Bearer")));
}

#[tokio::test]
async fn every_sample_event_is_served_by_its_function() {
    let ctx = TestContext::new().await;
    let product = ctx.create_product(&ctx.maker, json!({})).await;
    let id = product["id"].as_str().unwrap();
    // The archive-product sample archives `id`: orders get a product of their own.
    let for_orders = ctx.create_product(&ctx.maker, json!({})).await;
    let for_orders = for_orders["id"].as_str().unwrap();
    let order = ctx.order(&ctx.maker, &[(for_orders, 1)]).await;
    let order_id = order["id"].as_str().unwrap();
    // The reject sample rejects an application of its own; the approve sample approves the
    // one the create sample makes.
    let application = json!({"shop_name": "Cortiça", "bio": "Cork bags", "location": "Évora"});
    let to_reject =
        ctx.request("POST", "/maker-applications").auth(&ctx.other_customer).json(&application).send().await;
    let to_reject = to_reject.expect(201).json()["id"].as_str().unwrap().to_owned();
    for function in shared::routes::functions() {
        let mut event = sample_event(function);
        let method = event["httpMethod"].as_str().unwrap().to_owned();
        let path = event["path"].as_str().unwrap().to_owned();
        assert_eq!(shared::routes::function_for(&method, &path), function, "the sample of {function} routes elsewhere");
        // Point the sample at this stack's data and users.
        // The archive-product sample archives `id`: the product page shows one still for sale.
        let shown = if function == "web-listing" { for_orders } else { id };
        let path = path
            .replace("prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F", shown)
            .replace("3f6c1a52-7e0b-4d0c-9b1e-2a4f6d8c0e11", &ctx.maker.sub)
            .replace("ord_01JDR0A1B2C3D4E5F6G7H8J9K0", order_id);
        let path = match function {
            "reject-maker-application" => path.replace("app_01JBZ8Q1W4K3M2N5P6R7S8T9V0", &to_reject),
            "approve-maker-application" => {
                let sub = shared::domain::UserId::new(ctx.customer.sub.clone());
                let latest = ctx.app.store.latest_application(&sub).await.unwrap().unwrap();
                path.replace("app_01JBZ8Q1W4K3M2N5P6R7S8T9V0", latest.id.as_str())
            }
            _ => path,
        };
        event["path"] = json!(path);
        let body = event["body"].as_str().unwrap_or_default().replace("prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F", for_orders);
        event["body"] = json!(body);
        if event["headers"].get("stripe-signature").is_some() {
            // The sample's signature is years old by now: sign it again, with this stack's secret.
            let secret = shared::config::Secret::new(ctx.stripe_keys.webhook_secret.clone());
            let signature = shared::payments::webhook::sign(&secret, body.as_bytes(), std::time::SystemTime::now());
            event["headers"]["stripe-signature"] = json!(signature);
        }
        if event["headers"].get("authorization").is_some() {
            // Applying is for customers, deciding for admins; the rest is the maker's.
            let user = match function {
                "create-maker-application" | "get-my-maker-application" => &ctx.customer,
                "list-maker-applications" | "approve-maker-application" | "reject-maker-application" => &ctx.admin,
                _ => &ctx.maker,
            };
            event["headers"]["authorization"] = json!(user.bearer());
        }
        let response = ctx.send_event(&event).await;
        let expected = match function {
            "create-product" | "create-order" | "create-maker-application" | "create-photo-upload" => 201,
            // The sample's photo was never uploaded to this stack.
            "confirm-photo" | "delete-photo" => 404,
            "archive-product" => 204,
            "not-found" => 404,
            // Account pages send a visitor (the samples carry no session) to sign in.
            "web-checkout" | "web-order" | "web-orders" | "web-profile" | "web-sell" => 303,
            "web-studio"
            | "web-studio-orders"
            | "web-studio-photos"
            | "web-desk"
            | "web-desk-orders"
            | "web-desk-applications" => 303,
            _ => 200,
        };
        assert_eq!(response.status, expected, "{function}: {}", response.text());
    }
}

#[tokio::test]
async fn requests_to_unknown_paths_get_a_problem_404_with_a_request_id() {
    let ctx = TestContext::new().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("PUT", "/me/"),
        ("GET", "/Products"),
        // `/products/*` rules match these, yet they name no product, for any method.
        ("GET", "/products/a/b"),
        ("PUT", "/products/a/b"),
        ("DELETE", "/products/a/b"),
        ("PUT", "/products/"),
        ("OPTIONS", "/makers/a/b"),
    ] {
        let response = ctx.request(method, path).auth(&ctx.maker).send().await;
        let body = response.problem(404);
        assert_eq!(body["type"], json!("https://makers-market.pt/problems/not-found"), "{method} {path}");
        assert_eq!(response.header("allow"), None, "{method} {path}");
        assert!(response.header("x-request-id").is_some_and(|id| id.starts_with("1-6745f2a1-")), "{method} {path}");
    }
}

#[tokio::test]
async fn a_known_path_answers_a_method_it_does_not_serve_with_405_and_allow() {
    let ctx = TestContext::new().await;
    for (method, path, allow) in [
        ("PUT", "/products/prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F", "DELETE, GET, PATCH"),
        ("DELETE", "/me", "GET, PUT"),
        ("PUT", "/products", "GET, POST"),
        ("POST", "/me", "GET, PUT"),
        ("DELETE", "/makers/x", "GET"),
        ("POST", "/health", "GET"),
    ] {
        let response = ctx.request(method, path).auth(&ctx.maker).send().await;
        let body = response.problem(405);
        assert_eq!(body["type"], json!("https://makers-market.pt/problems/method-not-allowed"), "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        assert!(response.header("x-request-id").is_some_and(|id| id.starts_with("1-6745f2a1-")), "{method} {path}");
    }
}

/// Derived from the route table, so a new route is covered without editing this test.
#[tokio::test]
async fn every_known_path_answers_every_unrouted_method_with_405_and_its_routed_methods() {
    let ctx = TestContext::new().await;
    let api_paths: BTreeSet<&str> = shared::routes::ROUTES.iter().map(|r| r.api_path).collect();
    for api_path in api_paths {
        let routed: BTreeSet<&str> =
            shared::routes::ROUTES.iter().filter(|r| r.api_path == api_path).map(|r| r.method).collect();
        let allow = routed.iter().copied().collect::<Vec<_>>().join(", ");
        let path: String = api_path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "prd_01JDQZ8T6Y8Z4V0N3K2M1H7G5F" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"] {
            if routed.contains(method) {
                continue;
            }
            let response = ctx.request(method, &path).auth(&ctx.maker).send().await;
            assert_eq!(response.status, 405, "{method} {path}: {}", response.text());
            response.problem(405);
            assert_eq!(response.header("allow"), Some(allow.as_str()), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn the_handlers_keep_their_data_on_dynamodb_local_and_none_on_moto() {
    let ctx = TestContext::new().await;
    let table = ctx.app.config.table_name.clone();
    let created = ctx.create_product(&ctx.maker, json!({})).await;
    let id = created["id"].as_str().unwrap();

    let dynamodb_local = aws_sdk_dynamodb::Client::new(&ctx.aws);
    let items = dynamodb_local.scan().table_name(&table).send().await.expect("the table is on DynamoDB Local");
    let ids: Vec<&str> = items.items().iter().filter_map(|i| i.get("id")?.as_s().ok()).map(String::as_str).collect();
    assert!(ids.contains(&id), "the created product is on DynamoDB Local: {ids:?}");

    let moto = aws_sdk_dynamodb::Client::new(&local::provision::sdk_config(&e2e::endpoint(), e2e::REGION).await);
    let err = moto.describe_table().table_name(&table).send().await.expect_err("moto has no such table");
    assert!(err.into_service_error().is_resource_not_found_exception(), "the table is not on moto");
}

/// What a fault test relies on: `Emulator::pid` is DynamoDB Local's JVM itself, so stopping
/// it freezes DynamoDB and continuing it brings it back.
#[tokio::test]
async fn dynamodb_local_can_be_frozen_and_thawed_through_its_process_id() {
    use local::emulators::{EmulatorOptions, http_status, start_dynamodb_local};
    let log_dir = std::env::temp_dir().join(e2e::unique("mm-dynamodb-fault"));
    let dynamodb = start_dynamodb_local(&EmulatorOptions::new(None, &log_dir)).await.unwrap();
    let pid = dynamodb.pid().unwrap().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains("DynamoDBLocal.jar"), "the pid is the JVM's");

    let signal = |sig: &str| std::process::Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(signal("-STOP").success());
    // A group stop reaches every thread of the JVM asynchronously: wait until it took hold.
    let state = || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    for _ in 0..100 {
        if state().rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T')) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let probe = http_status(dynamodb.port(), "/").await;
    assert!(probe.is_err(), "a frozen DynamoDB Local does not answer: {probe:?}; /proc/{pid}/stat: {}", state());
    assert!(signal("-CONT").success());
    assert_eq!(http_status(dynamodb.port(), "/").await.unwrap(), 400, "it answers again (400: no signature)");
    dynamodb.stop().await;
    let _ = std::fs::remove_dir_all(&log_dir);
}
