//! The running API from the outside, as a script would call it: one JSON request with a
//! bearer token. Plain HTTP over loopback (the local ALB), for `cargo xtask` tasks.

use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

/// `method {api_url}{path}` with `Authorization: Bearer {token}` (when given) and `body` as
/// JSON (when given); the status and the JSON answer (`Null` if it is not JSON).
pub async fn request(
    api_url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let uri = format!("{}/{}", api_url.trim_end_matches('/'), path.trim_start_matches('/'));
    let mut builder = http::Request::builder().method(method).uri(&uri);
    if let Some(token) = token {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            serde_json::to_vec(body).context("serializing the request body")?
        }
        None => Vec::new(),
    };
    let request = builder.body(Full::new(Bytes::from(bytes))).with_context(|| format!("building {method} {uri}"))?;
    exchange(request, TIMEOUT).await
}

/// Sends `request` over plain HTTP and reads its answer as JSON (`Null` if it is not),
/// within `timeout`: the one exchange every local HTTP helper makes.
pub(crate) async fn exchange(request: http::Request<Full<Bytes>>, timeout: Duration) -> anyhow::Result<(u16, Value)> {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("{method} {uri}: no answer within {timeout:?}"))?
        .with_context(|| format!("{method} {uri}"))
}
