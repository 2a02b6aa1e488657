//! A fake AWS Lambda Runtime API (protocol `2018-06-01`) on loopback, so a real function
//! binary can be run as Lambda runs it: the process long-polls
//! `GET /2018-06-01/runtime/invocation/next`, gets an event with the `Lambda-Runtime-*`
//! headers, and posts its result to `…/invocation/{id}/response` or `…/{id}/error`
//! (or `…/runtime/init/error` when it cannot start).
//!
//! One `RuntimeApi` serves one function: point the process's `AWS_LAMBDA_RUNTIME_API` at
//! [`RuntimeApi::addr`], then call [`RuntimeApi::invoke`]. Invocations are queued and each
//! `next` poll takes the oldest one, so a single runtime process serves them one at a time
//! and several processes polling the same API share the queue, as in a Lambda with several
//! warm sandboxes. Paths and headers are those `lambda_runtime` 1.x sends and reads.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let api = local::runtime_api::RuntimeApi::start().await?;
//! // spawn the function with AWS_LAMBDA_RUNTIME_API = api.addr().to_string()
//! let response = api.invoke(serde_json::json!({ "path": "/health" })).await?;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinSet;

/// The invocation deadline we advertise; generous so a debugger or a slow emulator does not
/// make the function believe it timed out.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:local";
const PREFIX: &str = "/2018-06-01/runtime";

/// What a function reported instead of a result: the body of an `…/{id}/error` or
/// `…/init/error` post. `invoke` returns it inside `anyhow::Error`; downcast to inspect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `true` when the runtime failed during init (`/runtime/init/error`).
    pub init: bool,
    /// `errorType` of the body, or the `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: String,
    /// `errorMessage` of the body (the raw body when it is not the usual JSON).
    pub error_message: String,
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = if self.init { "init" } else { "invocation" };
        write!(f, "function {phase} error {}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for FunctionError {}

type Outcome = Result<serde_json::Value, FunctionError>;

struct Queued {
    id: String,
    event: Bytes,
    done: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    in_flight: HashMap<String, oneshot::Sender<Outcome>>,
    last_init_error: Option<FunctionError>,
}

struct Shared {
    state: Mutex<State>,
    /// Woken whenever an event is queued; `next` polls re-check the queue.
    queued: Notify,
    first_poll: watch::Sender<Option<Instant>>,
    deadline: Duration,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated in a way that
        // matters to a test harness, so recover from poisoning instead of propagating it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Stops the accept loop (and every open connection with it) when the last clone of the
/// `RuntimeApi` is dropped.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fake Lambda Runtime API bound to `127.0.0.1:<free port>`. Cheap to clone; clones share
/// the same server and queue.
#[derive(Clone)]
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Arc<ServerTask>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RuntimeApi {
    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a tokio runtime.
    pub async fn start() -> anyhow::Result<RuntimeApi> {
        Self::start_with_deadline(DEFAULT_DEADLINE).await
    }

    /// Like [`start`](Self::start), advertising `deadline` from the moment an event is
    /// handed out in `Lambda-Runtime-Deadline-Ms`.
    pub async fn start_with_deadline(deadline: Duration) -> anyhow::Result<RuntimeApi> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).await.context("binding the fake Lambda Runtime API on 127.0.0.1")?;
        let addr = listener.local_addr().context("reading the Runtime API's address")?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            queued: Notify::new(),
            first_poll: watch::Sender::new(None),
            deadline,
        });
        let server = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(RuntimeApi { addr, shared, _server: Arc::new(ServerTask(server)) })
    }

    /// The value for the function's `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues `event`, waits until a runtime has taken it and posted its result, and returns
    /// the posted response body. Errors with a [`FunctionError`] when the function posts to
    /// `…/{id}/error`, or when a runtime posts `…/init/error` while this invocation is queued
    /// or in flight. Waits forever if no runtime ever polls: wrap it in a timeout, or use
    /// [`invoke_timeout`](Self::invoke_timeout).
    pub async fn invoke(&self, event: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let body = serde_json::to_vec(&event).context("serializing the invocation event")?;
        let (done, outcome) = oneshot::channel();
        let id = request_id();
        self.shared.state().queue.push_back(Queued { id: id.clone(), event: body.into(), done });
        self.shared.queued.notify_waiters();
        match outcome.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(function_error)) => Err(anyhow::Error::new(function_error)),
            Err(_) => anyhow::bail!("the fake Runtime API stopped before invocation {id} completed"),
        }
    }

    /// [`invoke`](Self::invoke) bounded by `timeout`.
    pub async fn invoke_timeout(
        &self,
        event: serde_json::Value,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        tokio::time::timeout(timeout, self.invoke(event))
            .await
            .with_context(|| format!("no response from the function within {timeout:?}"))?
    }

    /// Resolves with the moment the first `GET …/invocation/next` arrived (immediately if it
    /// already has): the end of the function's init phase.
    pub async fn first_poll(&self) -> Instant {
        let mut rx = self.shared.first_poll.subscribe();
        loop {
            if let Some(at) = *rx.borrow_and_update() {
                return at;
            }
            // The sender lives in `self.shared`, which outlives this borrow: `changed` cannot
            // fail while we hold `self`. Fall back to "now" rather than spin if it ever does.
            if rx.changed().await.is_err() {
                return Instant::now();
            }
        }
    }

    /// The moment of the first `next` poll, if one has arrived.
    pub fn first_poll_at(&self) -> Option<Instant> {
        *self.shared.first_poll.borrow()
    }

    /// The last `/runtime/init/error` any runtime posted to this API.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.shared.state().last_init_error.clone()
    }

    /// Invocations queued and not yet taken by a runtime.
    pub fn queued(&self) -> usize {
        self.shared.state().queue.len()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in this set so aborting the accept loop closes them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    // A runtime that exits mid-request is normal here; nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(status(StatusCode::NOT_FOUND, "unknown path"));
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let response = match (req.method(), segments.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next(&shared).await,
        (&Method::POST, ["invocation", id, "response"]) => {
            let id = (*id).to_owned();
            let body = read_body(req).await;
            complete(&shared, &id, Ok(parse_response(&body)))
        }
        (&Method::POST, ["invocation", id, "error"]) => {
            let id = (*id).to_owned();
            let header_type = error_type_header(&req);
            let body = read_body(req).await;
            complete(&shared, &id, Err(parse_error(false, header_type, &body)))
        }
        (&Method::POST, ["init", "error"]) => {
            let header_type = error_type_header(&req);
            let body = read_body(req).await;
            init_error(&shared, parse_error(true, header_type, &body))
        }
        _ => status(StatusCode::NOT_FOUND, "unknown path"),
    };
    Ok(response)
}

