//! A loopback TCP proxy in front of an emulator that counts the requests passing through:
//! in front of DynamoDB Local by their `X-Amz-Target` header (`DynamoDB_20120810.GetItem` →
//! `GetItem`), in front of localstripe by method and path with ids folded
//! (`POST /v1/payment_intents/pi_123/cancel` → `POST /v1/payment_intents/{id}/cancel`).
//! The clients speak plain HTTP/1.1 to an `http://` endpoint, so requests can be read off
//! the byte stream; bytes pass through untouched.
//!
//! In front of DynamoDB Local it can also stand for DynamoDB under load ([`Faults`]): while
//! switched on, it answers a chosen share of calls itself, with the errors real DynamoDB
//! gives and DynamoDB Local never does (`TransactionConflict`, throttling, 500s). Such a
//! call never reaches DynamoDB Local: nothing was written, as with the real errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// What the proxy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    /// The `X-Amz-Target` header's operation (AWS JSON protocols: DynamoDB).
    AmzTarget,
    /// `METHOD /path`, query dropped, id-like segments replaced by `{id}` (Stripe's REST API).
    RequestLine,
}

pub struct CountingProxy {
    addr: SocketAddr,
    counts: Counts,
    task: tokio::task::JoinHandle<()>,
}

/// An error DynamoDB gives under load, as its JSON protocol sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// `TransactionCanceledException`, every item `TransactionConflict` (another transaction
    /// held one of them). Only for `TransactWriteItems`; the SDK does not retry it.
    Conflict,
    /// `ThrottlingException` (400), retried by the SDK.
    Throttling,
    /// `ProvisionedThroughputExceededException` (400), retried by the SDK.
    ProvisionedThroughputExceeded,
    /// `InternalServerError` (500), retried by the SDK.
    InternalServerError,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Conflict => "TransactionConflict",
            Self::Throttling => "ThrottlingException",
            Self::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Self::InternalServerError => "InternalServerError (500)",
        }
    }

    /// The HTTP response, for a request with `items` transaction items.
    fn response(self, items: usize) -> Vec<u8> {
        let (status, body) = match self {
            Self::Conflict => (
                "400 Bad Request",
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                    "CancellationReasons": (0..items.max(1)).map(|_| serde_json::json!({
                        "Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item"
                    })).collect::<Vec<_>>(),
                }),
            ),
            Self::Throttling => (
                "400 Bad Request",
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput."}),
            ),
            Self::ProvisionedThroughputExceeded => (
                "400 Bad Request",
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded."}),
            ),
            Self::InternalServerError => (
                "500 Internal Server Error",
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error"}),
            ),
        };
        let body = body.to_string();
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\
             x-amzn-requestid: fault-{}\r\n\r\n{body}",
            body.len(),
            ulid::Ulid::new()
        )
        .into_bytes()
    }
}

/// The proxy's fault switch, shared with whoever drives the faults. Off until
/// [`Faults::switch_on`]. Deterministic: of every 1000 calls while on, exactly `per_mille`
/// are answered with an error, spread evenly; the errors take turns.
#[derive(Debug, Default)]
pub struct Faults {
    per_mille: AtomicU32,
    calls: AtomicU64,
    turns: AtomicU64,
    injected: Mutex<BTreeMap<Fault, u64>>,
}

impl Faults {
    pub fn switch_on(&self, per_mille: u32) {
        self.per_mille.store(per_mille.min(1000), Ordering::SeqCst);
    }

    pub fn switch_off(&self) {
        self.per_mille.store(0, Ordering::SeqCst);
    }

