//! `cargo xtask bench capacity`: N orders through their whole lifecycle on the whole local
//! stack (placed, paid, delivered; a share cancelled after payment, a share left to
//! expire), with the functions' DynamoDB calls going through a tapped counting proxy that
//! reads every item a write names before and after it ([`Recorder`]), and their Stripe
//! calls through a counting proxy in front of localstripe. From those real requests it
//! counts read and write units per operation, per item kind and per partition key of the
//! table and of each index (as DescribeTable tells them), projects them to a rate of orders
//! (10,000 a minute by default), and writes `docs/CAPACITY.md` and the capacity section of
//! `BENCHMARKS.md`.
//!
//! Writes are serialised through the proxy (read before, write, read after, under one
//! lock), so each write's before and after images are exactly its own. DynamoDB Local
//! already runs transactions one at a time; the lock adds two reads per write.

mod model;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ProjectionType};
use base64::Engine as _;
use serde_json::{Value, json};
use shared::domain::{OrderStatus, RefundStatus};

use super::orders::Api;
use super::proxy::{Answer, CountBy, CountingProxy, Forward, Tap};
use crate::stack::{Stack, StackOptions};
use model::{Action, Ids, Index, Item, Kind, Projection, Schema, Written};

const USAGE: &str = "\
usage: cargo xtask bench capacity [options]

Drives N orders through their whole lifecycle on the whole local stack (release binaries;
placed with 2 lines from 2 makers, paid at localstripe, delivered; a share cancelled after
payment, a share left to expire), counts DynamoDB read and write units per operation and
per partition key (table and every index) from the functions' real requests, Stripe calls
and emails per order, projects them to a rate of orders, and writes docs/CAPACITY.md and
the capacity section of BENCHMARKS.md.

options:
  --orders N        orders to drive (default 1000)
  --concurrency N   customers placing at once (default 8)
  --customers N     distinct customers (default 100)
  --products N      products per maker (default 10; 2 makers)
  --cancel PCT      share of orders cancelled by the customer once paid (default 10)
  --expire PCT      share of orders never paid, left to expire (default 10)
  --rate N          orders a minute to project to (default 10000)
  --skip-build      use the release binaries already built
  --out PATH        where to write CAPACITY.md (default docs/CAPACITY.md; the BENCHMARKS.md
                    section is only written with the default)
";

/// The functions the run needs built: the lifecycle's and `create-product` (its products).
const FUNCTIONS: &[&str] = &[
    "create-order",
    "get-order",
    "cancel-order",
    "stripe-webhook",
    "order-events",
    "notifier",
    "delivery-simulator",
    "payment-expirer",
    "create-product",
];

/// The stack's timing: a paid order is delivered in about 4 dwells; unpaid ones expire
/// after the window, found by the expirer every [`EXPIRER_EVERY`].
const DWELL: Duration = Duration::from_secs(3);
const PAYMENT_WINDOW: Duration = Duration::from_secs(20);
const EXPIRER_EVERY: Duration = Duration::from_secs(2);
/// Units of stock of each bench product: never the limit.
const STOCK: u64 = 100_000;
const CATEGORIES: [&str; 3] = ["ceramics", "textiles", "woodwork"];
/// How long the orders may take to reach their last status after the last was placed.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the email count must stay still to call the notifier drained.
const EMAILS_STILL: Duration = Duration::from_secs(10);
/// How long to wait for the notifier after the orders settled: the local one is slower than
/// the orders (one process), and what it has not sent is scaled from what it has.
const EMAILS_WAIT: Duration = Duration::from_secs(60);

// ---- The projection's assumptions (what the run cannot know) ----

/// DynamoDB's write limit of one partition (and so of one partition key), units a second.
const PARTITION_WCU: f64 = 1_000.0;
/// The target: no key above this share of its partition's limit.
const TARGET_SHARE: f64 = 0.5;
/// The catalogue and the makers the projection stands for (context for the shares below).
const CATALOGUE_PRODUCTS: u64 = 50_000;
const MAKERS: u64 = 2_000;
/// Share of all orders that hold the best-selling product (not a flash sale: see the issue).
const HOT_PRODUCT_SHARE: f64 = 0.02;
/// Share of all orders that hold a line of the busiest maker.
const HOT_MAKER_SHARE: f64 = 0.05;
/// Orders a minute of the busiest single customer (the WAF's per-IP limit is above this).
const HOT_CUSTOMER_ORDERS_PER_MIN: f64 = 6.0;
/// Due-index shards per kind (`DueShards`, `DUE_SHARDS`).
const DUE_SHARDS: f64 = 16.0;
/// Schedules a minute per sweeper, each over its group of shards (`template.yaml`): the
/// sweepers' invocations a minute.
const SWEEP_GROUPS: usize = 4;
/// Moves one delivery tick makes at most (`shared::delivery::TickLimits::default`).
const TICK_MAX_ORDERS: usize = 16_000;
/// Orders of each kind one payment-expirer run takes (`functions/payment-expirer`, `BATCH`).
const EXPIRER_BATCH: usize = 1_000;
/// The order stream's event source mapping (template.yaml): records per batch.
const STREAM_BATCH_SIZE: f64 = 100.0;
/// Records one DynamoDB stream shard takes a second (one table partition's writes).
const SHARD_RECORDS_PER_S: f64 = 1_000.0;
/// Lambda: billed duration per invocation (ms) and memory (MB), assumed from the local runs'
/// logs and the template; an operator should take theirs from CloudWatch.
const DURATIONS: &[(&str, f64, f64)] = &[
    ("create-order", 300.0, 256.0),
    ("cancel-order", 300.0, 256.0),
    ("stripe-webhook", 150.0, 256.0),
    ("order-events", 500.0, 256.0),
    ("notifier", 400.0, 256.0),
    ("delivery-simulator", 10_000.0, 256.0),
    ("payment-expirer", 10_000.0, 256.0),
];
/// Headroom over the computed steady state for reserved concurrency and quotas.
const HEADROOM: f64 = 1.5;

/// Prices (us-east-1 list prices, USD) and when they were taken.
const PRICES_AS_OF: &str =
    "2025 (us-east-1 list prices as known then; not re-checked at run time: this machine has no network)";
const PRICE_WRU: f64 = 0.625 / 1e6;
const PRICE_RRU: f64 = 0.125 / 1e6;
const PRICE_LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const PRICE_LAMBDA_GB_S_ARM: f64 = 0.000_013_333_4;
const PRICE_SES_EMAIL: f64 = 0.10 / 1_000.0;
const PRICE_EVENTBRIDGE_EVENT: f64 = 1.00 / 1e6;
const PRICE_SQS_REQUEST: f64 = 0.40 / 1e6;
/// Default quotas (as of the same date) the numbers are compared with.
const STRIPE_DEFAULT_RATE: f64 = 100.0;
const LAMBDA_DEFAULT_CONCURRENCY: f64 = 1_000.0;
const SES_SANDBOX_RATE: f64 = 1.0;
const EVENTBRIDGE_DEFAULT_PUT_EVENTS: f64 = 10_000.0;
const DYNAMODB_TABLE_DEFAULT_UNITS: f64 = 40_000.0;

#[derive(Debug, Clone)]
struct Options {
    orders: usize,
    concurrency: usize,
    customers: usize,
    products: usize,
    cancel_pct: usize,
    expire_pct: usize,
    rate_per_min: f64,
    build: bool,
    out: Option<PathBuf>,
}

impl Options {
    fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
        let mut o = Options {
            orders: 1_000,
            concurrency: 8,
            customers: 100,
            products: 10,
            cancel_pct: 10,
            expire_pct: 10,
            rate_per_min: 10_000.0,
            build: true,
            out: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n\n{USAGE}"));
            let mut number = |name: &str| -> anyhow::Result<usize> {
                value(name)?.replace(',', "").parse::<usize>().with_context(|| format!("{name} takes a number"))
            };
            match arg.as_str() {
                "--orders" => o.orders = number("--orders")?.max(1),
                "--concurrency" => o.concurrency = number("--concurrency")?.max(1),
                "--customers" => o.customers = number("--customers")?.max(1),
                "--products" => o.products = number("--products")?.max(1),
                "--cancel" => o.cancel_pct = number("--cancel")?.min(100),
                "--expire" => o.expire_pct = number("--expire")?.min(100),
                "--rate" => o.rate_per_min = number("--rate")?.max(1) as f64,
                "--skip-build" => o.build = false,
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "-h" | "--help" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                other => bail!("unknown option {other}\n\n{USAGE}"),
            }
        }
        anyhow::ensure!(o.cancel_pct + o.expire_pct <= 100, "--cancel and --expire add up to more than 100");
        Ok(Some(o))
    }
}

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) = Options::parse(args)? else { return Ok(()) };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting tokio")?;
    runtime.block_on(capacity(options))
}

/// What happens to one order of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Delivered,
    Cancelled,
    Expired,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Delivered => "paid, delivered",
            Self::Cancelled => "paid, cancelled by the customer",
            Self::Expired => "never paid, expired",
        }
    }

    fn last(self) -> OrderStatus {
        match self {
            Self::Delivered => OrderStatus::Delivered,
            Self::Cancelled => OrderStatus::Cancelled,
            Self::Expired => OrderStatus::Expired,
        }
    }
}

/// Order `i`'s scenario: shares spread over the run (a fixed scramble of `i`), so that no
/// customer gets all the unpaid ones.
fn scenario(i: usize, o: &Options) -> Scenario {
    let slot = (i.wrapping_mul(7919) + i / 100) % 100;
    if slot < o.cancel_pct {
        Scenario::Cancelled
    } else if slot < o.cancel_pct + o.expire_pct {
        Scenario::Expired
    } else {
        Scenario::Delivered
    }
}

