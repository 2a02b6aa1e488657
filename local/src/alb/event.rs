//! HTTP ⇄ the JSON an Application Load Balancer exchanges with a Lambda target, in
//! single-value headers mode (the target group's `lambda.multi_value_headers.enabled` off).
//!
//! Request event, as ALB sends it:
//! ```json
//! {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:…:targetgroup/<name>/<16 hex>"}},
//!  "httpMethod": "GET", "path": "/products", "queryStringParameters": {"q": "mug%20blue"},
//!  "headers": {"host": "…", "x-amzn-trace-id": "Root=1-…", …}, "body": "", "isBase64Encoded": false}
//! ```
//! Query parameters and the path are passed exactly as the client sent them, not
//! percent-decoded; for a repeated parameter or header the last value wins; header names
//! are lower-cased. A body that is not UTF-8 is base64-encoded.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

/// The largest request body ALB forwards to a Lambda target; larger ones get 413.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// The largest response a Lambda target may return through ALB; larger ones get 502.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Headers that describe one HTTP/1 hop, not the message: not taken from a target's response.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// Where a request came from and which listener took it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub client: SocketAddr,
    pub listener_port: u16,
    pub region: String,
}

/// The target group ARN of a function: a stable fake id derived from its name.
pub fn target_group_arn(region: &str, function: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in function.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // Target group names are at most 32 characters.
    let name: String = function.chars().take(32).collect();
    format!("arn:aws:elasticloadbalancing:{region}:000000000000:targetgroup/{name}/{hash:016x}")
}

/// A fresh X-Ray trace id: `1-<8 hex epoch seconds>-<24 hex random>`.
pub fn new_trace_id() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let a = ulid::Ulid::new().random();
    let b = ulid::Ulid::new().random();
    let random = (a << 16) ^ (b & 0xffff);
    format!("1-{:08x}-{:024x}", secs & 0xffff_ffff, random & ((1u128 << 96) - 1))
}