    /// What was injected so far, by fault.
    pub fn injected(&self) -> BTreeMap<Fault, u64> {
        self.injected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The fault for this call of `operation`, if it gets one.
    fn decide(&self, operation: &str) -> Option<Fault> {
        let per_mille = u64::from(self.per_mille.load(Ordering::SeqCst));
        if per_mille == 0 {
            return None;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if (n + 1) * per_mille / 1000 == n * per_mille / 1000 {
            return None;
        }
        // Conflicts are what a transaction gets; every call can be throttled or fail.
        let choices: &[Fault] = if operation == "TransactWriteItems" {
            &[
                Fault::Conflict,
                Fault::Throttling,
                Fault::Conflict,
                Fault::ProvisionedThroughputExceeded,
                Fault::InternalServerError,
            ]
        } else {
            &[Fault::Throttling, Fault::ProvisionedThroughputExceeded, Fault::InternalServerError]
        };
        let turn = self.turns.fetch_add(1, Ordering::SeqCst);
        let fault = choices[usize::try_from(turn).unwrap_or(0) % choices.len()];
        *self.injected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(fault).or_default() += 1;
        Some(fault)
    }
}

/// An upstream answer, as a tapped proxy read it: status, the body (de-chunked), and the
/// bytes to hand the client unchanged.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    raw: Vec<u8>,
}

/// Sends one request upstream and reads its whole answer (`None`: the connection broke).
pub type Forward<'a> = futures::future::BoxFuture<'a, Option<Answer>>;

/// Sees every whole request of a tapped proxy ([`CountingProxy::tapped`]) and decides when it
/// goes upstream: `exchange` must await `forward` once and return its answer, which then goes
/// to the client. What it does before and after (reading the items a write changes) happens
/// while the client waits, as if DynamoDB were that much slower.
pub trait Tap: Send + Sync + 'static {
    fn exchange<'a>(&'a self, operation: &'a str, body: &'a [u8], forward: Forward<'a>) -> Forward<'a>;
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr, by: CountBy) -> anyhow::Result<Self> {
        Self::start_with(upstream, by, None).await
    }

    /// A proxy in front of DynamoDB (Local) that answers calls with `faults` while they are
    /// switched on. It connects to `upstream` only when a client connects.
    pub async fn with_faults(upstream: SocketAddr, faults: Arc<Faults>) -> anyhow::Result<Self> {
        Self::start_with(upstream, CountBy::AmzTarget, Some(Relay::Faults(faults))).await
    }

    /// A proxy in front of DynamoDB (Local) that hands every whole request to `tap` (the
    /// capacity bench: what each write changed). It connects to `upstream` only when a client
    /// connects.
    pub async fn tapped(upstream: SocketAddr, tap: Arc<dyn Tap>) -> anyhow::Result<Self> {
        Self::start_with(upstream, CountBy::AmzTarget, Some(Relay::Tap(tap))).await
    }

    async fn start_with(upstream: SocketAddr, by: CountBy, relay: Option<Relay>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("binding the counting proxy")?;
        let addr = listener.local_addr()?;
        let counts = Counts::default();
        let task = tokio::spawn(accept(listener, upstream, by, counts.clone(), relay));
        Ok(Self { addr, counts, task })
    }

    /// The endpoint URL to give the functions instead of the emulator's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts since the last call, by operation; resets them.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// What a proxy does besides counting.
#[derive(Clone)]
enum Relay {
    Faults(Arc<Faults>),
    Tap(Arc<dyn Tap>),
}

async fn accept(listener: TcpListener, upstream: SocketAddr, by: CountBy, counts: Counts, relay_with: Option<Relay>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    match &relay_with {
                        Some(Relay::Faults(faults)) => connections.spawn(relay_with_faults(client, upstream, counts.clone(), faults.clone())),
                        Some(Relay::Tap(tap)) => connections.spawn(relay_tapped(client, upstream, counts.clone(), tap.clone())),
                        None => connections.spawn(relay(client, upstream, by, counts.clone())),
                    };
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, by: CountBy, counts: Counts) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let requests = async move {
        let mut amz = Scanner::default();
        let mut lines = RequestFramer::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Count before forwarding, so a count is in place when the response arrives.
            let found = match by {
                CountBy::AmzTarget => amz.feed(&buf[..n]),
                CountBy::RequestLine => lines.feed(&buf[..n]),
            };
            for op in found {
                *counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(op).or_default() += 1;
            }
            if server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_tx.shutdown().await;
    };
    let responses = async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
        let _ = client_tx.shutdown().await;
    };
    tokio::join!(requests, responses);
}

