//! HTTP at the edge of every function: the request id, JSON bodies in, JSON and
//! problem+json out, path and query helpers, and the runtime wrapper that ties them
//! together so each handler only deals with its own route.

pub mod cursor;
pub mod outbound;
pub mod seal;

use crate::{App, Error, FieldError, Result};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const PROBLEM_JSON: &str = "application/problem+json";
const JSON: &str = "application/json";

/// Runs `handler` as this process's Lambda function until the sandbox stops it.
///
/// `app` lives for the whole process: it is built once per cold start and lent to every
/// invocation.
pub async fn run<F, Fut>(app: App, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<Response<Body>>> + Send + 'static,
{
    let app: &'static App = Box::leak(Box::new(app));
    lambda_http::run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(serve(app, req, handler).await) }))
        .await
}

/// One request through `handler`, with everything every route shares: the request id on
/// the response and on every log line, errors rendered as problem+json (internals to the
/// log only), one access-log line.
pub async fn serve<'a, F, Fut>(app: &'a App, req: Request, handler: F) -> Response<Body>
where
    F: FnOnce(&'a App, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>> + 'a,
{
    serve_rendering(app, req, handler, problem_response).await
}

/// [`serve`], with errors rendered by `render` (the web shop renders HTML error pages).
pub async fn serve_rendering<'a, F, Fut>(
    app: &'a App,
    req: Request,
    handler: F,
    render: impl FnOnce(&Error) -> Response<Body>,
) -> Response<Body>
where
    F: FnOnce(&'a App, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>> + 'a,
{
    let request_id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.raw_http_path(),
    );
    async move {
        let started = Instant::now();
        let mut response = match handler(app, req).await {
            Ok(response) => response,
            Err(err) => {
                match err.status() {
                    500.. => tracing::error!(error = %err, "request failed"),
                    _ => tracing::info!(error = %err, "request refused"),
                }
                render(&err)
            }
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "handled"
        );
        response
    }
    .instrument(span)
    .await
}

/// The ALB trace id (`X-Amzn-Trace-Id: Root=1-…`) when there is one, else a fresh id.
pub fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').find_map(|part| part.trim().strip_prefix("Root=")))
        .filter(|root| {
            !root.is_empty() && root.len() <= 64 && root.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

pub fn problem_response(err: &Error) -> Response<Body> {
    let body = serde_json::to_string(&err.problem())
        .unwrap_or_else(|_| r#"{"type":"about:blank","title":"Internal server error","status":500}"#.to_owned());
    let mut response = response(err.status(), PROBLEM_JSON, Body::Text(body));
    match err {
        Error::Unauthorized(_) => {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::MethodNotAllowed { allow } => {
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        _ => {}
    }
    if let Some(secs) = err.retry_after_secs() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn response(status: u16, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `status` with `value` as its JSON body.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>> {
    let body = serde_json::to_string(value).map_err(|e| Error::internal("serializing a response", e))?;
    Ok(response(status, JSON, Body::Text(body)))
}

/// 201 with `value` and its `Location`.
pub fn created<T: Serialize>(location: &str, value: &T) -> Result<Response<Body>> {
    let mut response = json(201, value)?;
    let location = HeaderValue::from_str(location).map_err(|e| Error::internal("building a Location header", e))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The request body as `T`: 413 when over [`MAX_BODY_BYTES`], 415 unless the content
/// type is JSON, 400 for malformed JSON, and 400 naming the field for wrong types,
/// missing or unknown fields.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let body = checked_body(req)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| Error::bad_request(format!("The request body is not valid JSON: {}.", without_position(&e))))?;
    Ok(value)
}

/// The request body as a JSON object, checked as [`json_body`] checks it, for handlers that
/// need the value itself (to fingerprint it) before reading it as a type with
/// [`from_json_value`].
pub fn json_object(req: &Request) -> Result<serde_json::Value> {
    json_body(req)
}

/// `value` as `T`, with the same 400s naming the field as [`json_body`].
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(json_error)
}

/// The body's bytes after the size, content-type and shape checks.
fn checked_body(req: &Request) -> Result<&[u8]> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == JSON || (mime.starts_with("application/") && mime.ends_with("+json")));
    if !is_json {
        return Err(Error::UnsupportedMediaType);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("The request body is empty; a JSON object is expected."));
    }
    // serde would also read a struct from a JSON array; the API takes objects only.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid("body", "must be a JSON object"));
    }
    Ok(body)
}

fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => Error::Validation(vec![field_error(&path, &inner)]),
        _ => Error::bad_request(format!("The request body is not valid JSON: {}.", without_position(&inner))),
    }
}