async fn capacity(o: Options) -> anyhow::Result<()> {
    let root = super::root();
    let work = root.join(".local/bench/capacity");
    let logs = work.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    if o.build {
        for f in FUNCTIONS {
            super::build::x86_64(&root, f).await?;
        }
    }
    let bin_dir = super::build::target_dir(&root).join("release");
    let missing: Vec<&str> = FUNCTIONS.iter().copied().filter(|f| !bin_dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("not built in {}: {} (run without --skip-build)", bin_dir.display(), missing.join(", "));
    }
    let root_owned = root.clone();
    let venv = tokio::task::spawn_blocking(move || {
        local::dynamodb_local::ensure_installed()?;
        local::venv::ensure_emulators(&root_owned)
    })
    .await
    .context("the venv task panicked")??;

    // The emulators' ports first, so the proxies can stand in front of them before the
    // functions start.
    let dynamodb_port = local::emulators::free_port()?;
    let stripe_port = local::emulators::free_port()?;
    let recorder = Arc::new(Recorder::default());
    let proxy =
        CountingProxy::tapped(std::net::SocketAddr::from(([127, 0, 0, 1], dynamodb_port)), recorder.clone()).await?;
    let stripe_proxy =
        CountingProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], stripe_port)), CountBy::RequestLine).await?;
    let opts = StackOptions {
        dynamodb_port: Some(dynamodb_port),
        stripe_port: Some(stripe_port),
        functions_dynamodb_url: Some(proxy.url()),
        functions_stripe_url: Some(format!("{}/", stripe_proxy.url())),
        delivery_dwell: Some(DWELL),
        payment_window: Some(PAYMENT_WINDOW),
        schedule_every: Some(EXPIRER_EVERY),
        ..StackOptions::on_free_ports(&bin_dir, &logs)
    };
    eprintln!("bench: capacity: starting the whole local stack (logs in {})", logs.display());
    let stack = Stack::up(&venv, &opts).await.context("starting the whole local stack")?;
    let load_before = super::loadavg();
    let outcome = drive(&stack, &o, &recorder, &stripe_proxy).await;
    let load_after = super::loadavg();
    stack.down().await;
    drop(proxy);
    let mut run = outcome?;
    run.load = format!("{load_before} / {load_after}");
    run.date = super::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await.unwrap_or_default();
    run.machine = super::machine().await;

    let analysis = analyse(&run, &o);
    let doc = capacity_markdown(&run, &analysis, &o);
    let out = o.out.clone().unwrap_or_else(|| root.join("docs/CAPACITY.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &doc).with_context(|| format!("writing {}", out.display()))?;
    let mut wrote = vec![out.display().to_string()];
    if o.out.is_none() {
        let benchmarks = root.join("BENCHMARKS.md");
        let existing = std::fs::read_to_string(&benchmarks).unwrap_or_default();
        let section = benchmarks_section_markdown(&run, &analysis, &o);
        std::fs::write(&benchmarks, replace_section(&existing, &section))
            .with_context(|| format!("writing {}", benchmarks.display()))?;
        wrote.push(benchmarks.display().to_string());
    }
    println!("{}", benchmarks_section_markdown(&run, &analysis, &o));
    eprintln!("bench: capacity: wrote {}", wrote.join(" and "));
    Ok(())
}

// ---- Capturing: the tap in front of DynamoDB Local ----

/// Operations that write, and what the proxy reads around them.
const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

/// One DynamoDB call of the functions, as captured.
#[derive(Debug, Clone)]
struct Call {
    op: String,
    /// Seconds since recording started, when the answer came.
    at: f64,
    ok: bool,
    error: Option<String>,
    transactional: bool,
    writes: Vec<Written>,
    read_units: f64,
    /// A due-index query that found nothing: the sweepers' polling, paid by the minute.
    idle_sweep: bool,
}

#[derive(Clone)]
struct Capture {
    client: aws_sdk_dynamodb::Client,
    schema: Schema,
    since: Instant,
}

/// The tap: records every call while on; around each write, reads the items it names
/// (consistently, straight from DynamoDB Local) under one lock.
#[derive(Default)]
struct Recorder {
    on: AtomicBool,
    capture: Mutex<Option<Capture>>,
    writes: tokio::sync::Mutex<()>,
    calls: Mutex<Vec<Call>>,
    image_errors: AtomicUsize,
}

impl Recorder {
    fn switch_on(&self, client: aws_sdk_dynamodb::Client, schema: Schema) {
        *self.capture.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Capture { client, schema, since: Instant::now() });
        self.on.store(true, Ordering::SeqCst);
    }

    /// Stops recording; what was recorded.
    fn switch_off(&self) -> Vec<Call> {
        self.on.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Items created so far whose sort key starts with `prefix`.
    fn created(&self, sk: &str, prefix: &str) -> usize {
        let calls = self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        calls
            .iter()
            .flat_map(|c| &c.writes)
            .filter(|w| w.before.is_none() && w.after.is_some())
            .filter(|w| model::key_text(&w.key, sk).is_some_and(|v| v.starts_with(prefix)))
            .count()
    }

    fn push(&self, call: Call) {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(call);
    }

    /// The items at `keys`, now (consistent reads), in that order.
    async fn images(&self, capture: &Capture, keys: &[Item]) -> Vec<Option<Item>> {
        let mut found: HashMap<String, Item> = HashMap::new();
        let mut unique: Vec<&Item> = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        for chunk in unique.chunks(100) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|k| k.iter().filter_map(|(n, v)| Some((n.clone(), to_av(v)?))).collect()).collect();
            for _ in 0..10 {
                if pending.is_empty() {
                    break;
                }
                let request =
                    KeysAndAttributes::builder().set_keys(Some(pending.clone())).consistent_read(true).build();
                let Ok(request) = request else { break };
                let out = capture.client.batch_get_item().request_items(&capture.schema.table, request).send().await;
                let Ok(out) = out else {
                    self.image_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                };
                for item in out.responses().and_then(|r| r.get(&capture.schema.table)).into_iter().flatten() {
                    let item: Item = item.iter().map(|(k, v)| (k.clone(), from_av(v))).collect();
                    found.insert(key_id(&capture.schema.key_of(&item)), item);
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&capture.schema.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
        }
        keys.iter().map(|k| found.get(&key_id(k)).cloned()).collect()
    }
}

fn key_id(key: &Item) -> String {
    Value::Object(key.clone()).to_string()
}

impl Tap for Recorder {
    fn exchange<'a>(&'a self, operation: &'a str, body: &'a [u8], forward: Forward<'a>) -> Forward<'a> {
        Box::pin(async move {
            let capture = if self.on.load(Ordering::SeqCst) {
                self.capture.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
            } else {
                None
            };
            let Some(capture) = capture else { return forward.await };
            let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if WRITES.contains(&operation) {
                let (transactional, targets) = write_targets(operation, &request, &capture.schema);
                let keys: Vec<Item> = targets.iter().map(|(_, k)| k.clone()).collect();
                let guard = self.writes.lock().await;
                let before = self.images(&capture, &keys).await;
                let answer = forward.await;
                let after = self.images(&capture, &keys).await;
                drop(guard);
                let (ok, error) = outcome(answer.as_ref());
                let writes = targets
                    .into_iter()
                    .zip(before.into_iter().zip(after))
                    .map(|((action, key), (before, after))| Written { action, key, before, after })
                    .collect();
                self.push(Call {
                    op: operation.to_owned(),
                    at: capture.since.elapsed().as_secs_f64(),
                    ok,
                    error,
                    transactional,
                    writes,
                    read_units: 0.0,
                    idle_sweep: false,
                });
                answer
            } else {
                let answer = forward.await;
                let (ok, error) = outcome(answer.as_ref());
                let response: Value =
                    answer.as_ref().and_then(|a| serde_json::from_slice(&a.body).ok()).unwrap_or(Value::Null);
                let (read_units, idle_sweep) = read_cost(operation, &request, &response);
                self.push(Call {
                    op: operation.to_owned(),
                    at: capture.since.elapsed().as_secs_f64(),
                    ok,
                    error,
                    transactional: operation == "TransactGetItems",
                    writes: Vec::new(),
                    read_units,
                    idle_sweep,
                });
                answer
            }
        })
    }
}

fn outcome(answer: Option<&Answer>) -> (bool, Option<String>) {
    match answer {
        Some(a) if a.status == 200 => (true, None),
        Some(a) => {
            let kind = serde_json::from_slice::<Value>(&a.body)
                .ok()
                .and_then(|v| v["__type"].as_str().map(|t| t.rsplit('#').next().unwrap_or(t).to_owned()))
                .unwrap_or_else(|| format!("HTTP {}", a.status));
            (false, Some(kind))
        }
        None => (false, Some("no answer".to_owned())),
    }
}

/// The items a write request names: (transactional, [(action, key)]).
fn write_targets(op: &str, request: &Value, schema: &Schema) -> (bool, Vec<(Action, Item)>) {
    let ours = |r: &Value| r["TableName"].as_str().is_none_or(|t| t == schema.table);
    let key_of = |r: &Value, field: &str| -> Option<Item> {
        let item = r[field].as_object()?;
        Some(if field == "Item" { schema.key_of(item) } else { item.clone() })
    };
    let mut out = Vec::new();
    match op {
        "PutItem" => out.extend(key_of(request, "Item").map(|k| (Action::Put, k))),
        "UpdateItem" => out.extend(key_of(request, "Key").map(|k| (Action::Update, k))),
        "DeleteItem" => out.extend(key_of(request, "Key").map(|k| (Action::Delete, k))),
        "TransactWriteItems" => {
            for t in request["TransactItems"].as_array().into_iter().flatten() {
                let found = [
                    ("Put", "Item", Action::Put),
                    ("Update", "Key", Action::Update),
                    ("Delete", "Key", Action::Delete),
                    ("ConditionCheck", "Key", Action::Check),
                ]
                .into_iter()
                .find_map(|(name, field, action)| {
                    let r = t.get(name)?;
                    if !ours(r) {
                        return None;
                    }
                    key_of(r, field).map(|k| (action, k))
                });
                out.extend(found);
            }
            return (true, out);
        }
        "BatchWriteItem" => {
            for r in request["RequestItems"][&schema.table].as_array().into_iter().flatten() {
                if let Some(put) = r.get("PutRequest") {
                    out.extend(key_of(put, "Item").map(|k| (Action::Put, k)));
                } else if let Some(delete) = r.get("DeleteRequest") {
                    out.extend(key_of(delete, "Key").map(|k| (Action::Delete, k)));
                }
            }
        }
        _ => {}
    }
    if !ours(request) && op != "BatchWriteItem" {
        out.clear();
    }
    (false, out)
}

/// Read units of a read request from its answer, and whether it was a sweeper's query that
/// found nothing.
fn read_cost(op: &str, request: &Value, response: &Value) -> (f64, bool) {
    let size = |i: &Value| i.as_object().map_or(0, model::item_size);
    let half = |consistent: &Value| if consistent.as_bool() == Some(true) { 1.0 } else { 0.5 };
    match op {
        "GetItem" => (model::read_units(size(&response["Item"])) * half(&request["ConsistentRead"]), false),
        "BatchGetItem" => {
            let mut units = 0.0;
            for (table, spec) in request["RequestItems"].as_object().into_iter().flatten() {
                let f = half(&spec["ConsistentRead"]);
                let asked = spec["Keys"].as_array().map_or(0, Vec::len);
                let got: Vec<&Value> = response["Responses"][table].as_array().into_iter().flatten().collect();
                units += got.iter().map(|i| model::read_units(size(i))).sum::<f64>() * f;
                units += asked.saturating_sub(got.len()) as f64 * f;
            }
            (units, false)
        }
        "Query" | "Scan" => {
            let f = if request["IndexName"].is_string() { 0.5 } else { half(&request["ConsistentRead"]) };
            let items: Vec<&Value> = response["Items"].as_array().into_iter().flatten().collect();
            let count = response["Count"].as_u64().unwrap_or(items.len() as u64);
            let scanned = response["ScannedCount"].as_u64().unwrap_or(count);
            let returned: usize = items.iter().map(|i| size(i)).sum();
            // Items a filter dropped were read too: at the returned items' mean size, or
            // 1 KB each when none came back (a `Select=COUNT`).
            let bytes = if !items.is_empty() && count > 0 {
                returned as f64 * scanned as f64 / count as f64
            } else {
                scanned as f64 * 1024.0
            };
            let sweep = request["ExpressionAttributeValues"]
                .as_object()
                .is_some_and(|v| v.values().any(|v| v["S"].as_str().is_some_and(|s| s.starts_with("DUE#"))));
            (model::read_units(bytes as usize) * f, sweep && scanned == 0)
        }
        "TransactGetItems" => {
            let units = response["Responses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| model::read_units(size(&r["Item"])) * 2.0)
                .sum();
            (units, false)
        }
        _ => (0.0, false),
    }
}

/// A key attribute's wire value as the SDK's.
fn to_av(v: &Value) -> Option<AttributeValue> {
    let (kind, inner) = v.as_object()?.iter().next()?;
    let text = inner.as_str()?.to_owned();
    Some(match kind.as_str() {
        "S" => AttributeValue::S(text),
        "N" => AttributeValue::N(text),
        "B" => AttributeValue::B(Blob::new(base64::engine::general_purpose::STANDARD.decode(text).ok()?)),
        _ => return None,
    })
}

/// The SDK's attribute value in DynamoDB's JSON wire format.
fn from_av(v: &AttributeValue) -> Value {
    let b64 = |b: &Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(b) => json!({ "BS": b.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(from_av).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            json!({ "M": m.iter().map(|(k, v)| (k.clone(), from_av(v))).collect::<serde_json::Map<_, _>>() })
        }
        _ => json!({ "NULL": true }),
    }
}

/// The table's keys and indexes, from DescribeTable.
async fn describe(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Schema> {
    let out = client.describe_table().table_name(table).send().await.context("DescribeTable")?;
    let t = out.table().context("DescribeTable answered no table")?;
    let key = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement], kind: &str| {
        schema.iter().find(|k| k.key_type().as_str() == kind).map(|k| k.attribute_name().to_owned())
    };
    let indexes = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| {
            let projection = g.projection().map_or(Projection::All, |p| match p.projection_type() {
                Some(ProjectionType::KeysOnly) => Projection::KeysOnly,
                Some(ProjectionType::Include) => Projection::Include(p.non_key_attributes().to_vec()),
                _ => Projection::All,
            });
            Some(Index {
                name: g.index_name()?.to_owned(),
                pk: key(g.key_schema(), "HASH")?,
                sk: key(g.key_schema(), "RANGE"),
                projection,
            })
        })
        .collect();
    Ok(Schema {
        table: table.to_owned(),
        pk: key(t.key_schema(), "HASH").context("the table has no partition key")?,
        sk: key(t.key_schema(), "RANGE"),
        indexes,
    })
}

// ---- Driving the orders ----

/// What the run measured, before any projection.
#[derive(Default)]
struct Run {
    date: String,
    machine: super::report::Machine,
    load: String,
    schema: Option<Schema>,
    orders: Vec<Placed>,
    /// Orders that could not be placed or played, with why (the first few).
    failures: Vec<String>,
    failed_orders: usize,
    customers: usize,
    products: usize,
    ids: Ids,
    calls: Vec<Call>,
    image_errors: usize,
    stripe_calls: BTreeMap<String, u64>,
    /// Emails naming an order of the run, by scenario.
    emails: BTreeMap<Scenario, u64>,
    /// Emails per order of the run, by scenario, over the orders whose last status's email
    /// was sent (the notifier had come to their end), and how many such orders.
    complete_emails: BTreeMap<Scenario, (f64, u64)>,
    /// Final statuses by scenario.
    finals: BTreeMap<Scenario, BTreeMap<String, u64>>,
    /// API calls the bench made (each one Lambda invocation).
    api_calls: BTreeMap<&'static str, u64>,
    /// Placing the orders (first placed → last played), and the whole recorded run, s.
    placing_s: f64,
    recorded_s: f64,
    settled: bool,
}

#[derive(Debug, Clone)]
struct Placed {
    id: String,
    scenario: Scenario,
}

struct Customer {
    sub: String,
    token: String,
}

async fn drive(
    stack: &Stack,
    o: &Options,
    recorder: &Arc<Recorder>,
    stripe_proxy: &CountingProxy,
) -> anyhow::Result<Run> {
    let info = &stack.info;
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
    let schema = describe(&dynamodb, &info.table_name).await?;
    let api = Api::new(&info.api_url);
    let mut run = Run { customers: o.customers, products: o.products * 2, ..Run::default() };

    // Two makers, each with its products (plenty of stock: the run measures load, not
    // selling out), and the customers.
    let mut makers = Vec::new();
    for user in [&info.users.maker, &info.users.other_maker] {
        let token = local::cognito::access_token(&stack.aws, &info.cognito, &user.username, &user.password)
            .await
            .with_context(|| format!("signing in as {}", user.username))?;
        let sub = super::stack::token_sub(&token)?;
        let mut products = Vec::new();
        for i in 0..o.products {
            let body = json!({
                "title": format!("Capacity bench piece {i}"),
                "description": "A product made by cargo xtask bench capacity, with a description of a usual length for the shop.",
                "price_cents": 1500 + 100 * i,
                "stock": STOCK,
                "category": CATEGORIES[i % CATEGORIES.len()],
                "images": ["https://images.example/bench.jpg"],
            });
            let id = api
                .send("POST", "/products", Some(&token), Some(&body), &[])
                .await?
                .expect(201, "creating a capacity bench product")?
                .str("id")?;
            products.push(id);
        }
        makers.push((sub, products));
    }
    eprintln!("bench: capacity: creating {} customers", o.customers);
    let mut customers = Vec::new();
    for i in 0..o.customers {
        let email = format!("capacity-{i}-{}@makers-market.test", crate::cli::random_hex(6));
        let password = local::provision::DEMO_PASSWORD;
        let sub = local::cognito::create_user(&stack.aws, &info.cognito, &email, password, &[]).await?;
        let token = local::cognito::access_token(&stack.aws, &info.cognito, &email, password).await?;
        customers.push(Customer { sub, token });
    }
    let emails_before: BTreeSet<String> =
        local::notifications::sent_emails(&info.aws_endpoint_url).await?.into_iter().map(|e| e.id).collect();

    // The plan: order i, its customer, its two lines (one product of each maker).
    let plan: Vec<(usize, Scenario, usize, String, String)> = (0..o.orders)
        .map(|i| {
            let a = makers[0].1[i % o.products].clone();
            let b = makers[1].1[(i / o.customers + i * 3) % o.products].clone();
            (i, scenario(i, o), i % o.customers, a, b)
        })
        .collect();
    for (_, _, c, a, b) in &plan {
        run.ids.add(&customers[*c].sub, Kind::Customer);
        run.ids.add(&makers[0].0, Kind::Maker);
        run.ids.add(&makers[1].0, Kind::Maker);
        run.ids.add(a, Kind::Product);
        run.ids.add(b, Kind::Product);
    }

    eprintln!(
        "bench: capacity: {} orders, {} at once, {} customers, {} products of 2 makers",
        o.orders, o.concurrency, o.customers, run.products
    );
    recorder.switch_on(dynamodb.clone(), schema.clone());
    let _ = stripe_proxy.take();
    let recording = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let plan = Arc::new(plan);
    let customers = Arc::new(customers);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency {
        let (api, next, plan, customers, dynamodb) =
            (api.clone(), next.clone(), plan.clone(), customers.clone(), dynamodb.clone());
        let (stripe, table) = (info.stripe.clone(), info.table_name.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some((i, scenario, c, a, b)) = plan.get(n).cloned() else { break };
                let customer = &customers[c];
                let played = play(&api, &dynamodb, &table, &stripe, &customer.token, scenario, &a, &b).await;
                if n % 100 == 99 {
                    eprintln!("bench: capacity: {} orders played", n + 1);
                }
                done.push((i, scenario, played));
            }
            done
        });
    }
    while let Some(joined) = workers.join_next().await {
        for (i, scenario, played) in joined.unwrap_or_default() {
            match played {
                Ok((id, cancelled)) => {
                    *run.api_calls.entry("create-order").or_default() += 1;
                    if cancelled {
                        *run.api_calls.entry("cancel-order").or_default() += 1;
                    }
                    run.ids.add(&id, Kind::Order);
                    run.orders.push(Placed { id, scenario });
                }
                Err(e) => {
                    run.failed_orders += 1;
                    if run.failures.len() < 5 {
                        run.failures.push(format!("order {i} ({}): {e:#}", scenario.name()));
                    }
                }
            }
        }
    }
    run.placing_s = recording.elapsed().as_secs_f64();
    eprintln!(
        "bench: capacity: {} orders played in {:.0} s; waiting for them to settle",
        run.orders.len(),
        run.placing_s
    );
    run.settled = settle(&dynamodb, &info.table_name, &mut run).await;
    // Every order transition published (its `EVENT#` marker), then the notifier's emails.
    let sk = schema.sk.clone().unwrap_or_default();
    let (started, mut last, mut still) = (Instant::now(), recorder.created(&sk, "EVENT#"), Instant::now());
    while still.elapsed() < Duration::from_secs(6) && started.elapsed() < SETTLE_TIMEOUT {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = recorder.created(&sk, "EVENT#");
        if now != last {
            (last, still) = (now, Instant::now());
        }
    }
    let emails = settle_emails(&info.aws_endpoint_url).await?;
    run.recorded_s = recording.elapsed().as_secs_f64();
    run.calls = recorder.switch_off();
    run.image_errors = recorder.image_errors.load(Ordering::Relaxed);
    run.stripe_calls = stripe_proxy.take();
    let mut subjects: HashMap<&str, Vec<&str>> = HashMap::new();
    for email in emails.iter().filter(|e| !emails_before.contains(&e.id)) {
        if let Some(p) = run.orders.iter().find(|p| email.subject.contains(p.id.as_str())) {
            *run.emails.entry(p.scenario).or_default() += 1;
            subjects.entry(p.id.as_str()).or_default().push(email.subject.as_str());
        }
    }
    let mut complete: BTreeMap<Scenario, (u64, u64)> = BTreeMap::new();
    for p in &run.orders {
        let got = subjects.get(p.id.as_str()).map(Vec::as_slice).unwrap_or_default();
        let last = [None, Some(RefundStatus::Pending), Some(RefundStatus::Succeeded)]
            .into_iter()
            .map(|refund| shared::email::subject_for(&p.id, p.scenario.last(), refund));
        if last.into_iter().any(|subject| got.contains(&subject.as_str())) {
            let c = complete.entry(p.scenario).or_default();
            c.0 += got.len() as u64;
            c.1 += 1;
        }
    }
    run.complete_emails =
        complete.into_iter().map(|(s, (emails, orders))| (s, (emails as f64 / orders.max(1) as f64, orders))).collect();
    run.schema = Some(schema);
    Ok(run)
}

