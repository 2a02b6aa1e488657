//! The order side of the bench on the local stack: the real release binaries behind the local
//! ALB emulator (`local::alb`, as `cargo xtask dev` runs them), driven over HTTP. Used to set
//! up the orders the measured single requests act on, to time `POST /orders` at a given
//! concurrency, and to run the rush (20 concurrent single-unit orders on a stock of 5).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use super::report::{LatencyResult, RushRun};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// An HTTP client of the local ALB (keep-alive connections, as a storefront's backend
/// would hold).
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// One answer: status, JSON body (`Null` if not JSON), request sent → body received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    pub body: Value,
    pub elapsed: Duration,
}

impl Reply {
    /// The body's `field` as a string, or an error naming the whole answer.
    pub fn str(&self, field: &str) -> anyhow::Result<String> {
        self.body
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("no `{field}` in the answer ({}): {}", self.status, self.body))
    }

    pub fn expect(self, status: u16, what: &str) -> anyhow::Result<Self> {
        if self.status != status {
            bail!("{what}: expected {status}, got {}: {}", self.status, self.body);
        }
        Ok(self)
    }
}

impl Api {
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { base: base.trim_end_matches('/').to_owned(), client }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        let bearer = token.map(|t| format!("Bearer {t}"));
        if let Some(bearer) = &bearer {
            all.push(("authorization", bearer));
        }
        let bytes = match body {
            Some(body) => {
                all.push(("content-type", "application/json"));
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        self.send_bytes(method, path, &all, bytes).await
    }

    /// [`Api::send`] with a body sent byte for byte (a signed webhook) and only `headers`.
    pub async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        bytes: Bytes,
    ) -> anyhow::Result<Reply> {
        let uri = format!("{}{path}", self.base);
        let mut builder = http::Request::builder().method(method).uri(&uri).header("accept", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(bytes)).with_context(|| format!("building {method} {uri}"))?;
        let started = Instant::now();
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let bytes = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, retry_after, bytes))
        };
        let (status, retry_after, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .with_context(|| format!("{method} {uri}: no answer within {REQUEST_TIMEOUT:?}"))?
            .with_context(|| format!("{method} {uri}"))?;
        let elapsed = started.elapsed();
        Ok(Reply { status, retry_after, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), elapsed })
    }

    /// `POST /products` as the maker: a product with `stock` units; its id.
    pub async fn create_product(&self, maker_token: &str, title: &str, stock: u64) -> anyhow::Result<String> {
        let body = json!({
            "title": title,
            "description": "A product made by cargo xtask bench.",
            "price_cents": 1800,
            "stock": stock,
            "category": "ceramics",
            "images": ["https://images.example/bench.jpg"],
        });
        self.send("POST", "/products", Some(maker_token), Some(&body), &[])
            .await?
            .expect(201, "creating a bench product")?
            .str("id")
    }

    /// `POST /orders` for `quantity` of `product`, with a fresh `Idempotency-Key` (as a
    /// storefront sends).
    pub async fn place_order(&self, token: &str, product: &str, quantity: u64) -> anyhow::Result<Reply> {
        let key = ulid::Ulid::new().to_string();
        self.send("POST", "/orders", Some(token), Some(&order_body(product, quantity)), &[("idempotency-key", &key)])
            .await
    }

    /// `POST /orders/{id}/cancel` of the order a 201 `reply` placed, as its customer: a
    /// customer may hold only 3 unpaid orders (API.md), so the bench cancels what it placed.
    pub async fn cancel_placed(&self, token: &str, reply: &Reply) -> anyhow::Result<()> {
        let id = reply.body.get("id").and_then(Value::as_str).context("a placed order has an id")?;
        self.send("POST", &format!("/orders/{id}/cancel"), Some(token), None, &[])
            .await?
            .expect(200, "cancelling a bench order")?;
        Ok(())
    }

    /// The product's stock as its maker sees it.
    pub async fn stock(&self, maker_token: &str, product: &str) -> anyhow::Result<u64> {
        let reply = self.send("GET", &format!("/products/{product}"), Some(maker_token), None, &[]).await?;
        let reply = reply.expect(200, "reading a product")?;
        reply.body.get("stock").and_then(Value::as_u64).with_context(|| format!("no stock in {}", reply.body))
    }
}

/// A `POST /orders` body: one line, shipped to a fixed address.
pub fn order_body(product: &str, quantity: u64) -> Value {
    json!({
        "items": [{"product_id": product, "quantity": quantity}],
        "shipping_address": {
            "name": "Ada Lovelace", "line1": "Rua das Flores 12", "city": "Porto",
            "postal_code": "4050-262", "country": "PT"
        },
    })
}