/// The ALB event for one request. `path_and_query` is the raw request target.
pub fn request_event(
    function: &str,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    origin: &Origin,
) -> Value {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };

    let mut event_headers = Map::new();
    for (name, value) in headers {
        // ALB passes `connection` and the like on (its documented sample events show
        // `"connection": "keep-alive"`), but the body arrives de-chunked.
        if name == http::header::TRANSFER_ENCODING {
            continue;
        }
        // Iteration keeps the client's order, so a later value overwrites an earlier one.
        event_headers
            .insert(name.as_str().to_owned(), Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    let client_ip = origin.client.ip().to_string();
    let forwarded_for = match event_headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(earlier) if !earlier.trim().is_empty() => format!("{earlier}, {client_ip}"),
        _ => client_ip,
    };
    event_headers.insert("x-forwarded-for".into(), forwarded_for.into());
    event_headers.insert("x-forwarded-proto".into(), "http".into());
    event_headers.insert("x-forwarded-port".into(), origin.listener_port.to_string().into());
    let trace = match event_headers.get("x-amzn-trace-id").and_then(Value::as_str) {
        // ALB keeps a caller's Root and adds its own segment as Self.
        Some(sent) if sent.contains("Root=") => format!("Self={};{sent}", new_trace_id()),
        _ => format!("Root={}", new_trace_id()),
    };
    event_headers.insert("x-amzn-trace-id".into(), trace.into());

    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (BASE64.encode(body), true),
    };

    json!({
        "requestContext": { "elb": { "targetGroupArn": target_group_arn(&origin.region, function) } },
        "httpMethod": method.as_str(),
        "path": path,
        "queryStringParameters": query_parameters(query.unwrap_or("")),
        "headers": event_headers,
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// `a=1&b=x%20y&a=2&flag` → `{"a": "2", "b": "x%20y", "flag": ""}`: raw, last value wins.
pub fn query_parameters(query: &str) -> Map<String, Value> {
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    params
}

/// An HTTP response decoded from a target's ALB-shaped result.
#[derive(Debug)]
pub struct TargetResponse {
    pub status: StatusCode,
    /// The reason phrase from `statusDescription` (`"200 OK"` → `OK`), when there is one.
    pub reason: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Decodes a target's response; an error means ALB would answer 502.
pub fn target_response(value: &Value) -> anyhow::Result<TargetResponse> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > MAX_RESPONSE_BYTES {
        bail!("the response is {size} bytes, over ALB's {MAX_RESPONSE_BYTES}-byte limit for Lambda targets");
    }
    let obj = value.as_object().context("the response is not a JSON object")?;
    let code = obj
        .get("statusCode")
        .and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok())))
        .context("the response has no numeric statusCode")?;
    let status = u16::try_from(code)
        .ok()
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .with_context(|| format!("statusCode {code} is not an HTTP status"))?;
    let reason = obj
        .get("statusDescription")
        .and_then(Value::as_str)
        .and_then(|d| d.split_once(' '))
        .map(|(_, reason)| reason.trim().to_owned())
        .filter(|r| !r.is_empty());

    let mut headers = HeaderMap::new();
    if let Some(single) = obj.get("headers").filter(|h| !h.is_null()) {
        let single = single.as_object().context("headers is not an object")?;
        for (name, value) in single {
            let value = value.as_str().with_context(|| format!("header {name} is not a string"))?;
            insert_header(&mut headers, name, value, false)?;
        }
    }
    // Single-value mode reads `headers`; names only in `multiValueHeaders` are kept too, so a
    // handler that sets only those still works (lambda_http sends both, with the same values).
    if let Some(multi) = obj.get("multiValueHeaders").filter(|h| !h.is_null()) {
        let multi = multi.as_object().context("multiValueHeaders is not an object")?;
        for (name, values) in multi {
            if headers.contains_key(name.to_ascii_lowercase().as_str()) {
                continue;
            }
            let values = values.as_array().with_context(|| format!("multi-value header {name} is not a list"))?;
            for value in values {
                let value = value.as_str().with_context(|| format!("a value of header {name} is not a string"))?;
                insert_header(&mut headers, name, value, true)?;
            }
        }
    }

    let is_base64 = obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if is_base64 => BASE64.decode(text).context("body is not valid base64")?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => bail!("body is not a string"),
    };
    Ok(TargetResponse { status, reason, headers, body })
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str, append: bool) -> anyhow::Result<()> {
    let name = HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("invalid header name {name:?}"))?;
    if HOP_BY_HOP.contains(&name.as_str()) || name == http::header::CONTENT_LENGTH {
        return Ok(());
    }
    let value = HeaderValue::from_str(value).with_context(|| format!("invalid value for header {name}"))?;
    if append {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { client: SocketAddr::from(([127, 0, 0, 1], 40000)), listener_port: 3000, region: "eu-west-1".into() }
    }

    #[test]
    fn a_request_becomes_the_event_an_alb_sends() {
        let mut headers = HeaderMap::new();
        headers.append("Accept", HeaderValue::from_static("text/plain"));
        headers.append("accept", HeaderValue::from_static("application/json"));
        headers.append("connection", HeaderValue::from_static("keep-alive"));
        let event = request_event(
            "list-products",
            &Method::GET,
            "/products?q=blue%20mug&limit=2&limit=5&flag",
            &headers,
            b"",
            &origin(),
        );
        assert_eq!(event["httpMethod"], "GET");
        assert_eq!(event["path"], "/products");
        assert_eq!(event["queryStringParameters"], json!({"q": "blue%20mug", "limit": "5", "flag": ""}));
        assert_eq!(event["headers"]["accept"], "application/json");
        assert_eq!(event["headers"]["connection"], "keep-alive");
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(event["headers"]["x-forwarded-proto"], "http");
        assert_eq!(event["headers"]["x-forwarded-port"], "3000");
        let trace = event["headers"]["x-amzn-trace-id"].as_str().unwrap_or_default();
        assert!(trace.starts_with("Root=1-") && trace.len() == "Root=1-".len() + 8 + 1 + 24, "{trace}");
        assert_eq!(event["body"], "");
        assert_eq!(event["isBase64Encoded"], false);
        let arn = event["requestContext"]["elb"]["targetGroupArn"].as_str().unwrap_or_default();
        assert!(arn.starts_with("arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/list-products/"));
        assert_eq!(arn.rsplit('/').next().map(str::len), Some(16));
    }

    #[test]
    fn binary_bodies_are_base64_and_no_query_is_an_empty_map() {
        let event = request_event("f", &Method::POST, "/x", &HeaderMap::new(), &[0xff, 0x00], &origin());
        assert_eq!(event["body"], "/wA=");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["queryStringParameters"], json!({}));
    }

    #[test]
    fn a_forwarded_for_from_the_client_is_extended() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        let event = request_event("f", &Method::GET, "/", &headers, b"", &origin());
        assert_eq!(event["headers"]["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    }

    #[test]
    fn responses_decode_with_single_and_multi_value_headers() -> anyhow::Result<()> {
        let r = target_response(&json!({
            "statusCode": 201, "statusDescription": "201 Created",
            "headers": {"content-type": "application/json", "location": "/products/p1"},
            "multiValueHeaders": {"content-type": ["application/json"], "set-cookie": ["a=1", "b=2"]},
            "body": "{}", "isBase64Encoded": false
        }))?;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.reason.as_deref(), Some("Created"));
        assert_eq!(r.headers.get_all("content-type").iter().count(), 1);
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.body, b"{}");

        let r = target_response(&json!({"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}))?;
        assert_eq!(r.body, b"hi");
        Ok(())
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(target_response(&json!({"body": "x"})).is_err());
        assert!(target_response(&json!({"statusCode": 999})).is_err());
        assert!(target_response(&json!("nope")).is_err());
        assert!(target_response(&json!({"statusCode": 200, "body": "%%", "isBase64Encoded": true})).is_err());
    }
}
