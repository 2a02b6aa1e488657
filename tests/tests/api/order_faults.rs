//! Faults at checkout: with Stripe down or silent, a clean 5xx problem within the
//! configured timeouts, and nothing left reserved or half-written.

use e2e::{TestContext, order_body};
use serde_json::json;
use std::time::{Duration, Instant};

/// Places one order through `app` (a copy of the stack's app with a broken dependency) and
/// checks the answer is a clean 5xx problem, quick enough, with nothing reserved.
async fn checkout_fails_cleanly(ctx: &TestContext, app: &shared::App, within: Duration) {
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 4})).await["id"].as_str().unwrap().to_owned();
    let request = ctx.request("POST", "/orders").auth(&ctx.customer).json(&order_body(&[(&mug, 3)]));
    let started = Instant::now();
    let req = lambda_http::request::from_str(&request.event().to_string()).unwrap();
    let response: e2e::TestResponse = e2e::dispatch(app, "create-order", req).await.into();
    let elapsed = started.elapsed();
    let problem = response.problem(response.status);
    assert!(matches!(response.status, 502 | 503), "{} {problem}", response.status);
    assert!(elapsed < within, "took {elapsed:?}");
    let text = response.text();
    assert!(!text.contains("127.0.0.1") && !text.contains("localstripe") && !text.contains("hyper"), "{text}");
    assert!(response.header("x-request-id").is_some());
    // Nothing reserved, no order.
    assert_eq!(ctx.stock(&mug).await, 4);
    assert_eq!(ctx.get("/orders").auth(&ctx.customer).send().await.json()["items"], json!([]));
}

#[tokio::test]
async fn with_stripe_stopped_checkout_is_a_clean_503_and_reserves_nothing() {
    let ctx = TestContext::new().await;
    // A port nobody listens on: what a stopped localstripe looks like.
    let port = local::emulators::free_port().unwrap();
    let app = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    checkout_fails_cleanly(&ctx, &app, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn with_stripe_silent_checkout_gives_up_within_its_timeout() {
    let ctx = TestContext::new().await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let app = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    assert_eq!(app.config.stripe_timeout, Duration::from_secs(5));
    checkout_fails_cleanly(&ctx, &app, Duration::from_secs(7)).await;
    held.abort();
}

/// Cancelling a paid order while Stripe is down: the order is cancelled and its stock
/// released at once, the refund stays pending, the sweeper leaves it alone until its retry
/// time, then refunds it once.
#[tokio::test]
async fn a_refund_that_stripe_failed_is_retried_later_and_made_once() {
    let ctx = TestContext::new().await;
    let mug = ctx.create_product(&ctx.maker, json!({"stock": 4})).await["id"].as_str().unwrap().to_owned();
    let order = ctx.order(&ctx.customer, &[(&mug, 2)]).await;
    ctx.pay(&order).await;
    let id = order["id"].as_str().unwrap();
    let port = local::emulators::free_port().unwrap();
    let offline = ctx.app_with(|c| c.stripe_api_base = format!("http://127.0.0.1:{port}/"));
    let request = ctx.request("POST", &format!("/orders/{id}/cancel")).auth(&ctx.customer);
    let req = lambda_http::request::from_str(&request.event().to_string()).unwrap();
    let response: e2e::TestResponse = e2e::dispatch(&offline, "cancel-order", req).await.into();
    response.expect(200);
    let body = response.json();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["payment"]["refund_status"], "pending", "{body}");
    assert_eq!(ctx.stock(&mug).await, 4);

    // Not due yet: the sweeper does not call Stripe again straight away.
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!(report.refunds_retried, 0);
    ctx.clock.advance(shared::store::REFUND_RETRY_AFTER + Duration::from_secs(1));
    let report = shared::orders::expire_due(&ctx.app, 100).await.unwrap();
    assert_eq!(report.refunds_retried, 1);
    let after = ctx.fetch_order(&ctx.customer, &order).await;
    assert_eq!(after["payment"]["refund_status"], "succeeded", "{after}");
    let pi = order["payment"]["payment_intent_id"].as_str().unwrap();
    let refunds = local::stripe::list_refunds(&ctx.stripe_api_base(), &ctx.stripe_keys.secret_key, pi).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(after["payment"]["refund_id"], refunds[0]["id"]);
    // Recorded: off the due index.
    ctx.clock.advance(shared::store::REFUND_RETRY_AFTER + Duration::from_secs(1));
    assert_eq!(shared::orders::expire_due(&ctx.app, 100).await.unwrap().refunds_retried, 0);
}
