//! Stripe's webhook deliveries, as the soak wants them: localstripe posts each webhook here
//! (registered as its endpoint in place of the ALB's), the relay answers it 200 at once and
//! delivers it to `POST /webhooks/stripe` itself, retrying a 5xx or a failed connection a
//! few times with backoff as Stripe does (localstripe tries once). While its fault is on,
//! every webhook is delivered twice, and every third one late: after the payment window,
//! so that the payment expirer has asked Stripe first.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::check::Sample;
use crate::bench::orders::Api;

/// Deliveries of one webhook that failed before it is given up on (Stripe tries for days).
const RETRIES: u32 = 5;

pub struct Relay {
    addr: SocketAddr,
    pub shared: Arc<RelayState>,
    task: tokio::task::JoinHandle<()>,
}

pub struct RelayState {
    api: Api,
    started: Instant,
    /// Twice, and every third late.
    twice_and_late: AtomicBool,
    late_by: Duration,
    received: AtomicU64,
    pub delivered_twice: AtomicU64,
    pub delivered_late: AtomicU64,
    /// Deliveries still to make (late ones included).
    pub in_flight: AtomicU64,
    pub samples: std::sync::Mutex<Vec<Sample>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    pub async fn start(api_url: &str, started: Instant, late_by: Duration) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("binding the webhook relay")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(RelayState {
            api: Api::new(api_url),
            started,
            twice_and_late: AtomicBool::new(false),
            late_by,
            received: AtomicU64::new(0),
            delivered_twice: AtomicU64::new(0),
            delivered_late: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            samples: std::sync::Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| receive(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Relay { addr, shared, task })
    }

    /// The URL to register at localstripe.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn set_twice_and_late(&self, on: bool) {
        self.shared.twice_and_late.store(on, Ordering::SeqCst);
    }

    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::SeqCst)
    }
}

async fn receive(state: Arc<RelayState>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let signature = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let n = state.received.fetch_add(1, Ordering::SeqCst);
    if let Some(signature) = signature {
        let faulty = state.twice_and_late.load(Ordering::SeqCst);
        let (delay, copies) = match (faulty, n % 3) {
            (false, _) => (Duration::ZERO, 1),
            (true, 0) => (state.late_by, 2),
            (true, _) => (Duration::ZERO, 2),
        };
        if copies > 1 {
            state.delivered_twice.fetch_add(1, Ordering::SeqCst);
        }
        if !delay.is_zero() {
            state.delivered_late.fetch_add(1, Ordering::SeqCst);
        }
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for copy in 0..copies {
                if copy > 0 {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                deliver(&state, &body, &signature).await;
            }
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// One delivery, retried on a 5xx or no answer; each attempt is a sample of the stack.
async fn deliver(state: &RelayState, body: &Bytes, signature: &str) {
    let headers = [("stripe-signature", signature), ("content-type", "application/json; charset=utf-8")];
    for attempt in 0..=RETRIES {
        let sent = state.started.elapsed();
        let status = match state.api.send_bytes("POST", "/webhooks/stripe", &headers, body.clone()).await {
            Ok(reply) => reply.status,
            Err(_) => 0,
        };
        let took = state.started.elapsed().saturating_sub(sent);
        let sample = Sample { route: "POST /webhooks/stripe", sent, took, status, expected: status == 200 };
        state.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(sample);
        if (200..500).contains(&status) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1 << attempt.min(3))).await;
    }
}