/// [`relay`], reading whole requests: each is forwarded, or answered here with a fault.
/// The SDK does not pipeline: a client sends its next request on a connection only after
/// the answer to the last, so an answer made here never lands inside one from upstream.
async fn relay_with_faults(client: TcpStream, upstream: SocketAddr, counts: Counts, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let client_tx = Arc::new(tokio::sync::Mutex::new(client_tx));
    let answers = client_tx.clone();
    let requests = async move {
        let mut framer = WholeRequests::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for request in framer.feed(&buf[..n]) {
                *counts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(request.operation.clone())
                    .or_default() += 1;
                let sent = match faults.decide(&request.operation) {
                    Some(fault) => answers.lock().await.write_all(&fault.response(request.items)).await,
                    None => server_tx.write_all(&request.bytes).await,
                };
                if sent.is_err() {
                    return;
                }
            }
        }
        let _ = server_tx.shutdown().await;
    };
    let responses = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if client_tx.lock().await.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_tx.lock().await.shutdown().await;
    };
    tokio::join!(requests, responses);
}

/// [`relay`], one whole request at a time: each goes through the tap, which sends it upstream
/// and gets the whole answer, which then goes to the client. The SDK does not pipeline, so
/// one request and its answer at a time is what the connection carries anyway.
async fn relay_tapped(client: TcpStream, upstream: SocketAddr, counts: Counts, tap: Arc<dyn Tap>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (server_rx, mut server_tx) = server.into_split();
    let mut answers = AnswerReader { stream: server_rx, pending: Vec::new() };
    let mut framer = WholeRequests::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match client_rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for request in framer.feed(&buf[..n]) {
            *counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(request.operation.clone())
                .or_default() += 1;
            let (server_tx, answers) = (&mut server_tx, &mut answers);
            let bytes = &request.bytes;
            let forward: Forward<'_> = Box::pin(async move {
                server_tx.write_all(bytes).await.ok()?;
                answers.next().await
            });
            let answer = tap.exchange(&request.operation, &request.bytes[request.body_start..], forward).await;
            let Some(answer) = answer else { return };
            if client_tx.write_all(&answer.raw).await.is_err() {
                return;
            }
        }
    }
    let _ = server_tx.shutdown().await;
    let _ = client_tx.shutdown().await;
}

/// Reads whole HTTP/1.1 answers off an upstream connection: head, then a `Content-Length`
/// or chunked body (or, with neither, up to the end of the stream).
struct AnswerReader<R> {
    stream: R,
    pending: Vec<u8>,
}

impl<R: tokio::io::AsyncRead + Unpin> AnswerReader<R> {
    async fn fill(&mut self) -> Option<()> {
        let mut buf = vec![0u8; 16 * 1024];
        match self.stream.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                Some(())
            }
        }
    }

    async fn next(&mut self) -> Option<Answer> {
        let head_end = loop {
            if let Some(end) = find_ignore_case(&self.pending, b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |wanted: &str| {
            head.lines().skip(1).find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case(wanted).then(|| value.trim().to_owned())
            })
        };
        let start = head_end + 4;
        let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let (end, body) = if chunked {
            let mut body = Vec::new();
            let mut at = start;
            loop {
                let line_end = loop {
                    if let Some(i) = find_ignore_case(&self.pending[at..], b"\r\n") {
                        break at + i;
                    }
                    self.fill().await?;
                };
                let size_text = String::from_utf8_lossy(&self.pending[at..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).ok()?;
                let data = line_end + 2;
                while self.pending.len() < data + size + 2 {
                    self.fill().await?;
                }
                body.extend_from_slice(&self.pending[data..data + size]);
                at = data + size + 2;
                if size == 0 {
                    // No trailers from DynamoDB: the last chunk ends the answer.
                    break (at, body);
                }
            }
        } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.pending.len() < start + len {
                self.fill().await?;
            }
            (start + len, self.pending[start..start + len].to_vec())
        } else {
            while self.fill().await.is_some() {}
            (self.pending.len(), self.pending[start..].to_vec())
        };
        let raw: Vec<u8> = self.pending.drain(..end).collect();
        Some(Answer { status, body, raw })
    }
}

/// One whole request off a client's byte stream.
#[derive(Debug)]
struct WholeRequest {
    /// The `X-Amz-Target` operation (`GetItem`), or `?`.
    operation: String,
    /// `TransactItems` in the body (0 for other calls).
    items: usize,
    /// Head and body, as received.
    bytes: Vec<u8>,
    /// Where the body starts in `bytes`.
    body_start: usize,
}

/// Splits an HTTP/1.1 byte stream into whole requests (head and `Content-Length` body).
#[derive(Default)]
struct WholeRequests {
    pending: Vec<u8>,
}