/// `requests` timed `POST /orders` (one unit each) from `concurrency` clients. Client `c`
/// orders `products[c % len]` as `tokens[c % len]`.
pub async fn latency(
    api: &Api,
    tokens: &[String],
    products: &[String],
    concurrency: usize,
    requests: usize,
) -> LatencyResult {
    let mut result = LatencyResult { concurrency, products: products.len(), ..LatencyResult::default() };
    let started = Instant::now();
    let replies = run_clients(api, tokens, products, concurrency, requests).await;
    result.wall_s = started.elapsed().as_secs_f64();
    for reply in replies {
        match reply {
            Ok(r) => {
                *result.statuses.entry(r.status.to_string()).or_default() += 1;
                if r.status == 201 {
                    result.ms.push(r.elapsed.as_secs_f64() * 1e3);
                } else if result.errors.len() < 3 {
                    result.errors.push(format!("{}: {}", r.status, r.body));
                }
            }
            Err(e) => {
                *result.statuses.entry("error".to_owned()).or_default() += 1;
                if result.errors.len() < 3 {
                    result.errors.push(format!("{e:#}"));
                }
            }
        }
    }
    result
}

/// `total` `POST /orders` from `concurrency` clients, each sending one after another.
pub async fn run_clients(
    api: &Api,
    tokens: &[String],
    products: &[String],
    concurrency: usize,
    total: usize,
) -> Vec<anyhow::Result<Reply>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..concurrency.max(1) {
        let (api, next) = (api.clone(), next.clone());
        let token = tokens[c % tokens.len()].clone();
        let product = products[c % products.len()].clone();
        clients.spawn(async move {
            let mut replies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let reply = api.place_order(&token, &product, 1).await;
                // Untimed: the next order of this client may not meet the unpaid-orders limit.
                if let Ok(placed) = &reply
                    && placed.status == 201
                    && let Err(e) = api.cancel_placed(&token, placed).await
                {
                    eprintln!("bench: {e:#}");
                }
                replies.push(reply);
            }
            replies
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(joined) = clients.join_next().await {
        if let Ok(replies) = joined {
            all.extend(replies);
        }
    }
    all
}

/// The rush, `runs` times: a fresh product with a stock of 5, then 20 single-unit
/// `POST /orders` at once from the customers in turn; the answers, and the stock after.
pub async fn rush(api: &Api, maker_token: &str, tokens: &[String], runs: usize) -> Vec<RushRun> {
    let mut out = Vec::new();
    for run in 1..=runs {
        let mut result = RushRun { run, ..RushRun::default() };
        let product = match api.create_product(maker_token, &format!("Rush mug {run}"), RUSH_STOCK).await {
            Ok(p) => p,
            Err(e) => {
                result.error = Some(format!("{e:#}"));
                out.push(result);
                continue;
            }
        };
        let started = Instant::now();
        let attempts = (0..RUSH_REQUESTS).map(|i| {
            let (api, token, product) = (api.clone(), tokens[i % tokens.len()].clone(), product.clone());
            async move { api.place_order(&token, &product, 1).await }
        });
        let replies = futures_join_all(attempts).await;
        result.wall_ms = started.elapsed().as_secs_f64() * 1e3;
        let placed: Vec<(String, Reply)> = replies
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.as_ref().ok().filter(|r| r.status == 201).map(|r| (tokens[i % tokens.len()].clone(), r.clone()))
            })
            .collect();
        for reply in replies {
            let key = match reply {
                Ok(r) => r.status.to_string(),
                Err(e) => {
                    if result.error.is_none() {
                        result.error = Some(format!("{e:#}"));
                    }
                    "error".to_owned()
                }
            };
            *result.statuses.entry(key).or_default() += 1;
        }
        match api.stock(maker_token, &product).await {
            Ok(stock) => result.final_stock = Some(stock),
            Err(e) => result.error = Some(format!("reading the stock: {e:#}")),
        }
        // After the stock is read: the winners cancel, so that the next run's customers are
        // not held back by the limit of 3 unpaid orders.
        for (token, reply) in &placed {
            if let Err(e) = api.cancel_placed(token, reply).await {
                result.error.get_or_insert(format!("{e:#}"));
            }
        }
        out.push(result);
    }
    out
}

pub const RUSH_STOCK: u64 = 5;
pub const RUSH_REQUESTS: usize = 20;

/// All futures at once, each on its own task (so they truly run concurrently on the
/// multi-threaded runtime); results in the order given.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        if let Ok(v) = handle.await {
            out.push(v);
        }
    }
    out
}

/// Counts of statuses as `201×5, 409×15`.
pub fn describe_statuses(statuses: &BTreeMap<String, u64>) -> String {
    statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(", ")
}