/// A header's value as text, if present and visible ASCII.
pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn field_error(path: &str, err: &serde_json::Error) -> FieldError {
    let message = without_position(err);
    // serde names an unknown or missing field in its message, at the parent's path.
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path) {
        // An unknown field's path already ends with its name.
        (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    let message = match named {
        Some(_) if message.starts_with("unknown") => "is not a known field".to_owned(),
        Some(_) => "is required".to_owned(),
        None => message,
    };
    FieldError::new(field, message)
}

fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The request's path as the client sent it (the ALB event's `path`).
pub fn path(req: &Request) -> &str {
    let path = req.raw_http_path();
    if path.is_empty() { req.uri().path() } else { path }
}

/// The answer to a request that no function serves as it was sent: 405 with the `Allow`
/// list of the route table when its path serves other methods, else 404 with `detail`.
/// The `not-found` function (the ALB's default action) answers this way, and so do routed
/// functions for paths their listener rule's pattern takes in but that name no resource.
pub fn unrouted(req: &Request, detail: &'static str) -> Error {
    let allow = crate::routes::allowed_methods(path(req));
    let method = req.method().as_str();
    // A listed method means the table routes it here, so this is no method problem.
    if allow.is_empty() || allow.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        Error::not_found(detail)
    } else {
        Error::MethodNotAllowed { allow }
    }
}

/// The single path parameter of `/<collection>/<id>`: the ALB passes no path parameters,
/// so they come from the raw path. Anything else under the collection is a 404 (or a 405,
/// should the route table serve that path with other methods).
pub fn path_id<'r>(req: &'r Request, collection: &str) -> Result<&'r str> {
    path(req)
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(collection))
        .and_then(|p| p.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| unrouted(req, "No such resource."))
}

/// `{id}` of `/maker-applications/{id}/<action>`: a 404 for any other shape and for an id
/// this service could not have issued.
pub fn application_path_id(req: &Request, action: &str) -> Result<crate::domain::ApplicationId> {
    let id = path(req)
        .strip_prefix("/maker-applications/")
        .and_then(|p| p.strip_suffix(action))
        .and_then(|p| p.strip_suffix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .ok_or_else(|| unrouted(req, "No such resource."))?;
    crate::domain::ApplicationId::parse(id).ok_or_else(|| Error::not_found("No such maker application."))
}

/// The path parameters of `template` (`/products/{id}/photos/{photo_id}`) in `req`'s path,
/// in order; a path of another shape is a 404 (or 405), as for [`path_id`].
pub fn path_params<'r>(req: &'r Request, template: &str) -> Result<Vec<&'r str>> {
    let path = path(req);
    if !crate::routes::api_path_matches(template, path) {
        return Err(unrouted(req, "No such resource."));
    }
    Ok(template.split('/').zip(path.split('/')).filter(|(t, _)| t.starts_with('{')).map(|(_, s)| s).collect())
}

/// One query-string parameter (the last one when repeated), as lambda_http decoded it.
pub fn query<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.query_string_parameters_ref().and_then(|q| q.all(name)).and_then(|values| values.last().copied())
}

/// A query parameter parsed as an integer in `range`; a 400 naming it otherwise.
pub fn query_int(req: &Request, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
    let Some(raw) = query(req, name) else { return Ok(None) };
    match raw.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(Error::invalid(name, format!("must be an integer from {} to {}", range.start(), range.end()))),
    }
}

