//! The user pool's signing keys are fetched once per process and cached.

use e2e::TestContext;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Serves `body` to every request and counts them.
async fn counting_server(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn the_key_set_is_fetched_once_and_unknown_kids_do_not_hammer_it() {
    let ctx = TestContext::new().await;
    let jwks = http_get(&ctx.pool.jwks_url);
    let (url, hits) = counting_server(jwks).await;
    let app = ctx.app_with(|cfg| cfg.cognito.jwks_url = url);
    let call = |authorization: String| {
        let event = ctx.get("/me").header("authorization", &authorization).event().clone();
        let app = &app;
        async move {
            let req = lambda_http::request::from_str(&event.to_string()).unwrap();
            e2e::TestResponse::from(e2e::dispatch(app, "get-me", req).await).status
        }
    };
    for user in [&ctx.customer, &ctx.maker, &ctx.admin, &ctx.customer] {
        assert_eq!(call(user.bearer()).await, 200);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one fetch serves every token");

    // A token naming a key we have never seen: refused, and within the refetch interval
    // it does not trigger another fetch each time.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = ctx.maker.tokens.access.split('.').collect();
    let header = engine.encode(r#"{"alg":"RS256","kid":"rotated-key-2"}"#);
    let unknown_kid = format!("Bearer {header}.{}.{}", parts[1], parts[2]);
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