impl WholeRequests {
    fn feed(&mut self, bytes: &[u8]) -> Vec<WholeRequest> {
        self.pending.extend_from_slice(bytes);
        let mut found = Vec::new();
        while let Some(head_end) = find_ignore_case(&self.pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
            let header = |wanted: &str| {
                head.lines().skip(1).find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.trim().eq_ignore_ascii_case(wanted).then(|| value.trim().to_owned())
                })
            };
            let body_len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            let end = head_end + 4 + body_len;
            if self.pending.len() < end {
                break;
            }
            let bytes: Vec<u8> = self.pending.drain(..end).collect();
            let target = header("x-amz-target").unwrap_or_default();
            let operation = target.rsplit('.').next().filter(|op| !op.is_empty()).unwrap_or("?").to_owned();
            let items = serde_json::from_slice::<serde_json::Value>(&bytes[head_end + 4..])
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(0);
            found.push(WholeRequest { operation, items, bytes, body_start: head_end + 4 });
        }
        found
    }
}

const NEEDLE: &[u8] = b"\nx-amz-target:";

/// Finds `X-Amz-Target` header lines in a byte stream that arrives in arbitrary pieces.
#[derive(Default)]
struct Scanner {
    pending: Vec<u8>,
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut found = Vec::new();
        loop {
            let Some(start) = find_ignore_case(&self.pending, NEEDLE) else {
                // Keep a tail long enough to hold a needle split across reads.
                let keep = self.pending.len().saturating_sub(NEEDLE.len());
                self.pending.drain(..keep);
                break;
            };
            let value_start = start + NEEDLE.len();
            let Some(len) = self.pending[value_start..].iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.pending.drain(..start);
                break;
            };
            let value = String::from_utf8_lossy(&self.pending[value_start..value_start + len]).trim().to_owned();
            let op = value.rsplit('.').next().unwrap_or(&value).to_owned();
            found.push(op);
            self.pending.drain(..value_start + len);
        }
        found
    }
}

/// Splits a client's HTTP/1.1 byte stream into requests (head, then `Content-Length` bytes
/// of body, or a chunked body up to its last chunk) and names each by its request line.
#[derive(Default)]
struct RequestFramer {
    pending: Vec<u8>,
    /// Body bytes of the current request still to skip.
    body_left: usize,
    /// Inside a chunked body: skip up to the terminating `0\r\n\r\n`.
    chunked: bool,
}

impl RequestFramer {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut found = Vec::new();
        loop {
            if self.body_left > 0 {
                let skip = self.body_left.min(self.pending.len());
                self.pending.drain(..skip);
                self.body_left -= skip;
                if self.body_left > 0 {
                    break;
                }
            }
            if self.chunked {
                let Some(end) = find_ignore_case(&self.pending, b"0\r\n\r\n") else {
                    let keep = self.pending.len().saturating_sub(5);
                    self.pending.drain(..keep);
                    break;
                };
                self.pending.drain(..end + 5);
                self.chunked = false;
            }
            let Some(head_end) = find_ignore_case(&self.pending, b"\r\n\r\n") else { break };
            let head = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
            self.pending.drain(..head_end + 4);
            let mut head_lines = head.lines();
            let request_line = head_lines.next().unwrap_or_default();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("?"));
            found.push(format!("{method} {}", fold_ids(target)));
            for line in head_lines {
                let Some((name, value)) = line.split_once(':') else { continue };
                let (name, value) = (name.trim(), value.trim());
                if name.eq_ignore_ascii_case("content-length") {
                    self.body_left = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                    self.chunked = true;
                }
            }
        }
        found
    }
}