/// `?limit=` for lists: 1–100, 20 by default.
pub fn page_limit(req: &Request) -> Result<usize> {
    Ok(query_int(req, "limit", 1..=100)?.unwrap_or(20) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(content_type: Option<&str>, body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.to_owned()));
        if let Some(ct) = content_type {
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap_or(HeaderValue::from_static("x")));
        }
        req
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Payload {
        n: u32,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        s: String,
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => vec![format!("not a validation error: {other}")],
        }
    }

    #[test]
    fn bodies_are_refused_by_size_type_and_syntax() {
        let big = format!("{{\"n\":1,\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(json_body::<Payload>(&post(Some(JSON), &big)), Err(Error::PayloadTooLarge)));
        assert!(matches!(json_body::<Payload>(&post(Some("text/plain"), "{}")), Err(Error::UnsupportedMediaType)));
        assert!(matches!(json_body::<Payload>(&post(None, "{}")), Err(Error::UnsupportedMediaType)));
        assert!(matches!(json_body::<Payload>(&post(Some(JSON), "{\"n\":")), Err(Error::BadRequest(_))));
        assert!(matches!(json_body::<Payload>(&post(Some(JSON), "{\"n\":1} x")), Err(Error::BadRequest(_))));
        assert!(json_body::<Payload>(&post(Some("application/json; charset=utf-8"), "{\"n\":1}")).is_ok());
    }

    #[test]
    fn wrong_types_name_their_field() {
        let err = json_body::<Payload>(&post(Some(JSON), r#"{"n":"x"}"#)).err();
        assert_eq!(err.map(fields), Some(vec!["n".to_owned()]));
        let err = json_body::<Payload>(&post(Some(JSON), r#"{"n":1,"inner":{"s":2}}"#)).err();
        assert_eq!(err.map(fields), Some(vec!["inner.s".to_owned()]));
        let err = json_body::<Payload>(&post(Some(JSON), r#"{"n":1,"extra":2}"#)).err();
        assert_eq!(err.map(fields), Some(vec!["extra".to_owned()]));
        let err = json_body::<Payload>(&post(Some(JSON), r#"{}"#)).err();
        assert_eq!(err.map(fields), Some(vec!["n".to_owned()]));
    }

    fn request(method: &str, uri: &str) -> Request {
        let mut req = Request::new(Body::Empty);
        *req.method_mut() = method.parse().unwrap_or_default();
        *req.uri_mut() = uri.parse().unwrap_or_default();
        req
    }

    #[test]
    fn an_unrouted_method_on_a_known_path_is_a_405_with_allow() {
        let err = unrouted(&request("PUT", "/products/prd_x"), "none");
        assert!(matches!(&err, Error::MethodNotAllowed { allow } if allow == &["DELETE", "GET", "PATCH"]), "{err:?}");
        let response = problem_response(&err);
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()), Some("DELETE, GET, PATCH"));
        assert_eq!(response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some(PROBLEM_JSON));
        let err = unrouted(&request("DELETE", "/me"), "none");
        assert!(matches!(&err, Error::MethodNotAllowed { allow } if allow == &["GET", "PUT"]), "{err:?}");
    }

    #[test]
    fn unknown_paths_and_routed_methods_are_a_404() {
        for (method, uri) in [("GET", "/nope"), ("PUT", "/products/a/b"), ("GET", "/products/a/b"), ("POST", "/me/")] {
            let err = unrouted(&request(method, uri), "none");
            assert!(matches!(err, Error::NotFound(_)), "{method} {uri}: {err:?}");
        }
        assert!(matches!(path_id(&request("GET", "/products/a/b"), "products"), Err(Error::NotFound(_))));
        assert!(matches!(path_id(&request("GET", "/products/"), "products"), Err(Error::NotFound(_))));
        assert_eq!(path_id(&request("GET", "/products/prd_1"), "products").ok(), Some("prd_1"));
        let photo = "/products/{id}/photos/{photo_id}";
        assert_eq!(path_params(&request("DELETE", "/products/p/photos/f"), photo).ok(), Some(vec!["p", "f"]));
        assert!(matches!(path_params(&request("DELETE", "/products/p/photos/"), photo), Err(Error::NotFound(_))));
    }

    #[test]
    fn the_request_id_is_the_alb_trace_root_or_fresh() {
        let mut req = Request::new(Body::Empty);
        req.headers_mut()
            .insert("x-amzn-trace-id", HeaderValue::from_static("Root=1-67891233-abcdef012345678912345678;Sampled=1"));
        assert_eq!(request_id(&req), "1-67891233-abcdef012345678912345678");
        let fresh = request_id(&Request::new(Body::Empty));
        assert_eq!(fresh.len(), 26);
    }
}
