//! The user pool's signing keys are fetched once per process and cached; a failed fetch
//! locks nobody out for long: the last good keys stay, and it is tried again after a backoff.

use e2e::TestContext;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP/1.0 GET, enough to read moto's JWKS once.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// Serves `body` to every request while `up` is true, a 503 while it is false, and counts
/// the requests either way.
async fn switchable_server(body: String, up: bool) -> (String, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let up = Arc::new(AtomicBool::new(up));
    let (counter, switch) = (hits.clone(), up.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if switch.load(Ordering::SeqCst) {
                ("200 OK", body.clone())
            } else {
                ("503 Service Unavailable", String::new())
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits, up)
}

/// Serves `body` to every request and counts them.
async fn counting_server(body: String) -> (String, Arc<AtomicUsize>) {
    let (url, hits, _) = switchable_server(body, true).await;
    (url, hits)
}

/// `GET /me` with this Authorization header, served by `app`.
async fn get_me(ctx: &TestContext, app: &shared::App, authorization: &str) -> e2e::TestResponse {
    let event = ctx.get("/me").header("authorization", authorization).event().clone();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    e2e::TestResponse::from(e2e::dispatch(app, "get-me", req).await)
}

/// The maker's access token, naming a key id the pool never had.
fn unknown_kid_token(ctx: &TestContext) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = ctx.maker.tokens.access.split('.').collect();
    let header = engine.encode(r#"{"alg":"RS256","kid":"rotated-key-2"}"#);
    format!("Bearer {header}.{}.{}", parts[1], parts[2])
}

#[tokio::test]
async fn the_key_set_is_fetched_once_and_unknown_kids_do_not_hammer_it() {
    let ctx = TestContext::new().await;
    let jwks = http_get(&ctx.pool.jwks_url);
    let (url, hits) = counting_server(jwks).await;
    let app = ctx.app_with(|cfg| cfg.cognito.jwks_url = url);
    let call = |authorization: String| {
        let (ctx, app) = (&ctx, &app);
        async move { get_me(ctx, app, &authorization).await.status }
    };
    for user in [&ctx.customer, &ctx.maker, &ctx.admin, &ctx.customer] {
        assert_eq!(call(user.bearer()).await, 200);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch serves every token");

    // A token naming a key we have never seen: refused, and within the refetch interval
    // it does not trigger another fetch each time.
    let unknown_kid = unknown_kid_token(&ctx);
    for _ in 0..5 {
        assert_eq!(call(unknown_kid.clone()).await, 401);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no refetch right after a fetch");
    ctx.clock.advance(shared::auth::REFETCH_INTERVAL + Duration::from_secs(1));
    for _ in 0..5 {
        assert_eq!(call(unknown_kid.clone()).await, 401);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "an unknown kid refetches, at most once per interval");
    assert_eq!(call(ctx.maker.bearer()).await, 200, "known keys keep working");
}

/// Cognito's JWKS unreachable on a cold start: a valid token cannot be checked yet, which
/// is our fault, not the caller's — a 503 problem, not a 401 or a 500. The next request
/// tries again once the backoff has passed (1 s, doubling while it keeps failing), not 30 s
/// later, and not on every request in between.
#[tokio::test]
async fn a_failed_first_fetch_is_a_503_and_a_request_after_the_backoff_fetches_again() {
    use shared::auth::FETCH_BACKOFF_FIRST;
    let ctx = TestContext::new().await;
    let jwks = http_get(&ctx.pool.jwks_url);
    let (url, hits, up) = switchable_server(jwks, false).await;
    let app = ctx.app_with(|cfg| cfg.cognito.jwks_url = url);
    ctx.clock.freeze();
    let fetches = || hits.load(Ordering::SeqCst);

    let first = get_me(&ctx, &app, &ctx.customer.bearer()).await;
    let problem = first.problem(503);
    assert!(!problem.to_string().contains("jwks") && !problem.to_string().contains("127.0.0.1"), "{problem}");
    assert_eq!(fetches(), 1);
    // Within the backoff: a 503 at once, no fetch.
    get_me(&ctx, &app, &ctx.admin.bearer()).await.problem(503);
    assert_eq!(fetches(), 1, "no fetch within the backoff");
    // After it: fetched again, failing again, so the next wait is twice as long.
    ctx.clock.advance(FETCH_BACKOFF_FIRST);
    get_me(&ctx, &app, &ctx.customer.bearer()).await.problem(503);
    assert_eq!(fetches(), 2);
    ctx.clock.advance(FETCH_BACKOFF_FIRST);
    get_me(&ctx, &app, &ctx.customer.bearer()).await.problem(503);
    assert_eq!(fetches(), 2, "the backoff doubled");
    // Cognito is back: the first request after the backoff fetches, and everyone gets in.
    up.store(true, Ordering::SeqCst);
    ctx.clock.advance(FETCH_BACKOFF_FIRST);
    for user in [&ctx.customer, &ctx.maker, &ctx.admin] {
        get_me(&ctx, &app, &user.bearer()).await.expect(200);
    }
    assert_eq!(fetches(), 3, "one fetch after the outage serves every token");
}

/// A refetch that fails (a token names a new key while Cognito is down) keeps the keys of
/// the last good fetch: every token they sign keeps working. The new key's token is a 503
/// while the keys cannot be fetched, and a 401 once they can and it is still unknown.
#[tokio::test]
async fn a_failed_refetch_keeps_the_last_good_keys() {
    use shared::auth::{FETCH_BACKOFF_FIRST, REFETCH_INTERVAL};
    let ctx = TestContext::new().await;
    let jwks = http_get(&ctx.pool.jwks_url);
    let (url, hits, up) = switchable_server(jwks, true).await;
    let app = ctx.app_with(|cfg| cfg.cognito.jwks_url = url);
    ctx.clock.freeze();
    get_me(&ctx, &app, &ctx.customer.bearer()).await.expect(200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    up.store(false, Ordering::SeqCst);
    ctx.clock.advance(REFETCH_INTERVAL + Duration::from_secs(1));
    get_me(&ctx, &app, &unknown_kid_token(&ctx)).await.problem(503);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "the unknown key made a refetch, which failed");
    for user in [&ctx.customer, &ctx.maker, &ctx.admin] {
        get_me(&ctx, &app, &user.bearer()).await.expect(200);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2, "known keys need no fetch");

    up.store(true, Ordering::SeqCst);
    ctx.clock.advance(FETCH_BACKOFF_FIRST);
    get_me(&ctx, &app, &unknown_kid_token(&ctx)).await.problem(401);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    get_me(&ctx, &app, &ctx.maker.bearer()).await.expect(200);
}