/// Long-polls until an event is queued, then hands it out and remembers who waits for it.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let _ = shared.first_poll.send_if_modified(|first| {
        if first.is_none() {
            *first = Some(Instant::now());
            true
        } else {
            false
        }
    });
    loop {
        // Register interest before looking at the queue so an event queued in between
        // still wakes us.
        let notified = shared.queued.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let taken = {
            let mut state = shared.state();
            state.queue.pop_front().map(|q| {
                state.in_flight.insert(q.id.clone(), q.done);
                (q.id, q.event)
            })
        };
        if let Some((id, event)) = taken {
            return event_response(shared, &id, event);
        }
        notified.await;
    }
}

fn event_response(shared: &Shared, id: &str, event: Bytes) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .checked_add(shared.deadline)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(24)..];
    let parent = &hex[..hex.len().min(16)];
    let trace_id = format!("Root=1-{:08x}-{tail:0>24};Parent={parent:0>16};Sampled=0", unix_secs());
    let built = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
        .header("lambda-runtime-trace-id", trace_id)
        .body(Full::new(event));
    built.unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, "could not build the event response"))
}

fn complete(shared: &Shared, id: &str, outcome: Outcome) -> Response<Full<Bytes>> {
    let waiter = shared.state().in_flight.remove(id);
    match waiter {
        Some(done) => {
            // The invoker may have given up (timeout); the result is then simply dropped.
            let _ = done.send(outcome);
            status(StatusCode::ACCEPTED, "OK")
        }
        None => status(StatusCode::BAD_REQUEST, "unknown or already completed request id"),
    }
}

