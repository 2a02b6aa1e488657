//! A loopback TCP proxy in front of an emulator that counts the requests passing through:
//! in front of DynamoDB Local by their `X-Amz-Target` header (`DynamoDB_20120810.GetItem` →
//! `GetItem`), in front of localstripe by method and path with ids folded
//! (`POST /v1/payment_intents/pi_123/cancel` → `POST /v1/payment_intents/{id}/cancel`).
//! The clients speak plain HTTP/1.1 to an `http://` endpoint, so requests can be read off
//! the byte stream; bytes pass through untouched.

use std::collections::BTreeMap;
use std::net::SocketAddr;
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

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr, by: CountBy) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("binding the counting proxy")?;
        let addr = listener.local_addr()?;
        let counts = Counts::default();
        let task = tokio::spawn(accept(listener, upstream, by, counts.clone()));
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

async fn accept(listener: TcpListener, upstream: SocketAddr, by: CountBy, counts: Counts) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    connections.spawn(relay(client, upstream, by, counts.clone()));
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
}
