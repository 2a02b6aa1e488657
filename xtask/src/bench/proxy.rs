//! A loopback TCP proxy in front of the DynamoDB emulator that counts requests by their
//! `X-Amz-Target` header (`DynamoDB_20120810.GetItem` → `GetItem`): DynamoDB round trips
//! per request. The SDK speaks plain HTTP/1.1 to an `http://` endpoint, so the header can be
//! read off the byte stream without parsing HTTP; bytes pass through untouched.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

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
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("binding the counting proxy")?;
        let addr = listener.local_addr()?;
        let counts = Counts::default();
        let task = tokio::spawn(accept(listener, upstream, counts.clone()));
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

async fn accept(listener: TcpListener, upstream: SocketAddr, counts: Counts) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    connections.spawn(relay(client, upstream, counts.clone()));
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, counts: Counts) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let requests = async move {
        let mut scanner = Scanner::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Count before forwarding, so a count is in place when the response arrives.
            for op in scanner.feed(&buf[..n]) {
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
}