/// One order: placed; unless left to expire, paid at localstripe as the storefront does;
/// if to be cancelled, cancelled by its customer as soon as it shows paid. Its id, and
/// whether the cancel was sent.
#[allow(clippy::too_many_arguments)]
async fn play(
    api: &Api,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    stripe: &crate::stack::StripeInfo,
    token: &str,
    scenario: Scenario,
    a: &str,
    b: &str,
) -> anyhow::Result<(String, bool)> {
    let body = json!({
        "items": [{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 1}],
        "shipping_address": {
            "name": "Ada Lovelace", "line1": "Rua das Flores 12", "city": "Porto",
            "postal_code": "4050-262", "country": "PT"
        },
    });
    let key = ulid::Ulid::new().to_string();
    let placed = api
        .send("POST", "/orders", Some(token), Some(&body), &[("idempotency-key", &key)])
        .await?
        .expect(201, "placing an order")?;
    let id = placed.str("id")?;
    if scenario == Scenario::Expired {
        return Ok((id, false));
    }
    let intent = placed.body["payment"]["payment_intent_id"]
        .as_str()
        .with_context(|| format!("no payment intent in {}", placed.body))?;
    local::stripe::confirm_with_test_card(&stripe.api_base, &stripe.secret_key, intent, local::stripe::TestCard::Visa)
        .await?;
    if scenario != Scenario::Cancelled {
        return Ok((id, false));
    }
    let started = Instant::now();
    loop {
        let status = order_status(dynamodb, table, &id).await?;
        if status == OrderStatus::Paid.as_str() || status == OrderStatus::Preparing.as_str() {
            break;
        }
        if status != OrderStatus::PendingPayment.as_str() || started.elapsed() > Duration::from_secs(30) {
            bail!("order {id} is `{status}` after its payment, not paid");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancelled = api.send("POST", &format!("/orders/{id}/cancel"), Some(token), None, &[]).await?;
    // Lost to the delivery simulator (shipped first): it is delivered instead.
    if cancelled.status != 200 && cancelled.status != 409 {
        bail!("cancelling {id}: {} {}", cancelled.status, cancelled.body);
    }
    Ok((id, true))
}

/// An order's status, read straight from DynamoDB Local (not counted).
async fn order_status(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> anyhow::Result<String> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("ORDER#{id}")))
        .key("sk", AttributeValue::S("ORDER".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .context("reading an order's status")?;
    Ok(out.item().and_then(|i| i.get("status")).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default())
}

/// Waits until every order is in its scenario's last status (or any final one), up to
/// [`SETTLE_TIMEOUT`]; records the final statuses. Whether all settled.
async fn settle(client: &aws_sdk_dynamodb::Client, table: &str, run: &mut Run) -> bool {
    let started = Instant::now();
    let finals = [OrderStatus::Delivered, OrderStatus::Cancelled, OrderStatus::Expired, OrderStatus::PaymentFailed];
    loop {
        let mut statuses: BTreeMap<Scenario, BTreeMap<String, u64>> = BTreeMap::new();
        let mut open = 0;
        for chunk in run.orders.chunks(100) {
            let keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|p| {
                    HashMap::from([
                        ("pk".to_owned(), AttributeValue::S(format!("ORDER#{}", p.id))),
                        ("sk".to_owned(), AttributeValue::S("ORDER".to_owned())),
                    ])
                })
                .collect();
            let mut found: HashMap<String, String> = HashMap::new();
            let mut pending = keys;
            while !pending.is_empty() {
                let Ok(request) = KeysAndAttributes::builder().set_keys(Some(pending.clone())).build() else { break };
                let Ok(out) = client.batch_get_item().request_items(table, request).send().await else { break };
                for item in out.responses().and_then(|r| r.get(table)).into_iter().flatten() {
                    let text = |n: &str| item.get(n).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    found.insert(text("pk"), text("status"));
                }
                pending =
                    out.unprocessed_keys().and_then(|u| u.get(table)).map(|k| k.keys().to_vec()).unwrap_or_default();
            }
            for p in chunk {
                let status = found.get(&format!("ORDER#{}", p.id)).cloned().unwrap_or_default();
                if !finals.iter().any(|f| f.as_str() == status) {
                    open += 1;
                }
                *statuses.entry(p.scenario).or_default().entry(status).or_default() += 1;
            }
        }
        run.finals = statuses;
        if open == 0 {
            return true;
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            eprintln!("bench: capacity: {open} orders not settled after {} s", SETTLE_TIMEOUT.as_secs());
            return false;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits until no email has been sent for [`EMAILS_STILL`] (the notifier has drained its
/// queue); every email sent.
async fn settle_emails(moto: &str) -> anyhow::Result<Vec<local::notifications::SentEmail>> {
    let started = Instant::now();
    let mut last = local::notifications::sent_emails(moto).await?;
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = local::notifications::sent_emails(moto).await?;
        if now.len() != last.len() {
            still_since = Instant::now();
        }
        last = now;
        if still_since.elapsed() >= EMAILS_STILL || started.elapsed() > EMAILS_WAIT {
            return Ok(last);
        }
    }
}

// ---- The analysis ----

#[derive(Debug, Default, Clone)]
struct OpStats {
    calls: u64,
    failed: BTreeMap<String, u64>,
    rcu: f64,
    idle_sweep_rcu: f64,
    table_wcu: f64,
    index_wcu: f64,
    items: u64,
}

#[derive(Debug, Default, Clone)]
struct KindStats {
    writes: u64,
    table_wcu: f64,
    index_wcu: f64,
}

/// One partition key's writes: the units, and when (s into the run).
#[derive(Debug, Default, Clone)]
struct KeyLoad {
    units: f64,
    at: Vec<(f64, f64)>,
}

/// A partition key pattern's load at the projected rate.
#[derive(Debug, Clone)]
struct Hot {
    index: String,
    pattern: String,
    kind: Kind,
    keys: usize,
    /// The pattern's run total, units.
    units: f64,
    /// All keys of the pattern together at the projected rate, WCU/s.
    total_per_s: f64,
    hottest_key: String,
    /// The hottest single key at the projected rate, WCU/s.
    hottest_per_s: f64,
    /// How that figure was made.
    basis: String,
}

struct Analysis {
    orders: f64,
    per_op: BTreeMap<String, OpStats>,
    per_item: BTreeMap<String, KindStats>,
    hot: Vec<Hot>,
    table_wcu: f64,
    index_wcu: f64,
    rcu: f64,
    idle_sweep_rcu: f64,
    /// Item changes (stream records), and those the order stream's filter passes (MODIFY of
    /// an order item).
    stream_records: f64,
    order_records: f64,
    events_published: f64,
    stripe_events: f64,
    emails: f64,
    emails_delivered_order: Option<f64>,
    stripe_calls: f64,
    rate_s: f64,
    /// The hottest key if a transaction's index writes were charged twice.
    hottest_if_doubled: Option<Hot>,
    /// Emails expected (from the orders the notifier finished) ÷ emails sent: what the
    /// notifier's marker writes (`MAIL#…`) are scaled by when it had not drained its queue.
    notifier_scale: f64,
    /// Emails per event, by the event's status (from the notifier's markers).
    recipients: BTreeMap<String, f64>,
    index_wcu_if_doubled: f64,
}

impl Analysis {
    fn per_order(&self, v: f64) -> f64 {
        if self.orders > 0.0 { v / self.orders } else { 0.0 }
    }

    fn wcu_per_order(&self) -> f64 {
        self.per_order(self.table_wcu + self.index_wcu)
    }

    fn hottest(&self) -> Option<&Hot> {
        self.hot.first()
    }

    fn stream_shards(&self) -> f64 {
        let table_wcu_s = self.per_order(self.table_wcu) * self.rate_s;
        let records_s = self.per_order(self.stream_records) * self.rate_s;
        (table_wcu_s / PARTITION_WCU).max(records_s / SHARD_RECORDS_PER_S).ceil().max(1.0)
    }

    fn order_records_s(&self) -> f64 {
        self.per_order(self.order_records) * self.rate_s
    }

    /// The order stream's ParallelizationFactor: concurrent batches per shard so that the
    /// shard's order records are taken as fast as they come.
    fn parallelization(&self) -> f64 {
        let per_shard = self.order_records_s() / self.stream_shards();
        let per_batch_s = STREAM_BATCH_SIZE / (duration_ms("order-events") / 1e3);
        (per_shard * HEADROOM / per_batch_s).ceil().clamp(1.0, 10.0)
    }

    fn events_s(&self) -> f64 {
        self.per_order(self.events_published) * self.rate_s
    }

    fn emails_s(&self) -> f64 {
        self.per_order(self.emails) * self.rate_s
    }

    /// Invocations per order, by function (the sweepers: per order at the projected rate).
    fn invocations(&self, run: &Run) -> Vec<(&'static str, f64)> {
        let api = |f: &str| self.per_order(run.api_calls.get(f).copied().unwrap_or_default() as f64);
        let sweeps_per_order = SWEEP_GROUPS as f64 / (self.rate_s * 60.0);
        vec![
            ("create-order", api("create-order")),
            ("cancel-order", api("cancel-order")),
            ("stripe-webhook", self.per_order(self.stripe_events)),
            ("order-events", self.per_order(self.order_records) / STREAM_BATCH_SIZE),
            ("notifier", self.per_order(self.events_published)),
            ("delivery-simulator", sweeps_per_order),
            ("payment-expirer", sweeps_per_order),
        ]
    }
}

fn duration_ms(function: &str) -> f64 {
    DURATIONS.iter().find(|(f, _, _)| *f == function).map_or(200.0, |(_, ms, _)| *ms)
}

fn memory_gb(function: &str) -> f64 {
    DURATIONS.iter().find(|(f, _, _)| *f == function).map_or(256.0, |(_, _, mb)| *mb) / 1024.0
}

/// The sort key pattern of an item (`MAIL#paid#<customer>`): what kind of item it is.
fn item_kind(schema: &Schema, key: &Item, ids: &Ids) -> String {
    let pk = model::key_text(key, &schema.pk).unwrap_or_default();
    let sk = schema.sk.as_ref().and_then(|sk| model::key_text(key, sk)).unwrap_or_default();
    let prefix = ids.pattern(&pk).0;
    let prefix = prefix.split('#').next().unwrap_or_default();
    format!("{prefix} / {}", ids.pattern(&sk).0)
}

fn analyse(run: &Run, o: &Options) -> Analysis {
    let rate_s = o.rate_per_min / 60.0;
    let mut a = Analysis {
        orders: run.orders.len() as f64,
        per_op: BTreeMap::new(),
        per_item: BTreeMap::new(),
        hot: Vec::new(),
        table_wcu: 0.0,
        index_wcu: 0.0,
        rcu: 0.0,
        idle_sweep_rcu: 0.0,
        stream_records: 0.0,
        order_records: 0.0,
        events_published: 0.0,
        stripe_events: 0.0,
        emails: run.emails.values().sum::<u64>() as f64,
        emails_delivered_order: None,
        stripe_calls: run.stripe_calls.values().sum::<u64>() as f64,
        rate_s,
        hottest_if_doubled: None,
        index_wcu_if_doubled: 0.0,
        notifier_scale: 1.0,
        recipients: BTreeMap::new(),
    };
    // Emails per order from the orders the notifier had finished with, by scenario; the
    // notifier's marker writes scaled up by what it had not come to yet.
    a.emails_delivered_order = run.complete_emails.get(&Scenario::Delivered).map(|(mean, _)| *mean);
    let counted = a.emails;
    let mut expected = 0.0;
    for s in [Scenario::Delivered, Scenario::Cancelled, Scenario::Expired] {
        let n = run.orders.iter().filter(|p| p.scenario == s).count() as f64;
        let mean = run
            .complete_emails
            .get(&s)
            .map_or_else(|| run.emails.get(&s).copied().unwrap_or_default() as f64 / n.max(1.0), |(mean, _)| *mean);
        expected += n * mean;
    }
    let Some(schema) = &run.schema else { return a };
    // Recipients per event, by status, from the notifier's markers (one per recipient and
    // event, created when it claims the email), times the events published by status: the
    // emails every order's events ask for, whether or not the local notifier got to them.
    let mut recipients: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut events: BTreeMap<String, f64> = BTreeMap::new();
    for w in run.calls.iter().filter(|c| c.ok).flat_map(|c| &c.writes) {
        if w.before.is_some() || w.after.is_none() {
            continue;
        }
        let sk = schema.sk.as_ref().and_then(|sk| model::key_text(&w.key, sk)).unwrap_or_default();
        let pk = model::key_text(&w.key, &schema.pk).unwrap_or_default();
        let mut parts = sk.split('#');
        match (parts.next(), parts.next()) {
            (Some("MAIL"), Some(status)) => *recipients.entry((pk, status.to_owned())).or_default() += 1.0,
            (Some("EVENT"), Some(status)) => *events.entry(status.to_owned()).or_default() += 1.0,
            _ => {}
        }
    }
    let mut per_status: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for ((_, status), n) in &recipients {
        let e = per_status.entry(status.clone()).or_default();
        e.0 += n;
        e.1 += 1.0;
    }
    a.recipients = per_status.iter().map(|(s, (n, events))| (s.clone(), n / events)).collect();
    let from_events: f64 = events.iter().map(|(s, n)| n * a.recipients.get(s).copied().unwrap_or(1.0)).sum();
    if from_events > 0.0 {
        expected = from_events;
        let delivered: f64 = ["paid", "preparing", "shipped", "out_for_delivery", "delivered"]
            .iter()
            .map(|s| a.recipients.get(*s).copied().unwrap_or(1.0))
            .sum();
        a.emails_delivered_order = Some(delivered);
    }
    a.emails = expected.max(counted);
    a.notifier_scale = if counted > 0.0 { (a.emails / counted).max(1.0) } else { 1.0 };
    let mut keys: BTreeMap<(String, String), KeyLoad> = BTreeMap::new();
    let mut doubled_keys: BTreeMap<(String, String), KeyLoad> = BTreeMap::new();
    for call in &run.calls {
        let op = a.per_op.entry(call.op.clone()).or_default();
        op.calls += 1;
        if let Some(e) = &call.error {
            *op.failed.entry(e.clone()).or_default() += 1;
        }
        if call.idle_sweep {
            op.idle_sweep_rcu += call.read_units;
            a.idle_sweep_rcu += call.read_units;
        } else {
            op.rcu += call.read_units;
            a.rcu += call.read_units;
        }
        for w in &call.writes {
            let sk = schema.sk.as_ref().and_then(|sk| model::key_text(&w.key, sk)).unwrap_or_default();
            let scale = if sk.starts_with("MAIL#") { a.notifier_scale } else { 1.0 };
            let scaled = |mut c: model::WriteCost| {
                c.table *= scale;
                c.index.iter_mut().for_each(|(_, _, u)| *u *= scale);
                c
            };
            let cost = scaled(model::write_cost(schema, w, call.transactional, call.ok));
            let doubled = scaled(model::write_cost_with(schema, w, call.transactional, call.ok, true));
            a.index_wcu_if_doubled += doubled.index_total();
            let pk = model::key_text(&w.key, &schema.pk).unwrap_or_default();
            for (index, pk, units) in std::iter::once(("table".to_owned(), pk, doubled.table)).chain(doubled.index) {
                let load = doubled_keys.entry((index, pk)).or_default();
                load.units += units;
                load.at.push((call.at, units));
            }
            let op = a.per_op.entry(call.op.clone()).or_default();
            op.items += 1;
            op.table_wcu += cost.table;
            op.index_wcu += cost.index_total();
            a.table_wcu += cost.table;
            a.index_wcu += cost.index_total();
            let kind = a.per_item.entry(item_kind(schema, &w.key, &run.ids)).or_default();
            kind.writes += 1;
            kind.table_wcu += cost.table;
            kind.index_wcu += cost.index_total();
            let pk = model::key_text(&w.key, &schema.pk).unwrap_or_default();
            let load = keys.entry(("table".to_owned(), pk)).or_default();
            load.units += cost.table;
            load.at.push((call.at, cost.table));
            for (index, pk, units) in cost.index {
                let load = keys.entry((index, pk)).or_default();
                load.units += units;
                load.at.push((call.at, units));
            }
            if call.ok && w.action != Action::Check && w.before != w.after {
                a.stream_records += scale;
                if sk == "ORDER" && w.before.is_some() && w.after.is_some() {
                    a.order_records += 1.0;
                }
                if w.before.is_none() && w.after.is_some() {
                    if sk.starts_with("EVENT#") {
                        a.events_published += 1.0;
                    }
                    if pk_starts(&w.key, schema, "STRIPE_EVENT#") {
                        a.stripe_events += 1.0;
                    }
                }
            }
        }
    }
    a.hot = project(&keys, &run.ids, a.orders, rate_s);
    a.hottest_if_doubled = project(&doubled_keys, &run.ids, a.orders, rate_s).into_iter().next();
    a
}

fn pk_starts(key: &Item, schema: &Schema, prefix: &str) -> bool {
    model::key_text(key, &schema.pk).is_some_and(|pk| pk.starts_with(prefix))
}

/// The most units one key took within any one second of the run.
fn densest_second(at: &[(f64, f64)]) -> f64 {
    let mut sorted = at.to_vec();
    sorted.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (mut best, mut sum, mut start) = (0.0f64, 0.0, 0);
    for end in 0..sorted.len() {
        sum += sorted[end].1;
        while sorted[end].0 - sorted[start].0 >= 1.0 {
            sum -= sorted[start].1;
            start += 1;
        }
        best = best.max(sum);
    }
    best
}

/// Every key's load at `rate_s` orders a second, grouped by pattern, hottest first.
fn project(keys: &BTreeMap<(String, String), KeyLoad>, ids: &Ids, orders: f64, rate_s: f64) -> Vec<Hot> {
    let mut groups: BTreeMap<(String, String), Hot> = BTreeMap::new();
    for ((index, key), load) in keys {
        let (pattern, kind, touches) = ids.pattern(key);
        let per_touch = load.units / (touches.max(1) as f64);
        let (per_s, basis) = match kind {
            Kind::Shared => (load.units / orders.max(1.0) * rate_s, "units per order × orders/s".to_owned()),
            Kind::Order | Kind::Other => (
                densest_second(&load.at),
                "the most this key took in any 1 s of the run (its life is minutes in the cloud)".to_owned(),
            ),
            Kind::Customer => (
                per_touch * HOT_CUSTOMER_ORDERS_PER_MIN / 60.0,
                format!("units per order of this customer × {HOT_CUSTOMER_ORDERS_PER_MIN} orders/min"),
            ),
            Kind::Maker => (
                per_touch * HOT_MAKER_SHARE * rate_s,
                format!("units per order with this maker × {:.0} % of orders/s", HOT_MAKER_SHARE * 100.0),
            ),
            Kind::Product => (
                per_touch * HOT_PRODUCT_SHARE * rate_s,
                format!("units per order with this product × {:.0} % of orders/s", HOT_PRODUCT_SHARE * 100.0),
            ),
        };
        let total = load.units / orders.max(1.0) * rate_s;
        let group = groups.entry((index.clone(), pattern.clone())).or_insert_with(|| Hot {
            index: index.clone(),
            pattern,
            kind,
            keys: 0,
            units: 0.0,
            total_per_s: 0.0,
            hottest_key: key.clone(),
            hottest_per_s: 0.0,
            basis,
        });
        group.keys += 1;
        group.units += load.units;
        group.total_per_s += total;
        if per_s > group.hottest_per_s {
            group.hottest_per_s = per_s;
            group.hottest_key = key.clone();
        }
    }
    let mut hot: Vec<Hot> = groups.into_values().collect();
    hot.sort_by(|x, y| y.hottest_per_s.total_cmp(&x.hottest_per_s));
    hot
}

// ---- The documents ----

/// The heading of the capacity section in `BENCHMARKS.md`.
pub const BENCHMARKS_HEADING: &str = "## Capacity at 10,000 orders a minute (`cargo xtask bench capacity`)";

/// The capacity section of a `BENCHMARKS.md` text, if there is one.
pub fn benchmarks_section(markdown: &str) -> Option<&str> {
    let start = markdown.find(&format!("\n{BENCHMARKS_HEADING}"))? + 1;
    let rest = &markdown[start..];
    let end = rest[BENCHMARKS_HEADING.len()..].find("\n## ").map_or(rest.len(), |i| i + BENCHMARKS_HEADING.len() + 1);
    Some(&rest[..end])
}

/// `markdown` with its capacity section replaced by `section` (or `section` appended).
fn replace_section(markdown: &str, section: &str) -> String {
    match benchmarks_section(markdown) {
        Some(old) => markdown.replacen(old, section, 1),
        None => format!("{}\n\n{section}", markdown.trim_end()),
    }
}

fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 100.0 {
        thousands(v.round() as i64)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn usd(v: f64) -> String {
    if v >= 100.0 { format!("${}", thousands(v.round() as i64)) } else { format!("${v:.2}") }
}

/// Rounds a quota up to a number one asks for (2 significant figures).
fn ask(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powf(v.log10().floor() - 1.0).max(1.0);
    (v / magnitude).ceil() * magnitude
}

struct Costs {
    rows: Vec<(String, String, f64)>,
    total: f64,
    lambda: Vec<(&'static str, f64, f64, f64)>,
}

fn costs(run: &Run, a: &Analysis) -> Costs {
    let million = 1e6;
    let mut rows = Vec::new();
    let wcu = a.wcu_per_order();
    let rcu = a.per_order(a.rcu);
    rows.push((
        "DynamoDB writes (on-demand)".to_owned(),
        format!("{} WRU/order × $0.625 per million", fmt(wcu)),
        wcu * million * PRICE_WRU,
    ));
    rows.push((
        "DynamoDB reads (on-demand)".to_owned(),
        format!("{} RRU/order × $0.125 per million", fmt(rcu)),
        rcu * million * PRICE_RRU,
    ));
    rows.push(("DynamoDB Streams".to_owned(), "read by Lambda event source mappings: free".to_owned(), 0.0));
    let mut lambda = Vec::new();
    let (mut requests, mut gb_s) = (0.0, 0.0);
    for (f, per_order) in a.invocations(run) {
        let s = duration_ms(f) / 1e3;
        let concurrency = per_order * a.rate_s * s;
        requests += per_order * million;
        gb_s += per_order * million * s * memory_gb(f);
        lambda.push((f, per_order, s, concurrency));
    }
    rows.push((
        "Lambda requests".to_owned(),
        format!("{} invocations/order × $0.20 per million", fmt(requests / million)),
        requests * PRICE_LAMBDA_REQUEST,
    ));
    rows.push((
        "Lambda duration (arm64)".to_owned(),
        format!("{} GB-s/order × $0.0000133334", fmt(gb_s / million)),
        gb_s * PRICE_LAMBDA_GB_S_ARM,
    ));
    let emails = a.per_order(a.emails);
    rows.push((
        "SES".to_owned(),
        format!("{} emails/order × $0.10 per 1,000", fmt(emails)),
        emails * million * PRICE_SES_EMAIL,
    ));
    let events = a.per_order(a.events_published);
    rows.push((
        "EventBridge custom events".to_owned(),
        format!("{} events/order × $1.00 per million", fmt(events)),
        events * million * PRICE_EVENTBRIDGE_EVENT,
    ));
    rows.push((
        "SQS".to_owned(),
        "none on the order path in the cloud (the notifier is EventBridge → Lambda; queues are dead-letter \
         and failure destinations only): $0.40 per million requests when they fill"
            .to_owned(),
        0.0 * PRICE_SQS_REQUEST,
    ));
    let total = rows.iter().map(|(_, _, c)| c).sum();
    Costs { rows, total, lambda }
}

fn capacity_markdown(run: &Run, a: &Analysis, o: &Options) -> String {
    let mut md = String::new();
    let rate_min = o.rate_per_min;
    let r = a.rate_s;
    let _ = writeln!(
        md,
        "# Capacity: what {} orders a minute asks of DynamoDB, Lambda, SES, EventBridge and Stripe\n",
        thousands(rate_min as i64)
    );
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench capacity` (`xtask/src/bench/capacity.rs`) on {} — do not edit by hand: \
         change the template in that file and run it again. The model is below, with its assumptions as named \
         constants in that file, so that an operator can redo it for their own numbers (`--rate N` projects to \
         another rate; the constants change the rest).\n",
        run.date
    );
    let _ = writeln!(md, "## The run\n");
    let placed = run.orders.len();
    let _ = writeln!(
        md,
        "- {placed} orders played (of {} asked; {} failed) on the whole local stack of `cargo xtask dev` \
         (DynamoDB Local, moto, localstripe, the release binaries behind the local ALB, the stream pump → \
         `order-events` → bus → queue → `notifier` → SES), with `DELIVERY_DWELL_SECONDS={}`, \
         `PAYMENT_WINDOW_SECONDS={}` and the expirer every {} s.",
        o.orders,
        run.failed_orders,
        DWELL.as_secs(),
        PAYMENT_WINDOW.as_secs(),
        EXPIRER_EVERY.as_secs()
    );
    let _ = writeln!(
        md,
        "- Each order: 2 lines of 1 unit, one product of each of 2 makers ({} products, 3 categories), from one \
         of {} customers, {} customers placing at once; {} % left unpaid to expire, {} % cancelled by the \
         customer as soon as paid (a refund at Stripe), the rest paid and delivered.",
        run.products, run.customers, o.concurrency, o.expire_pct, o.cancel_pct
    );
    let _ = writeln!(
        md,
        "- Played in {:.0} s, recorded for {:.0} s (until every order was in its last status, then until no \
         email had been sent for {} s or for at most {} s more); {}.",
        run.placing_s,
        run.recorded_s,
        EMAILS_STILL.as_secs(),
        EMAILS_WAIT.as_secs(),
        if run.settled { "every order settled" } else { "**some orders did not settle** (see the statuses)" }
    );
    let _ = writeln!(
        md,
        "- Machine: {}, {} cores, Linux {}; load average before / after: {}.",
        run.machine.cpu, run.machine.cores, run.machine.kernel, run.load
    );
    for f in &run.failures {
        let _ = writeln!(md, "- **Failed:** {}", f.replace('\n', " "));
    }
    if run.image_errors > 0 {
        let _ = writeln!(
            md,
            "- **{} reads of items around a write failed**: those writes count as if the item were absent.",
            run.image_errors
        );
    }
    let _ = writeln!(md, "\n| scenario | orders | final statuses | emails |\n|---|---:|---|---:|");
    for s in [Scenario::Delivered, Scenario::Cancelled, Scenario::Expired] {
        let n = run.orders.iter().filter(|p| p.scenario == s).count();
        let finals = run
            .finals
            .get(&s)
            .map(|m| m.iter().map(|(k, v)| format!("`{k}` {v}")).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} (last: `{}`) | {n} | {finals} | {} |",
            s.name(),
            s.last().as_str(),
            run.emails.get(&s).copied().unwrap_or_default()
        );
    }

    let _ = writeln!(md, "\n## How units are counted\n");
    let _ = writeln!(
        md,
        "The functions reach DynamoDB Local through the bench's counting proxy (`xtask/src/bench/proxy.rs`, \
         `CountingProxy::tapped`). For every write request (`PutItem`, `UpdateItem`, `DeleteItem`, \
         `TransactWriteItems`, `BatchWriteItem`) it reads the items the request names just before and just \
         after it (consistent `BatchGetItem`s straight to DynamoDB Local, under one lock, so no other write \
         comes between); for every read it keeps the answer. Then DynamoDB's rules \
         (`xtask/src/bench/capacity/model.rs`):\n\n\
         - item size = the UTF-8 bytes of every attribute name and value (numbers: 1 byte per 2 significant \
         digits + 1; booleans and nulls: 1; lists and maps: 3 + 1 per element + the elements);\n\
         - a put or update: 1 WCU per KB (rounded up) of the larger of the item before and after; a delete: of \
         the item deleted; a transaction's items twice that; a `ConditionCheck` in a transaction is charged as a \
         write of its item; a write whose condition failed (or a cancelled transaction) is charged for the item \
         as it was, and writes no index;\n\
         - every global secondary index, from `DescribeTable` (not from the code): an item entering the index is \
         a put of its entry, leaving it a delete, a changed index key a delete and a put, a changed projected \
         attribute an update (the new entry's size), nothing otherwise; the entry's size is its projected \
         attributes and keys; a transaction's index writes are charged once \
         (`TRANSACTION_DOUBLES_INDEX_WRITES`; the other reading is given with the result);\n\
         - reads: 1 RCU per 4 KB read (the items returned by a query, scaled up by `ScannedCount / Count` for \
         what a filter dropped), half when eventually consistent (always on an index), twice in \
         `TransactGetItems`; a key not found still costs the minimum. A due-index query that finds nothing is \
         the sweepers' polling, paid by the minute, not by the order, and is left out of the per-order figures.\n\n\
         The write units are booked to the partition key of the table item, and to the partition key of each \
         index entry written. The stream carries one record per item change.\n"
    );
    if let Some(schema) = &run.schema {
        let _ = writeln!(
            md,
            "The table here: key `{}`{}; indexes: {}.\n",
            schema.pk,
            schema.sk.as_ref().map(|s| format!(" / `{s}`")).unwrap_or_default(),
            schema
                .indexes
                .iter()
                .map(|i| format!(
                    "`{}` (`{}`{}, {})",
                    i.name,
                    i.pk,
                    i.sk.as_ref().map(|s| format!(" / `{s}`")).unwrap_or_default(),
                    match &i.projection {
                        Projection::All => "ALL".to_owned(),
                        Projection::KeysOnly => "KEYS_ONLY".to_owned(),
                        Projection::Include(a) => format!("INCLUDE {}", a.join(", ")),
                    }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(md, "## Per operation (per order of the run)\n");
    let _ = writeln!(
        md,
        "| operation | calls/order | failed (kind × n) | items written/order | RCU/order | table WCU/order | index WCU/order |\n|---|---:|---|---:|---:|---:|---:|"
    );
    for (op, s) in &a.per_op {
        let failed = s.failed.iter().map(|(k, n)| format!("{k} × {n}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            md,
            "| `{op}` | {} | {} | {} | {} | {} | {} |",
            fmt(a.per_order(s.calls as f64)),
            if failed.is_empty() { "–".to_owned() } else { failed },
            fmt(a.per_order(s.items as f64)),
            fmt(a.per_order(s.rcu)),
            fmt(a.per_order(s.table_wcu)),
            fmt(a.per_order(s.index_wcu))
        );
    }
    let _ = writeln!(
        md,
        "| **all** | {} | | | **{}** | **{}** | **{}** |\n",
        fmt(a.per_order(a.per_op.values().map(|s| s.calls as f64).sum())),
        fmt(a.per_order(a.rcu)),
        fmt(a.per_order(a.table_wcu)),
        fmt(a.per_order(a.index_wcu))
    );
    let _ = writeln!(
        md,
        "Sweepers' empty polls: {} RCU over the {:.0} s recorded (they tick every second or two locally, every \
         minute per shard in the cloud: about {} shards × 3 kinds × 0.5 RCU a minute, nothing next to the rest).\n",
        fmt(a.idle_sweep_rcu),
        run.recorded_s,
        DUE_SHARDS
    );

    let _ = writeln!(md, "## Write units by item (per order)\n");
    let _ = writeln!(
        md,
        "| item (`pk` prefix / `sk` pattern) | writes/order | table WCU/order | index WCU/order |\n|---|---:|---:|---:|"
    );
    let mut items: Vec<(&String, &KindStats)> = a.per_item.iter().collect();
    items.sort_by(|x, y| (y.1.table_wcu + y.1.index_wcu).total_cmp(&(x.1.table_wcu + x.1.index_wcu)));
    for (k, s) in items {
        let _ = writeln!(
            md,
            "| `{k}` | {} | {} | {} |",
            fmt(a.per_order(s.writes as f64)),
            fmt(a.per_order(s.table_wcu)),
            fmt(a.per_order(s.index_wcu))
        );
    }

    let _ = writeln!(md, "\n## The hottest partition keys at {} orders a minute\n", thousands(rate_min as i64));
    let _ = writeln!(
        md,
        "How a key's load grows with the rate depends on what its id stands for. The projection assumes a \
         catalogue of {} products from {} makers in which the best-selling product is in {:.0} % of orders and \
         the busiest maker in {:.0} %, and a busiest customer placing {} orders a minute (`CATALOGUE_PRODUCTS`, \
         `MAKERS`, `HOT_PRODUCT_SHARE`, `HOT_MAKER_SHARE`, `HOT_CUSTOMER_ORDERS_PER_MIN`). Then, for the units \
         a key took in the run:\n\n\
         - a key with no id (`CATALOG`, a due-index shard `DUE#DELIVERY#3`) takes every order's share: units \
         per order × {} orders/s;\n\
         - a product's, maker's or customer's key: its units per order that involved it (the bench knows each \
         order's customer, products and makers) × the orders a second of the hottest such entity;\n\
         - an order's key (or another id, such as a Stripe event's) belongs to one order: the most it took in \
         any one second of the run. Locally an order lives seconds, in the cloud minutes, so this bounds it.\n\n\
         Keys holding an id are grouped by pattern (`ORDER#<order>`); the row names the hottest single key.\n",
        thousands(CATALOGUE_PRODUCTS as i64),
        thousands(MAKERS as i64),
        HOT_PRODUCT_SHARE * 100.0,
        HOT_MAKER_SHARE * 100.0,
        HOT_CUSTOMER_ORDERS_PER_MIN,
        fmt(r)
    );
    let _ = writeln!(
        md,
        "| table / index | partition key | kind | keys in run | all keys, WCU/s | hottest key | its WCU/s | % of {} | basis |\n|---|---|---|---:|---:|---|---:|---:|---|",
        thousands(PARTITION_WCU as i64)
    );
    for h in a.hot.iter().take(10) {
        let share = h.hottest_per_s / PARTITION_WCU * 100.0;
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | `{}` | {} | {}{:.1} %{} | {} |",
            h.index,
            h.pattern,
            h.kind.name(),
            h.keys,
            fmt(h.total_per_s),
            h.hottest_key,
            fmt(h.hottest_per_s),
            if share > TARGET_SHARE * 100.0 { "**" } else { "" },
            share,
            if share > TARGET_SHARE * 100.0 { "**" } else { "" },
            h.basis
        );
    }
    if let Some(h) = a.hottest() {
        let share = h.hottest_per_s / PARTITION_WCU;
        let _ = writeln!(
            md,
            "\n**Hottest key: `{}` on {} at {} WCU/s, {:.1} % of one partition's {} WCU/s** — {} the target of \
             at most {:.0} %.\n",
            h.hottest_key,
            h.index,
            fmt(h.hottest_per_s),
            share * 100.0,
            thousands(PARTITION_WCU as i64),
            if share <= TARGET_SHARE { "within" } else { "**above**" },
            TARGET_SHARE * 100.0
        );
    }

    if let Some(h) = &a.hottest_if_doubled {
        let _ = writeln!(
            md,
            "A transaction's index writes are charged once here (`TRANSACTION_DOUBLES_INDEX_WRITES`: DynamoDB \
             documents the doubling for a transaction's items, and maintains indexes after the commit). Were they \
             doubled too, the indexes would take {} WCU per order instead of {}, and the hottest key would be `{}` \
             on {} at {} WCU/s ({:.1} %).\n",
            fmt(a.per_order(a.index_wcu_if_doubled)),
            fmt(a.per_order(a.index_wcu)),
            h.hottest_key,
            h.index,
            fmt(h.hottest_per_s),
            h.hottest_per_s / PARTITION_WCU * 100.0
        );
    }
    let table_wcu_s = a.per_order(a.table_wcu) * r;
    let index_wcu_s = a.per_order(a.index_wcu) * r;
    let rcu_s = a.per_order(a.rcu) * r;
    let _ = writeln!(md, "## Totals at {} orders a minute ({} orders/s)\n", thousands(rate_min as i64), fmt(r));
    let _ = writeln!(md, "| what | per order | per second |\n|---|---:|---:|");
    let _ = writeln!(md, "| table WCU | {} | {} |", fmt(a.per_order(a.table_wcu)), fmt(table_wcu_s));
    let _ = writeln!(md, "| index WCU (all indexes) | {} | {} |", fmt(a.per_order(a.index_wcu)), fmt(index_wcu_s));
    let _ = writeln!(md, "| RCU | {} | {} |", fmt(a.per_order(a.rcu)), fmt(rcu_s));
    let _ = writeln!(
        md,
        "| item changes (stream records) | {} | {} |",
        fmt(a.per_order(a.stream_records)),
        fmt(a.per_order(a.stream_records) * r)
    );
    let _ = writeln!(
        md,
        "| order item changes (what `order-events`' filter passes) | {} | {} |",
        fmt(a.per_order(a.order_records)),
        fmt(a.order_records_s())
    );
    let _ = writeln!(
        md,
        "| events published (`EVENT#` markers) | {} | {} |",
        fmt(a.per_order(a.events_published)),
        fmt(a.events_s())
    );
    let _ = writeln!(md, "| emails | {} | {} |", fmt(a.per_order(a.emails)), fmt(a.emails_s()));
    let _ = writeln!(
        md,
        "| Stripe API calls (from the functions) | {} | {} |",
        fmt(a.per_order(a.stripe_calls)),
        fmt(a.per_order(a.stripe_calls) * r)
    );
    let _ = writeln!(
        md,
        "\nStripe calls by endpoint, per order: {}.\n",
        run.stripe_calls
            .iter()
            .map(|(k, v)| format!("`{k}` {}", fmt(a.per_order(*v as f64))))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(e) = a.emails_delivered_order {
        let _ = writeln!(md, "Emails per delivered order: {} (the issue's estimate: about 7).\n", fmt(e));
    }
    let finished: Vec<String> = run
        .complete_emails
        .iter()
        .map(|(s, (mean, n))| format!("{} {} orders, {} emails each", s.name(), n, fmt(*mean)))
        .collect();
    let _ = writeln!(
        md,
        "Emails per event, by status, from the notifier's markers (one per recipient and event): {}; times the \
         events published by status, that is {} emails per order. In moto's mailbox (emails naming an order of \
         the run; orders whose last email was sent: {}) there were {} when the run stopped: the local notifier \
         runs as one process fed by one queue pump (`local::notifications`), a few events a second on this \
         machine, slower than the orders came. Its marker writes (`MAIL#…` items, and their stream records) \
         are scaled by {:.2}, emails sent to emails asked for, to stand for every order's.\n",
        a.recipients.iter().map(|(s, n)| format!("`{s}` {}", fmt(*n))).collect::<Vec<_>>().join(", "),
        fmt(a.per_order(a.emails)),
        if finished.is_empty() { "none".to_owned() } else { finished.join("; ") },
        run.emails.values().sum::<u64>(),
        a.notifier_scale
    );

    let shards = a.stream_shards();
    let pf = a.parallelization();
    let per_shard = a.order_records_s() / shards;
    let batch_s = duration_ms("order-events") / 1e3;
    let _ =
        writeln!(md, "## Stream shards, `order-events`' ParallelizationFactor, the notifier's reserved concurrency\n");
    let _ = writeln!(
        md,
        "A DynamoDB stream has a shard per table partition, and a partition takes at most {} WCU/s: \
         shards ≥ max(table WCU/s ÷ {}, item changes/s ÷ {}) = max({} ÷ {}, {} ÷ {}) → **{} shards** (index \
         writes are not on the table's stream). An on-demand table splits partitions as its traffic grows; the \
         shards follow.\n",
        thousands(PARTITION_WCU as i64),
        thousands(PARTITION_WCU as i64),
        thousands(SHARD_RECORDS_PER_S as i64),
        fmt(table_wcu_s),
        thousands(PARTITION_WCU as i64),
        fmt(a.per_order(a.stream_records) * r),
        thousands(SHARD_RECORDS_PER_S as i64),
        shards
    );
    let _ = writeln!(
        md,
        "`order-events` gets the order items' changes: {} a second, {} per shard. One batch of up to {} records \
         (`BatchSize`) takes about {} ms (assumed: `DURATIONS`), so one concurrent batch per shard takes {} \
         records a second. ParallelizationFactor = ⌈records per shard × {} headroom ÷ records per batch-second⌉ \
         = ⌈{} × {} ÷ {}⌉ = **{}** (1 to 10; records of one order stay in order at any factor, since the \
         mapping keeps each item key's records in order). `order-events` then runs at most shards × factor = \
         **{}** at once: its reserved concurrency must be at least that.\n",
        fmt(a.order_records_s()),
        fmt(per_shard),
        STREAM_BATCH_SIZE,
        duration_ms("order-events"),
        fmt(STREAM_BATCH_SIZE / batch_s),
        HEADROOM,
        fmt(per_shard),
        HEADROOM,
        fmt(STREAM_BATCH_SIZE / batch_s),
        pf,
        shards * pf
    );
    let notifier = a.events_s() * duration_ms("notifier") / 1e3;
    let _ = writeln!(
        md,
        "The notifier is invoked once per event: {} events a second × {} s each (assumed, with the recipients \
         of an event mailed concurrently) = {} running at once on average; with {} headroom its reserved \
         concurrency should be **{}**.\n",
        fmt(a.events_s()),
        duration_ms("notifier") / 1e3,
        fmt(notifier),
        HEADROOM,
        (notifier * HEADROOM).ceil()
    );

    let c = costs(run, a);
    let _ = writeln!(md, "## Lambda concurrency per function (rate × duration)\n");
    let _ = writeln!(
        md,
        "| function | invocations/order | invocations/s | duration (assumed) | memory | concurrency |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut total_concurrency = 0.0;
    for (f, per_order, s, concurrency) in &c.lambda {
        let concurrency = if *f == "order-events" { shards * pf } else { *concurrency };
        total_concurrency += concurrency;
        let _ = writeln!(
            md,
            "| `{f}` | {} | {} | {} ms | {} MB | {} |",
            fmt(*per_order),
            fmt(per_order * r),
            fmt(s * 1e3),
            memory_gb(f) * 1024.0,
            fmt(concurrency)
        );
    }
    let _ = writeln!(
        md,
        "\n`order-events` is shards × factor. The API's reads (product pages, lists, a customer's own orders) are \
         not in this run: add their rate × duration.\n"
    );
    // The sweepers: what a minute of orders asks of them, against what 4 shard groups take.
    let delivered_share = 1.0 - (o.cancel_pct + o.expire_pct) as f64 / 100.0;
    let moves_min = r * 60.0 * 4.0 * delivered_share;
    let expiries_min = r * 60.0 * o.expire_pct as f64 / 100.0;
    let _ = writeln!(md, "## The sweepers: shard groups\n");
    let _ = writeln!(
        md,
        "The due index is spread over {DUE_SHARDS} shards per kind; each sweeper runs on {SWEEP_GROUPS} schedules a \
         minute, each naming its group of shards (`{{\"shard_group\": g, \"shard_groups\": {SWEEP_GROUPS}}}`, \
         `template.yaml`), so {SWEEP_GROUPS} invocations sweep side by side (reserved concurrency {SWEEP_GROUPS}).\n\n\
         - **Delivery simulator**: 4 steps per delivered order × {:.0} % delivered × {} orders/min = **{} moves a \
         minute**, {} per group. One tick moves at most {} orders in at most 40 s, 16 at a time: at \
         ~20 ms a transaction that is ~800 a second, so a group's tick ends by its cap, and the {SWEEP_GROUPS} \
         groups take {} a minute ({:.1}× the need). More: raise `DueShards` and the schedules.\n\
         - **Payment expirer**: {:.0} % of orders expire: **{} expirations a minute**, {} per group. A run takes \
         {} of each kind per group (8 expirations at once, two Stripe calls each, within 40 s): \
         {} a minute ({:.1}× the need); refunds have their own share of each run.\n\
         - A flash sale is one product's stock item: 500 units in a minute is 8.3 reservations a second, 2 WCU \
         each (a ~100-byte item in a transaction), 17 WCU/s; one item takes roughly 30–60 transactions a second \
         before conflicts dominate, so one stock item suffices and stock buckets are not built. The losers of a \
         race are retried 10 times with backoff, then answered 503 with `Retry-After: 1`; a sold-out product is a \
         409 after one consistent read and no Stripe call. Those reads land on the product's partition: 50,000 \
         customers in a minute are ~830 checkout reads a second, 2 RCU each (product and stock item, consistent), \
         ~1,700 RCU/s against 3,000 per partition; product pages read eventually (half the units, any replica) \
         and may be cached 5 s.\n",
        delivered_share * 100.0,
        fmt(r * 60.0),
        fmt(moves_min),
        fmt(moves_min / SWEEP_GROUPS as f64),
        fmt(TICK_MAX_ORDERS as f64),
        fmt((TICK_MAX_ORDERS * SWEEP_GROUPS) as f64),
        (TICK_MAX_ORDERS * SWEEP_GROUPS) as f64 / moves_min.max(1.0),
        o.expire_pct as f64,
        fmt(expiries_min),
        fmt(expiries_min / SWEEP_GROUPS as f64),
        fmt(EXPIRER_BATCH as f64),
        fmt((EXPIRER_BATCH * SWEEP_GROUPS) as f64),
        (EXPIRER_BATCH * SWEEP_GROUPS) as f64 / expiries_min.max(1.0),
    );

    let _ = writeln!(md, "## Cost per million orders\n");
    let _ = writeln!(md, "Prices as of {PRICES_AS_OF}.\n");
    let _ = writeln!(md, "| item | how | per million orders |\n|---|---|---:|");
    for (item, how, cost) in &c.rows {
        let _ = writeln!(md, "| {item} | {how} | {} |", usd(*cost));
    }
    let _ = writeln!(md, "| **total** | | **{}** |\n", usd(c.total));
    let _ = writeln!(
        md,
        "Not in it: Stripe's own fees per charge, CloudWatch Logs ingestion (JSON logs of every invocation), the \
         load balancer and WAF, NAT and VPC endpoints, storage (orders and markers kept; markers expire by TTL), \
         and the shop's browsing traffic.\n"
    );

    let _ = writeln!(md, "## Quotas to request for {} orders a minute\n", thousands(rate_min as i64));
    let ses = a.emails_s();
    let stripe = a.per_order(a.stripe_calls) * r;
    let events = a.events_s();
    let _ = writeln!(md, "| quota | needed (steady) | ask for (× {HEADROOM}) | default |\n|---|---:|---:|---|");
    let _ = writeln!(
        md,
        "| SES sending rate (emails/s) | {} | **{}** | sandbox {}/s and 200 a day; production starts low (tens a second) |",
        fmt(ses),
        thousands(ask(ses * HEADROOM) as i64),
        SES_SANDBOX_RATE
    );
    let _ = writeln!(
        md,
        "| SES sending quota (emails / 24 h, at this rate all day) | {} | **{}** | 50,000 after leaving the sandbox |",
        thousands((ses * 86_400.0) as i64),
        thousands(ask(ses * 86_400.0 * HEADROOM) as i64)
    );
    let _ = writeln!(
        md,
        "| Lambda concurrent executions (account, region; 100 stay unreserved) | {} (+ the API's reads) | {} | {} |",
        fmt(total_concurrency),
        if total_concurrency * HEADROOM + 100.0 > LAMBDA_DEFAULT_CONCURRENCY {
            format!("**{}**", thousands(ask(total_concurrency * HEADROOM + 100.0) as i64))
        } else {
            "default is enough".to_owned()
        },
        thousands(LAMBDA_DEFAULT_CONCURRENCY as i64)
    );
    let _ = writeln!(
        md,
        "| Stripe API requests/s (ask Stripe support) | {} | **{}** | {} read + {} write/s in live mode, 25/s in test mode |",
        fmt(stripe),
        thousands(ask(stripe * HEADROOM) as i64),
        STRIPE_DEFAULT_RATE,
        STRIPE_DEFAULT_RATE
    );
    let _ = writeln!(
        md,
        "| EventBridge PutEvents (entries/s) | {} | {} | {} in us-east-1, us-west-2, eu-west-1; lower elsewhere (check Service Quotas) |",
        fmt(events),
        if events * HEADROOM > EVENTBRIDGE_DEFAULT_PUT_EVENTS {
            format!("**{}**", thousands(ask(events * HEADROOM) as i64))
        } else {
            "default is enough".to_owned()
        },
        thousands(EVENTBRIDGE_DEFAULT_PUT_EVENTS as i64)
    );
    let table_units = table_wcu_s + index_wcu_s;
    let _ = writeln!(
        md,
        "| DynamoDB on-demand table throughput (WRU/s, table and indexes) | {} | {} | {} per table |",
        fmt(table_units),
        if table_units * HEADROOM > DYNAMODB_TABLE_DEFAULT_UNITS {
            format!("**{}**", thousands(ask(table_units * HEADROOM) as i64))
        } else {
            "default is enough".to_owned()
        },
        thousands(DYNAMODB_TABLE_DEFAULT_UNITS as i64)
    );
    let _ = writeln!(md, "| SQS | 0 on the order path | none | standard queues have no throughput quota |\n");
    let _ = writeln!(
        md,
        "Reserved concurrencies in `template.yaml` come out of the account's concurrency, and 100 must stay \
         unreserved. Set the notifier's to the figure above, `order-events`' to shards × factor, and the \
         ParallelizationFactor as computed; redo the arithmetic with your own durations from CloudWatch.\n"
    );

    let _ = writeln!(md, "## What this does not model\n");
    let _ = writeln!(
        md,
        "- A flash sale on one product (many transactions on one stock item) is conflicts, not throughput, and \
         DynamoDB Local never conflicts: see the flash-sale test (conflicts injected) and bench, and the sweepers' \
         section above.\n\
         - Reads with a `ProjectionExpression` are counted at the size returned, not the item's full size, which \
         DynamoDB charges; a filtered query's dropped items at the mean size of those returned.\n\
         - DynamoDB may split a hot partition for reads and writes (adaptive capacity) beyond 1,000 WCU/s on a \
         single key only by splitting on the sort key, which the table's keys do not help: the limit is taken as \
         hard.\n\
         - Durations are assumptions, not measurements of Lambda; the local run's time is compressed (seconds \
         of dwell instead of minutes), which makes an order key's densest second an upper bound.\n"
    );
    md
}

fn benchmarks_section_markdown(run: &Run, a: &Analysis, o: &Options) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BENCHMARKS_HEADING}\n");
    let _ = writeln!(
        md,
        "`cargo xtask bench capacity` ({} orders played on the whole local stack, {}; {} {} cores; {}). The model, \
         its assumptions, the per-operation and per-key tables and the quotas are in \
         [`docs/CAPACITY.md`](docs/CAPACITY.md).\n",
        run.orders.len(),
        run.date,
        run.machine.cpu,
        run.machine.cores,
        if run.settled { "every order settled" } else { "some orders did not settle" }
    );
    let c = costs(run, a);
    let _ = writeln!(
        md,
        "| at {} orders/min | measured → projected | target | |\n|---|---:|---:|---|",
        thousands(o.rate_per_min as i64)
    );
    if let Some(h) = a.hottest() {
        let share = h.hottest_per_s / PARTITION_WCU;
        let _ = writeln!(
            md,
            "| hottest partition key: `{}` ({}) | {} WCU/s = {:.1} % of {} | ≤ {:.0} % | {} |",
            h.hottest_key,
            h.index,
            fmt(h.hottest_per_s),
            share * 100.0,
            thousands(PARTITION_WCU as i64),
            TARGET_SHARE * 100.0,
            if share <= TARGET_SHARE { "met" } else { "**missed**" }
        );
    }
    for h in a.hot.iter().skip(1).take(2) {
        let _ = writeln!(
            md,
            "| next: `{}` ({}) | {} WCU/s = {:.1} % | | |",
            h.pattern,
            h.index,
            fmt(h.hottest_per_s),
            h.hottest_per_s / PARTITION_WCU * 100.0
        );
    }
    let _ = writeln!(
        md,
        "| DynamoDB per order | {} WCU (table {} + indexes {}), {} RCU | | |",
        fmt(a.wcu_per_order()),
        fmt(a.per_order(a.table_wcu)),
        fmt(a.per_order(a.index_wcu)),
        fmt(a.per_order(a.rcu))
    );
    let _ = writeln!(
        md,
        "| emails / Stripe calls per order | {} / {} | | |",
        fmt(a.per_order(a.emails)),
        fmt(a.per_order(a.stripe_calls))
    );
    let _ = writeln!(
        md,
        "| cost per million orders (DynamoDB, Lambda, SES, EventBridge; prices as of 2025) | {} | | |\n",
        usd(c.total)
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_sweeper_figures_are_the_codes_and_the_templates() {
        assert_eq!(TICK_MAX_ORDERS, shared::delivery::TickLimits::default().max_orders);
        let template = std::fs::read_to_string(crate::project_root().join("template.yaml")).unwrap_or_default();
        let groups = format!("\"shard_groups\": {SWEEP_GROUPS}}}");
        // Each sweeper has one schedule per group.
        assert_eq!(template.matches(&groups).count(), 2 * SWEEP_GROUPS, "{groups}");
    }

    #[test]
    fn the_section_is_replaced_or_appended_and_the_rest_kept() {
        let old = format!("# Benchmarks\n\n## A\n\na\n\n{BENCHMARKS_HEADING}\n\nold\n\n## B\n\nb\n");
        let new = replace_section(&old, &format!("{BENCHMARKS_HEADING}\n\nnew\n\n"));
        assert!(new.contains("new") && !new.contains("old") && new.contains("## B\n\nb"), "{new}");
        let appended = replace_section("# Benchmarks\n", &format!("{BENCHMARKS_HEADING}\n\nx\n"));
        assert!(appended.ends_with(&format!("{BENCHMARKS_HEADING}\n\nx\n")), "{appended}");
    }

    #[test]
    fn the_densest_second_is_found() {
        assert_eq!(densest_second(&[(0.0, 1.0), (0.5, 2.0), (1.2, 4.0), (1.9, 1.0), (5.0, 3.0)]), 6.0);
    }

    #[test]
    fn writes_name_their_items_and_reads_cost_by_size() {
        let schema = Schema { table: "t".to_owned(), pk: "pk".to_owned(), sk: Some("sk".to_owned()), indexes: vec![] };
        let request = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "A"}, "sk": {"S": "B"}, "x": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "C"}, "sk": {"S": "D"}}}},
            {"Update": {"TableName": "other", "Key": {"pk": {"S": "E"}, "sk": {"S": "F"}}}}
        ]});
        let (transactional, targets) = write_targets("TransactWriteItems", &request, &schema);
        assert!(transactional);
        assert_eq!(targets.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [Action::Put, Action::Check]);
        assert_eq!(targets[0].1.len(), 2, "the key only");
        let (units, sweep) = read_cost(
            "Query",
            &json!({"IndexName": "gsi3", "ExpressionAttributeValues": {":pk": {"S": "DUE#DELIVERY#1"}}}),
            &json!({"Items": [], "Count": 0, "ScannedCount": 0}),
        );
        assert_eq!((units, sweep), (0.5, true));
        let (units, _) = read_cost("GetItem", &json!({"ConsistentRead": true}), &json!({}));
        assert_eq!(units, 1.0);
        assert_eq!(ask(1234.0), 1300.0);
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