/// A runtime that failed to start takes down whatever was waiting on this API: fail every
/// queued and in-flight invocation rather than leave the invokers hanging. Later `invoke`s
/// queue normally, for a process started afterwards.
fn init_error(shared: &Shared, error: FunctionError) -> Response<Full<Bytes>> {
    let mut state = shared.state();
    for q in state.queue.drain(..) {
        let _ = q.done.send(Err(error.clone()));
    }
    for (_, done) in state.in_flight.drain() {
        let _ = done.send(Err(error.clone()));
    }
    state.last_init_error = Some(error);
    status(StatusCode::ACCEPTED, "OK")
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers().get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn parse_response(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn parse_error(init: bool, header_type: Option<String>, body: &[u8]) -> FunctionError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field =
        |name: &str| json.as_ref().and_then(|j| j.get(name)).and_then(serde_json::Value::as_str).map(str::to_owned);
    FunctionError {
        init,
        error_type: field("errorType").or(header_type).unwrap_or_else(|| "Unknown".to_owned()),
        error_message: field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

async fn read_body(req: Request<Incoming>) -> Bytes {
    match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    }
}

fn status(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = if code.is_success() {
        serde_json::json!({ "status": message })
    } else {
        serde_json::json!({ "errorType": code.canonical_reason().unwrap_or("Error"), "errorMessage": message })
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = code;
    response
}

/// A UUID-shaped request id, like Lambda's, from a ULID (unique and time-ordered).
fn request_id() -> String {
    let n = ulid::Ulid::new().0;
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const NEXT: &str = "/2018-06-01/runtime/invocation/next";

    struct Reply {
        status: u16,
        headers: HashMap<String, String>,
        body: String,
    }

    /// One HTTP/1.1 request on a fresh connection, read until the server closes it: the
    /// smallest possible runtime client, independent of the server's HTTP stack.
    async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap_or_else(|e| panic!("read: {e}"));
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply { status, headers, body: body.to_owned() }
    }

    fn request_id(reply: &Reply) -> String {
        reply.headers.get("lambda-runtime-aws-request-id").cloned().unwrap_or_default()
    }

    async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(5), fut).await.unwrap_or_else(|_| panic!("timed out"))
    }

    #[tokio::test]
    async fn an_invocation_is_delivered_with_the_runtime_headers_and_its_response_returned() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let invoker = tokio::spawn({
            let api = api.clone();
            async move { api.invoke(json!({ "path": "/health" })).await }
        });

        let event = within(http(api.addr(), "GET", NEXT, "")).await;
        assert_eq!(event.status, 200);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&event.body).ok(), Some(json!({ "path": "/health" })));
        let id = request_id(&event);
        assert!(!id.is_empty());
        let deadline: u128 = event.headers["lambda-runtime-deadline-ms"].parse().unwrap_or(0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        assert!(deadline > now);
        assert!(event.headers["lambda-runtime-invoked-function-arn"].starts_with("arn:aws:lambda:"));
        assert!(event.headers["lambda-runtime-trace-id"].starts_with("Root=1-"));

        let posted = within(http(
            api.addr(),
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/response"),
            r#"{"statusCode":200}"#,
        ))
        .await;
        assert_eq!(posted.status, 202);
        let response = within(invoker).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response, json!({ "statusCode": 200 }));
    }

    #[tokio::test]
    async fn a_posted_error_fails_the_invocation_with_the_functions_error() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let invoker = tokio::spawn({
            let api = api.clone();
            async move { api.invoke(json!({})).await }
        });
        let id = request_id(&within(http(api.addr(), "GET", NEXT, "")).await);
        let posted = within(http(
            api.addr(),
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/error"),
            r#"{"errorType":"Boom","errorMessage":"it broke"}"#,
        ))
        .await;
        assert_eq!(posted.status, 202);
        let err = within(invoker)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .unwrap_or_else(|| panic!("expected an error"));
        let function_error = err.downcast_ref::<FunctionError>().cloned();
        assert_eq!(
            function_error,
            Some(FunctionError { init: false, error_type: "Boom".into(), error_message: "it broke".into() })
        );
    }

    #[tokio::test]
    async fn an_init_error_fails_queued_invocations() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let invoker = tokio::spawn({
            let api = api.clone();
            async move { api.invoke(json!({})).await }
        });
        while api.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let posted = within(http(
            api.addr(),
            "POST",
            "/2018-06-01/runtime/init/error",
            r#"{"errorType":"Config","errorMessage":"TABLE_NAME missing"}"#,
        ))
        .await;
        assert_eq!(posted.status, 202);
        let err = within(invoker)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .err()
            .unwrap_or_else(|| panic!("expected an error"));
        assert!(err.downcast_ref::<FunctionError>().is_some_and(|e| e.init && e.error_type == "Config"));
        assert_eq!(api.init_error().map(|e| e.error_message), Some("TABLE_NAME missing".to_owned()));
    }

    #[tokio::test]
    async fn first_poll_resolves_when_the_runtime_first_asks_for_work() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(api.first_poll_at().is_none());
        let before = Instant::now();
        // The poll blocks (no event queued); it is enough that it arrived.
        let poller = tokio::spawn(http(api.addr(), "GET", NEXT, ""));
        let at = within(api.first_poll()).await;
        assert!(at >= before);
        assert_eq!(api.first_poll_at(), Some(at));
        assert_eq!(within(api.first_poll()).await, at);
        poller.abort();
    }

    #[tokio::test]
    async fn concurrent_invocations_are_served_in_order_one_poll_each() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let mut invokers = Vec::new();
        for n in 0..3 {
            let invoker = api.clone();
            invokers.push(tokio::spawn(async move { invoker.invoke(json!({ "n": n })).await }));
            while api.queued() <= n {
                tokio::task::yield_now().await;
            }
        }
        for n in 0..3 {
            let event = within(http(api.addr(), "GET", NEXT, "")).await;
            assert_eq!(serde_json::from_str::<serde_json::Value>(&event.body).ok(), Some(json!({ "n": n })));
            let id = request_id(&event);
            let echoed = format!(r#"{{"echo":{n}}}"#);
            within(http(api.addr(), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &echoed)).await;
        }
        for (n, invoker) in invokers.into_iter().enumerate() {
            let response = within(invoker).await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response, json!({ "echo": n }));
        }
    }

    #[tokio::test]
    async fn two_runtimes_polling_one_api_each_get_a_different_event() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let first = tokio::spawn(http(api.addr(), "GET", NEXT, ""));
        let second = tokio::spawn(http(api.addr(), "GET", NEXT, ""));
        within(api.first_poll()).await;
        let a = tokio::spawn({
            let api = api.clone();
            async move { api.invoke(json!("a")).await }
        });
        let b = tokio::spawn({
            let api = api.clone();
            async move { api.invoke(json!("b")).await }
        });
        let mut bodies = Vec::new();
        for poll in [first, second] {
            let event = within(poll).await.unwrap_or_else(|e| panic!("{e}"));
            let id = request_id(&event);
            within(http(api.addr(), "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), &event.body))
                .await;
            bodies.push(event.body);
        }
        bodies.sort();
        assert_eq!(bodies, vec![r#""a""#.to_owned(), r#""b""#.to_owned()]);
        assert_eq!(within(a).await.unwrap_or_else(|e| panic!("{e}")).ok(), Some(json!("a")));
        assert_eq!(within(b).await.unwrap_or_else(|e| panic!("{e}")).ok(), Some(json!("b")));
    }

    #[tokio::test]
    async fn a_response_for_an_unknown_request_id_is_rejected() {
        let api = RuntimeApi::start().await.unwrap_or_else(|e| panic!("{e}"));
        let reply = within(http(api.addr(), "POST", "/2018-06-01/runtime/invocation/nope/response", "{}")).await;
        assert_eq!(reply.status, 400);
    }
}