/// `/v1/payment_intents/pi_3Q…/cancel?expand[]=x` → `/v1/payment_intents/{id}/cancel`:
/// a segment after a collection that looks like a Stripe id (`prefix_rest`) is an id.
fn fold_ids(target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    path.split('/')
        .map(|segment| {
            let id_like = segment.split_once('_').is_some_and(|(prefix, rest)| {
                !prefix.is_empty()
                    && prefix.bytes().all(|b| b.is_ascii_lowercase())
                    && !rest.is_empty()
                    && rest.bytes().any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            });
            if id_like { "{id}" } else { segment }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_found_even_when_split_across_reads() {
        let request =
            b"POST / HTTP/1.1\r\nhost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\ncontent-length: 2\r\n\r\n{}\
POST / HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.TransactWriteItems\r\n\r\n";
        for split in 0..request.len() {
            let mut scanner = Scanner::default();
            let mut ops = scanner.feed(&request[..split]);
            ops.extend(scanner.feed(&request[split..]));
            assert_eq!(ops, ["GetItem", "TransactWriteItems"], "split at {split}");
        }
    }

    #[test]
    fn whole_requests_are_framed_even_when_split_across_reads() {
        let body = br#"{"TransactItems":[{"Put":{}},{"Update":{}}]}"#;
        let mut stream = format!(
            "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.TransactWriteItems\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        stream.extend_from_slice(body);
        stream.extend_from_slice(
            b"POST / HTTP/1.1\r\nx-amz-target: DynamoDB_20120810.GetItem\r\ncontent-length: 2\r\n\r\n{}",
        );
        for split in 0..stream.len() {
            let mut framer = WholeRequests::default();
            let mut found = framer.feed(&stream[..split]);
            found.extend(framer.feed(&stream[split..]));
            let seen: Vec<(&str, usize)> = found.iter().map(|r| (r.operation.as_str(), r.items)).collect();
            assert_eq!(seen, [("TransactWriteItems", 2), ("GetItem", 0)], "split at {split}");
            assert_eq!(found.iter().map(|r| r.bytes.len()).sum::<usize>(), stream.len());
        }
    }

    #[test]
    fn faults_hit_their_share_of_calls_and_only_while_on() {
        let faults = Faults::default();
        assert!((0..100).all(|_| faults.decide("GetItem").is_none()), "off by default");
        faults.switch_on(250);
        let hit = (0..1000).filter(|_| faults.decide("TransactWriteItems").is_some()).count();
        assert_eq!(hit, 250);
        faults.switch_off();
        assert!(faults.decide("GetItem").is_none());
        let injected = faults.injected();
        assert_eq!(injected.values().sum::<u64>(), 250);
        assert_eq!(injected.get(&Fault::Conflict), Some(&100), "{injected:?}");
        faults.switch_on(1000);
        assert_ne!(faults.decide("GetItem"), Some(Fault::Conflict), "only transactions conflict");
    }

    #[test]
    fn a_conflict_names_every_item_as_dynamodb_does() {
        let response = String::from_utf8(Fault::Conflict.response(3)).unwrap_or_default();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(body["CancellationReasons"].as_array().map(Vec::len), Some(3));
        assert!(String::from_utf8_lossy(&Fault::InternalServerError.response(0)).starts_with("HTTP/1.1 500 "));
    }

    #[test]
    fn http_requests_are_framed_and_named_with_ids_folded() {
        let stream = b"POST /v1/payment_intents HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\n\
amount=100&currency=eurPOST /v1/payment_intents/pi_3QAbc123/cancel HTTP/1.1\r\ncontent-length: 0\r\n\r\n\
GET /v1/refunds?payment_intent=pi_1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
POST /v1/refunds HTTP/1.1\r\n\r\n";
        let expected =
            ["POST /v1/payment_intents", "POST /v1/payment_intents/{id}/cancel", "GET /v1/refunds", "POST /v1/refunds"];
        for split in 0..stream.len() {
            let mut framer = RequestFramer::default();
            let mut found = framer.feed(&stream[..split]);
            found.extend(framer.feed(&stream[split..]));
            assert_eq!(found, expected, "split at {split}");
        }
    }

    #[tokio::test]
    async fn answers_are_read_whole_with_a_length_or_in_chunks() {
        let stream: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}\
HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n2\r\n\":\r\n2\r\n1}\r\n0\r\n\r\n";
        let mut reader = AnswerReader { stream, pending: Vec::new() };
        let first = reader.next().await.unwrap_or_else(|| panic!("no first answer"));
        assert_eq!((first.status, first.body.as_slice()), (200, b"{}".as_slice()));
        let second = reader.next().await.unwrap_or_else(|| panic!("no second answer"));
        assert_eq!((second.status, second.body.as_slice()), (400, br#"{"a":1}"#.as_slice()));
        assert!(second.raw.starts_with(b"HTTP/1.1 400") && second.raw.ends_with(b"0\r\n\r\n"));
        assert!(reader.next().await.is_none());
    }
}
