//! `cargo xtask soak`: mixed traffic through the whole local stack while faults are injected,
//! then checks that nothing was lost, doubled or left stuck.
//!
//! The stack is `cargo xtask dev`'s ([`crate::stack::Stack`]: the function binaries behind
//! the local ALB, DynamoDB Local, moto, localstripe, the stream and notifier pumps, the
//! scheduler) on free ports, with a short payment window and dwell so that orders expire and
//! get delivered within the run, and three additions:
//! * the functions reach DynamoDB Local through a proxy that can answer errors
//!   ([`crate::bench::proxy::Faults`]);
//! * localstripe keeps its objects in a state file, so that it can be killed and restarted;
//! * localstripe's webhooks go through a relay ([`relay`]) that can deliver them twice or late.
//!
//! The run: workers ([`traffic`]) play customers for the whole duration; the first and last
//! fifths are clean, the faults ([`faults`]) take turns in the middle. Then the run stops
//! the traffic, waits for the stack to settle (orders expire, deliveries finish, refunds,
//! events and emails arrive), reads the table, localstripe, the bus and the mailbox, and
//! checks the invariants ([`check`]). It prints them, with the request rate and latency
//! before, during and after the faults, and exits non-zero if any failed.

mod check;
mod faults;
mod relay;
mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::types::AttributeValue;
use local::venv::Venv;
use serde_json::Value;

use crate::bench::orders::Api;
use crate::bench::proxy::{CountingProxy, Faults};
use crate::cli::{self, Options};
use crate::stack::{Stack, StackOptions};
use check::{EmailView, EventView, FaultWindow, IntentView, Observed, OrderView, RefundView, Sample};
use faults::{FaultKind, Injector};
use traffic::{Customer, Traffic};

/// The functions the soak calls, directly or through the stack (`create-product` makes
/// its products).
pub const FUNCTIONS: &[&str] = &[
    "health",
    "create-product",
    "not-found",
    "list-products",
    "get-product",
    "create-order",
    "get-order",
    "cancel-order",
    "stripe-webhook",
    "order-events",
    "notifier",
    "delivery-simulator",
    "payment-expirer",
];

/// The stack's settings for the soak: orders expire 20 s after they are placed unless paid,
/// the expirer runs every 2 s, a paid order is delivered in about 4 × 2 s.
const PAYMENT_WINDOW: Duration = Duration::from_secs(20);
const SCHEDULE_EVERY: Duration = Duration::from_secs(2);
const DWELL: Duration = Duration::from_secs(2);
/// After a fault ends, how long its effects may still show: a 503 for a request that queued
/// behind a frozen DynamoDB Local, a step that waited for it. (The functions' DynamoDB
/// client gives up after 5 s.)
const GRACE: Duration = Duration::from_secs(10);
/// Customers per worker: at most 3 unpaid orders each, so spread them.
const CUSTOMERS_PER_WORKER: usize = 4;
/// Share of DynamoDB calls answered with an error while that fault is on (per mille).
const ERROR_PER_MILLE: u32 = 150;
/// Units of stock of each of the soak's products; one small one sells out.
const STOCKS: [u64; 5] = [100_000, 100_000, 100_000, 100_000, 40];

/// What a run does.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    pub workers: usize,
    /// Orders per second the workers aim at together.
    pub rate: f64,
    /// The run fails with fewer orders placed.
    pub min_orders: usize,
    pub kinds: Vec<FaultKind>,
}

impl Settings {
    /// `minutes` of traffic at 2.5 orders/s, every fault in turn; at least 100 orders a minute.
    pub fn for_minutes(minutes: f64) -> Self {
        Self {
            duration: Duration::from_secs_f64(minutes * 60.0),
            workers: 8,
            rate: 2.5,
            min_orders: (minutes * 100.0) as usize,
            kinds: FaultKind::CYCLE.to_vec(),
        }
    }

    /// CI's form: 1 minute, each fault once (held about 4 s). At least 50 orders: CI runs
    /// the debug binaries on a busy 2-core machine.
    pub fn ci() -> Self {
        Self { min_orders: 50, ..Self::for_minutes(1.0) }
    }
}

const USAGE: &str = "\
usage: cargo xtask soak [--minutes N] [--bin-dir DIR | --debug]

Mixed traffic through the whole local stack while faults are injected, then checks: stock
conserved, one payment per paid order and one refund per ended paid order, nothing stuck,
one event per transition, one email per (order, status, recipient), no 500 and 5xx only
during faults. Exits non-zero if any check fails.

  --minutes N   how long the traffic runs (default 5; at least 100 orders a minute)
  --bin-dir DIR run the function binaries in DIR (no build)
  --debug       build and run debug binaries (quicker to build; the figures are not
                release figures)
";

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("soak", args);
    if opts.flag("--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let minutes: f64 = opts.number("--minutes")?.unwrap_or(5.0);
    let bin_dir = opts.value("--bin-dir")?.map(PathBuf::from);
    let debug = opts.flag("--debug");
    opts.finish()?;
    if minutes.is_nan() || minutes <= 0.0 {
        bail!("--minutes must be above 0");
    }
    let root = crate::project_root();
    let bin_dir = match bin_dir {
        Some(dir) => std::path::absolute(&dir).with_context(|| format!("bad --bin-dir {}", dir.display()))?,
        None if debug => cli::build_functions(&root)?,
        None => build_release(&root)?,
    };
    let venv = local::venv::ensure_emulators(&root)?;
    local::dynamodb_local::ensure_installed()?;
    let work_dir = root.join(".local").join("soak");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(soak(&venv, &bin_dir, &work_dir, &Settings::for_minutes(minutes)))?;
    let path = work_dir.join("report.md");
    std::fs::write(&path, &report.markdown).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("soak: report in {}", path.display());
    if report.failed.is_empty() { Ok(()) } else { bail!("soak failed: {}", report.failed.join("; ")) }
}

/// The heading of the soak's section of `BENCHMARKS.md`, written from a run's report.
pub const BENCHMARKS_HEADING: &str = "## A soak under faults";

/// The soak's section of a `BENCHMARKS.md` (its heading to the next `## ` heading or the
/// end), so that `cargo xtask bench`, which writes the rest of the file, keeps it.
pub fn benchmarks_section(markdown: &str) -> Option<&str> {
    let start = markdown.find(&format!("\n{BENCHMARKS_HEADING}"))? + 1;
    let rest = &markdown[start..];
    let end = rest[BENCHMARKS_HEADING.len()..].find("\n## ").map_or(rest.len(), |i| i + BENCHMARKS_HEADING.len() + 1);
    Some(&rest[..end])
}

/// `cargo build --release` of [`FUNCTIONS`], in one invocation (shared dependencies built
/// once); the directory of the binaries.
fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let mut cmd = cli::cargo();
    cmd.args(["build", "--release"]);
    for f in FUNCTIONS {
        cmd.args(["-p", f]);
    }
    eprintln!("soak: building {} functions (release)", FUNCTIONS.len());
    cli::run(&mut cmd, "building the functions (cargo build --release)")?;
    let _ = root;
    Ok(cli::target_dir()?.join("release"))
}

/// What a run found.
pub struct Report {
    /// The names of the checks that failed (empty: green).
    pub failed: Vec<String>,
    pub markdown: String,
}

/// Runs the soak on a stack of its own; the report. An error only when the run itself could
/// not be made (the stack did not start, …); failed checks are in the report.
pub async fn soak(venv: &Venv, bin_dir: &Path, work_dir: &Path, settings: &Settings) -> anyhow::Result<Report> {
    let missing: Vec<&str> = FUNCTIONS.iter().copied().filter(|f| !bin_dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("not built in {}: {}", bin_dir.display(), missing.join(", "));
    }
    let log_dir = work_dir.join("logs");
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let stripe_state = work_dir.join("localstripe.pickle");
    let _ = std::fs::remove_file(&stripe_state);

    // DynamoDB Local's port is chosen first, so that the proxy can stand in front of it
    // before the functions start.
    let dynamodb_port = local::emulators::free_port()?;
    let faults = Arc::new(Faults::default());
    let proxy =
        CountingProxy::with_faults(std::net::SocketAddr::from(([127, 0, 0, 1], dynamodb_port)), faults.clone()).await?;
    let opts = StackOptions {
        dynamodb_port: Some(dynamodb_port),
        schedule_every: Some(SCHEDULE_EVERY),
        payment_window: Some(PAYMENT_WINDOW),
        delivery_dwell: Some(DWELL),
        functions_dynamodb_url: Some(proxy.url()),
        stripe_state_file: Some(stripe_state.clone()),
        ..StackOptions::on_free_ports(bin_dir, &log_dir)
    };
    eprintln!("soak: starting the whole local stack (logs in {})", log_dir.display());
    let mut stack = Stack::up(venv, &opts).await.context("starting the local stack")?;
    let outcome = run_on(&mut stack, venv, bin_dir, &faults, &log_dir, &stripe_state, settings).await;
    stack.down().await;
    drop(proxy);
    outcome
}

async fn run_on(
    stack: &mut Stack,
    venv: &Venv,
    bin_dir: &Path,
    faults: &Arc<Faults>,
    log_dir: &Path,
    stripe_state: &Path,
    settings: &Settings,
) -> anyhow::Result<Report> {
    let info = stack.info.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);

    // The soak's products and customers.
    let maker = &info.users.maker;
    let maker_token = local::cognito::access_token(&stack.aws, &info.cognito, &maker.username, &maker.password)
        .await
        .context("signing in as the demo maker")?;
    let api = Api::new(&info.api_url);
    let mut products = Vec::new();
    for (i, stock) in STOCKS.iter().enumerate() {
        products.push(api.create_product(&maker_token, &format!("Soak bowl {i}"), *stock).await?);
    }
    let customer_count = settings.workers * CUSTOMERS_PER_WORKER;
    eprintln!("soak: creating {customer_count} customers");
    let mut customers = Vec::new();
    for i in 0..customer_count {
        let email = format!("soak-{i}-{}@makers-market.test", cli::random_hex(6));
        let password = local::provision::DEMO_PASSWORD;
        let sub = local::cognito::create_user(&stack.aws, &info.cognito, &email, password, &[]).await?;
        let token = local::cognito::access_token(&stack.aws, &info.cognito, &email, password).await?;
        customers.push(Customer { sub, email, token });
    }
    let start = snapshot(&dynamodb, &info.table_name).await.context("reading the table at the start")?;
    warm_up(&api, &customers, settings.workers).await;

    let started_epoch = epoch_secs(SystemTime::now());
    let started = Instant::now();
    let audit = EventAudit::create(&stack.aws, &info.event_bus_name, started_epoch).await?;
    let relay = relay::Relay::start(&info.api_url, started, PAYMENT_WINDOW + Duration::from_secs(3)).await?;
    local::stripe::register_webhook(&info.stripe.api_base, &relay.url(), &info.stripe.webhook_secret)
        .await
        .context("registering the webhook relay at localstripe")?;

    let traffic = Arc::new(Traffic {
        api: api.clone(),
        stripe_api_base: info.stripe.api_base.clone(),
        stripe_secret_key: info.stripe.secret_key.clone(),
        customers: customers.clone(),
        products: products.clone(),
        started,
        stop_at: started + settings.duration,
        round_every: Duration::from_secs_f64(settings.workers as f64 / settings.rate),
        samples: Mutex::default(),
        placed: Mutex::default(),
        replays: Mutex::default(),
        endings: Mutex::default(),
    });
    eprintln!(
        "soak: {} workers, {customer_count} customers, about {} orders/s for {:.0} s; faults from {:.0} s",
        settings.workers,
        settings.rate,
        settings.duration.as_secs_f64(),
        (settings.duration / 5).as_secs_f64()
    );
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..settings.workers {
        let traffic = traffic.clone();
        let mine: Vec<usize> = (0..CUSTOMERS_PER_WORKER).map(|c| w * CUSTOMERS_PER_WORKER + c).collect();
        workers.spawn(async move { traffic.worker(mine).await });
    }

    // The faults, one at a time, on schedule.
    let plan = faults::plan(settings.duration, &settings.kinds);
    let mut windows: Vec<FaultWindow> = Vec::new();
    let mut fault_errors = Vec::new();
    {
        let mut injector = Injector::new(
            stack,
            venv,
            faults.clone(),
            &relay,
            stripe_state.to_owned(),
            log_dir.to_owned(),
            started,
            ERROR_PER_MILLE,
        );
        for (at, kind, hold) in plan {
            tokio::time::sleep_until((started + at).into()).await;
            match injector.inject(kind, hold).await {
                Ok(window) => windows.push(window),
                Err(e) => fault_errors.push(format!("{}: {e:#}", kind.name())),
            }
        }
    }
    while workers.join_next().await.is_some() {}
    let traffic_took = started.elapsed();
    eprintln!("soak: {:>5.1} s  traffic stopped; waiting for the stack to settle", traffic_took.as_secs_f64());

    let settle_started = Instant::now();
    let settled = settle(stack, &dynamodb, &info.table_name, &relay, &audit).await;
    match &settled {
        Ok(()) => eprintln!("soak: settled in {:.0} s", settle_started.elapsed().as_secs_f64()),
        Err(moving) => eprintln!("soak: not settled after {:.0} s: {moving}", settle_started.elapsed().as_secs_f64()),
    }

    // What happened.
    let end = snapshot(&dynamodb, &info.table_name).await.context("reading the table at the end")?;
    let (intents, refunds) = stripe_objects(&info.stripe.api_base, &info.stripe.secret_key).await?;
    let events = audit.drain().await?;
    let emails = local::notifications::sent_emails(&info.aws_endpoint_url)
        .await?
        .into_iter()
        .flat_map(|e| e.to.into_iter().map(move |to| EmailView { to, subject: e.subject.clone() }))
        .collect();
    let mut samples: Vec<Sample> =
        std::mem::take(&mut *traffic.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    samples
        .extend(std::mem::take(&mut *relay.shared.samples.lock().unwrap_or_else(std::sync::PoisonError::into_inner)));
    samples.sort_by_key(|s| s.sent);
    let observed = Observed {
        stock_start: start.stock,
        stock_end: end.stock,
        orders_start: start.orders,
        orders_end: end.orders,
        intents,
        refunds,
        events,
        emails,
        customer_emails: customers.iter().map(|c| (c.sub.clone(), c.email.clone())).collect(),
        samples,
        faults: windows,
        idempotent_answers: traffic.replays.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        now: epoch_secs(SystemTime::now()),
        payment_window: PAYMENT_WINDOW,
        dwell: DWELL,
        grace: GRACE,
    };
    let mut checks = check::all(&observed);
    let placed = traffic.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
    checks.push(check::Check {
        name: "enough orders",
        summary: format!("{placed} orders placed (at least {} wanted)", settings.min_orders),
        violations: if placed >= settings.min_orders {
            Vec::new()
        } else {
            vec![format!("only {placed} orders placed")]
        },
    });
    // Rounds still running at the stop time finish without new ones starting: not a rate.
    let phases = phases(&observed.samples, &observed.faults, settings.duration);
    checks.push(rate_recovered(&phases));
    checks.push(check::Check {
        name: "every fault injected",
        summary: format!("{} faults injected", observed.faults.len()),
        violations: fault_errors,
    });
    checks.push(check::Check {
        name: "settled",
        summary: format!("settled in {:.0} s", settle_started.elapsed().as_secs_f64()),
        violations: settled.err().map(|moving| format!("still moving at the deadline: {moving}")).into_iter().collect(),
    });
    let figures = Figures {
        settings: settings.clone(),
        placed,
        endings: traffic.endings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        injected: faults.injected().into_iter().map(|(f, n)| (f.name().to_owned(), n)).collect(),
        relay_twice: relay.shared.delivered_twice.load(std::sync::atomic::Ordering::SeqCst),
        relay_late: relay.shared.delivered_late.load(std::sync::atomic::Ordering::SeqCst),
        webhooks: relay.received(),
        traffic_took,
        binaries: bin_dir.display().to_string(),
    };
    let markdown = render(&observed, &checks, &phases, &figures);
    eprintln!("\n{markdown}");
    let failed = checks.iter().filter(|c| !c.passed()).map(|c| c.name.to_owned()).collect();
    Ok(Report { failed, markdown })
}

/// Waits until nothing moves any more: every order final with no refund pending, no
/// webhook still to deliver, and the bus's and the mailbox's counts unchanged over two
/// reads. At the deadline (the payment window, a few dwells, and four minutes for refunds
/// retried by the expirer, notifier retries and a mailbox that grows slow to read), what
/// was still moving.
async fn settle(
    stack: &Stack,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    relay: &relay::Relay,
    audit: &EventAudit,
) -> Result<(), String> {
    let deadline = Instant::now() + PAYMENT_WINDOW + DWELL * 6 + Duration::from_secs(240);
    let mut last = (usize::MAX, usize::MAX);
    let mut quiet_reads = 0;
    let mut moving = String::from("nothing read yet");
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let orders = match snapshot(dynamodb, table).await {
            Ok(now) => now.orders,
            Err(e) => {
                moving = format!("the table could not be read: {e:#}");
                continue;
            }
        };
        let unfinished: Vec<String> = orders
            .iter()
            .filter(|o| {
                !["delivered", "cancelled", "expired", "payment_failed"].contains(&o.status.as_str())
                    || o.refund_status.as_deref() == Some("pending")
            })
            .map(|o| format!("{} ({}, refund {:?})", o.id, o.status, o.refund_status))
            .collect();
        let relaying = relay.shared.in_flight.load(std::sync::atomic::Ordering::SeqCst);
        let counts = (
            audit.count().await.unwrap_or(usize::MAX),
            local::notifications::sent_emails(&stack.info.aws_endpoint_url).await.map_or(usize::MAX, |e| e.len()),
        );
        quiet_reads = if counts == last { quiet_reads + 1 } else { 0 };
        moving = format!(
            "{} orders not final or with a refund pending {:?}; {relaying} webhooks still to deliver; \
             events on the bus {} then {}, emails {} then {}",
            unfinished.len(),
            unfinished.iter().take(5).collect::<Vec<_>>(),
            last.0,
            counts.0,
            last.1,
            counts.1
        );
        last = counts;
        if unfinished.is_empty() && relaying == 0 && quiet_reads >= 2 {
            return Ok(());
        }
    }
    Err(moving)
}

/// The table's products and orders.
struct Snapshot {
    stock: BTreeMap<String, i64>,
    orders: Vec<OrderView>,
}

async fn snapshot(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Snapshot> {
    let mut stock = BTreeMap::new();
    let mut orders = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression("sk = :product OR sk = :order")
            .expression_attribute_values(":product", AttributeValue::S("PRODUCT".to_owned()))
            .expression_attribute_values(":order", AttributeValue::S("ORDER".to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            .context("scanning the table")?;
        for item in out.items() {
            let value: Value = serde_dynamo::from_item(item.clone()).context("reading an item as JSON")?;
            match value["sk"].as_str() {
                Some("PRODUCT") => {
                    if let (Some(id), Some(n)) = (value["id"].as_str(), value["stock"].as_i64()) {
                        stock.insert(id.to_owned(), n);
                    }
                }
                Some("ORDER") => orders.push(order_view(&value)),
                _ => {}
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(Snapshot { stock, orders })
}

fn order_view(v: &Value) -> OrderView {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    OrderView {
        id: text(&v["id"]),
        customer_id: text(&v["customer_id"]),
        status: text(&v["status"]),
        items: v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (text(&l["product_id"]), text(&l["maker_id"]), l["quantity"].as_i64().unwrap_or(0)))
            .collect(),
        total_cents: v["total_cents"].as_i64().unwrap_or(-1),
        intent_id: text(&v["payment"]["payment_intent_id"]),
        history: v["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| (text(&h["status"]), h["at"].as_str().map_or(0.0, stamp_secs)))
            .collect(),
        created_at: v["created_at"].as_str().map_or(0.0, stamp_secs),
        failed_attempts: v["payment"]["failed_attempts"].as_i64().unwrap_or(0),
        refund_status: v["payment"]["refund_status"].as_str().map(str::to_owned),
    }
}

fn stamp_secs(text: &str) -> f64 {
    shared::domain::Timestamp::from_stored(text.to_owned()).to_system_time().map_or(0.0, epoch_secs)
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Every PaymentIntent and refund localstripe has, page by page.
async fn stripe_objects(api_base: &str, key: &str) -> anyhow::Result<(Vec<IntentView>, Vec<RefundView>)> {
    let intents = list_all(api_base, key, "v1/payment_intents").await?;
    let refunds = list_all(api_base, key, "v1/refunds").await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    // A refund made by charge names only its charge: its intent is the charge's.
    let intent_of_charge: BTreeMap<String, String> =
        intents.iter().filter_map(|i| Some((i["latest_charge"].as_str()?.to_owned(), text(&i["id"])))).collect();
    Ok((
        intents
            .iter()
            .map(|i| IntentView {
                id: text(&i["id"]),
                order_id: i["metadata"]["order_id"].as_str().map(str::to_owned),
                amount: i["amount"].as_i64().unwrap_or(-1),
                status: text(&i["status"]),
            })
            .collect(),
        refunds
            .iter()
            .map(|r| RefundView {
                id: text(&r["id"]),
                payment_intent: r["payment_intent"].as_str().map(str::to_owned).unwrap_or_else(|| {
                    r["charge"].as_str().and_then(|c| intent_of_charge.get(c)).cloned().unwrap_or_default()
                }),
                amount: r["amount"].as_i64().unwrap_or(-1),
                status: text(&r["status"]),
            })
            .collect(),
    ))
}

async fn list_all(api_base: &str, key: &str, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = match &after {
            Some(id) => format!("{path}?limit=100&starting_after={id}"),
            None => format!("{path}?limit=100"),
        };
        let (status, body) = local::stripe::request(api_base, key, "GET", &page, &[]).await?;
        if status != 200 {
            bail!("GET {page} at localstripe answered {status}: {body}");
        }
        let data = body["data"].as_array().cloned().unwrap_or_default();
        after = data.last().and_then(|o| o["id"].as_str()).map(str::to_owned);
        all.extend(data);
        if body["has_more"] != Value::Bool(true) || after.is_none() {
            break;
        }
    }
    Ok(all)
}

/// One request per worker at once to each function the workers call, answered 4xx without
/// changing anything: the functions' processes start (and read their secrets and keys)
/// before the clock starts, as a steady service's would have.
async fn warm_up(api: &Api, customers: &[Customer], workers: usize) {
    let token = customers.first().map(|c| c.token.as_str());
    let bad_order = serde_json::json!({"items": []});
    let calls = (0..workers).map(|_| async {
        let _ = tokio::join!(
            api.send("GET", "/products?limit=1", None, None, &[]),
            api.send("GET", "/products/prd_none", None, None, &[]),
            api.send("POST", "/orders", token, Some(&bad_order), &[]),
            api.send("GET", "/orders/ord_none", token, None, &[]),
            api.send("POST", "/orders/ord_none/cancel", token, None, &[]),
        );
    });
    futures::future::join_all(calls).await;
}

/// A rule of the soak's own on the bus, sending every `OrderStatusChanged` to a queue: what
/// reached the bus, counted at the end.
struct EventAudit {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// When the soak started, seconds since the Unix epoch.
    started_epoch: f64,
    seen: Mutex<BTreeMap<String, EventView>>,
}

impl EventAudit {
    async fn create(aws: &aws_config::SdkConfig, bus: &str, started_epoch: f64) -> anyhow::Result<Self> {
        let sqs = aws_sdk_sqs::Client::new(aws);
        let queue = sqs
            .create_queue()
            .queue_name("soak-order-events")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "43200")
            .send()
            .await
            .context("creating the soak's event queue")?;
        let queue_url = queue.queue_url().context("no queue url")?.to_owned();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .context("reading the soak queue's ARN")?;
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("no queue ARN")?
            .clone();
        let events = aws_sdk_eventbridge::Client::new(aws);
        let pattern = serde_json::json!({
            "source": [shared::domain::OrderStatusChanged::SOURCE],
            "detail-type": [shared::domain::OrderStatusChanged::DETAIL_TYPE],
        });
        events
            .put_rule()
            .name("soak-audit")
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .context("creating the soak's rule")?;
        events
            .put_targets()
            .rule("soak-audit")
            .event_bus_name(bus)
            .targets(aws_sdk_eventbridge::types::Target::builder().id("soak").arn(arn).build()?)
            .send()
            .await
            .context("pointing the soak's rule at its queue")?;
        Ok(Self { sqs, queue_url, started_epoch, seen: Mutex::default() })
    }

    /// Reads what arrived since the last call (each message once: they stay invisible for
    /// 12 h); how many distinct events so far.
    async fn count(&self) -> anyhow::Result<usize> {
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .context("reading the soak's event queue")?;
            let messages = out.messages();
            if messages.is_empty() {
                break;
            }
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for m in messages {
                let Ok(event) = serde_json::from_str::<Value>(m.body().unwrap_or_default()) else { continue };
                let detail = &event["detail"];
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                let sent_ms = m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(0.0);
                let enqueued = Duration::from_secs_f64((sent_ms / 1e3 - self.started_epoch).max(0.0));
                seen.insert(
                    id,
                    EventView {
                        order_id: detail["order_id"].as_str().unwrap_or_default().to_owned(),
                        status: detail["status"].as_str().unwrap_or_default().to_owned(),
                        previous_status: detail["previous_status"].as_str().unwrap_or_default().to_owned(),
                        enqueued,
                    },
                );
            }
        }
        Ok(self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len())
    }

    async fn drain(&self) -> anyhow::Result<Vec<EventView>> {
        self.count().await?;
        Ok(self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect())
    }
}

/// Requests, rate and latency of one part of the run.
#[derive(Debug, Clone)]
struct Phase {
    name: &'static str,
    seconds: f64,
    requests: usize,
    orders: usize,
    fives: usize,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.requests as f64 / self.seconds } else { 0.0 }
    }
}

/// The samples before the first fault, while one was on (or within its grace), between
/// faults, and after the last one's grace.
fn phases(samples: &[Sample], faults: &[FaultWindow], stop: Duration) -> Vec<Phase> {
    let traffic_took = stop;
    let first = faults.iter().map(|f| f.start).min().unwrap_or(traffic_took);
    let last = faults.iter().map(|f| f.end + GRACE).max().unwrap_or(traffic_took).min(traffic_took);
    let during: f64 = faults.iter().map(|f| (f.end + GRACE - f.start).as_secs_f64()).sum();
    let traffic: Vec<&Sample> =
        samples.iter().filter(|s| s.route != "POST /webhooks/stripe" && s.sent < traffic_took).collect();
    let in_fault = |s: &Sample| faults.iter().any(|f| s.sent + s.took >= f.start && s.sent <= f.end + GRACE);
    type Pick<'a> = Box<dyn Fn(&Sample) -> bool + 'a>;
    let parts: [(&'static str, f64, Pick); 4] = [
        ("before the faults", first.as_secs_f64(), Box::new(move |s: &Sample| s.sent < first)),
        ("during a fault (+10 s)", during, Box::new(in_fault)),
        (
            "between faults",
            (last.saturating_sub(first)).as_secs_f64() - during,
            Box::new(move |s: &Sample| s.sent >= first && s.sent < last && !in_fault(s)),
        ),
        (
            "after the faults",
            traffic_took.saturating_sub(last).as_secs_f64(),
            Box::new(move |s: &Sample| s.sent >= last),
        ),
    ];
    parts
        .into_iter()
        .map(|(name, seconds, pick)| {
            let mine: Vec<&&Sample> = traffic.iter().filter(|s| pick(s)).collect();
            let ms: Vec<f64> = mine.iter().map(|s| s.took.as_secs_f64() * 1e3).collect();
            Phase {
                name,
                seconds: seconds.max(0.0),
                requests: mine.len(),
                orders: mine.iter().filter(|s| s.route == "POST /orders" && s.status == 201).count(),
                fives: mine.iter().filter(|s| s.status >= 500 || s.status == 0).count(),
                p50_ms: crate::bench::report::percentile(&ms, 50.0),
                p99_ms: crate::bench::report::percentile(&ms, 99.0),
            }
        })
        .collect()
}

/// After the faults, the stack serves at least half the request rate it served before
/// them: it recovered. (The workers aim at a fixed rate; a slow stack serves less.)
fn rate_recovered(phases: &[Phase]) -> check::Check {
    let phase = |name: &str| phases.iter().find(|p| p.name == name);
    let rate = |name: &str| phase(name).map_or(0.0, Phase::rate);
    let (before, after) = (rate("before the faults"), rate("after the faults"));
    let clean_after = phase("after the faults").map_or(0.0, |p| p.seconds);
    // A few seconds hold a round or two per worker: too few to call a rate.
    if clean_after < 20.0 {
        return check::Check {
            name: "request rate recovered after the faults",
            summary: format!(
                "not judged: {clean_after:.0} s after the last fault's grace ({before:.1} req/s before, {after:.1} after)"
            ),
            violations: Vec::new(),
        };
    }
    check::Check {
        name: "request rate recovered after the faults",
        summary: format!("{before:.1} req/s before, {after:.1} after"),
        violations: if after >= before / 2.0 {
            Vec::new()
        } else {
            vec![format!("{after:.1} req/s after the faults, under half the {before:.1} before")]
        },
    }
}

struct Figures {
    settings: Settings,
    placed: usize,
    endings: BTreeMap<String, usize>,
    injected: BTreeMap<String, u64>,
    relay_twice: u64,
    relay_late: u64,
    webhooks: u64,
    traffic_took: Duration,
    binaries: String,
}

fn render(o: &Observed, checks: &[check::Check], phases: &[Phase], f: &Figures) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{:.0} s of traffic (binaries: `{}`): {} workers at about {} orders/s; {} orders placed, {} in the table \
         at the end; endings played: {:?}.",
        f.traffic_took.as_secs_f64(),
        f.binaries,
        f.settings.workers,
        f.settings.rate,
        f.placed,
        o.orders_end.len(),
        f.endings
    );
    let _ = writeln!(md, "\nFaults ({}):\n", o.faults.len());
    for w in &o.faults {
        let _ = writeln!(md, "- {:.1}–{:.1} s: {}", w.start.as_secs_f64(), w.end.as_secs_f64(), w.name);
    }
    let _ = writeln!(md, "- DynamoDB errors answered by the proxy: {:?}", f.injected);
    let _ = writeln!(
        md,
        "- webhooks: {} received from localstripe, {} delivered twice, {} late (+{} s)",
        f.webhooks,
        f.relay_twice,
        f.relay_late,
        (PAYMENT_WINDOW + Duration::from_secs(3)).as_secs()
    );
    let _ = writeln!(
        md,
        "\n| part of the run | seconds | requests | req/s | orders placed | 5xx or no answer | p50 ms | p99 ms |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"));
    for p in phases {
        let _ = writeln!(
            md,
            "| {} | {:.0} | {} | {:.1} | {} | {} | {} | {} |",
            p.name,
            p.seconds,
            p.requests,
            p.rate(),
            p.orders,
            p.fives,
            ms(p.p50_ms),
            ms(p.p99_ms)
        );
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for s in &o.samples {
        *statuses.entry(s.status).or_default() += 1;
    }
    let _ = writeln!(md, "\nHTTP answers by status (0: none): {statuses:?}\n");
    let _ = writeln!(md, "| check | result | what was checked |\n|---|---|---|");
    for c in checks {
        let _ = writeln!(md, "| {} | {} | {} |", c.name, if c.passed() { "pass" } else { "**FAIL**" }, c.summary);
    }
    for c in checks.iter().filter(|c| !c.passed()) {
        let _ = writeln!(md, "\n**{}** — {} violation(s):", c.name, c.violations.len());
        for v in c.violations.iter().take(20) {
            let _ = writeln!(md, "- {v}");
        }
        if c.violations.len() > 20 {
            let _ = writeln!(md, "- … and {} more", c.violations.len() - 20);
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &'static str, seconds: f64, requests: usize) -> Phase {
        Phase { name, seconds, requests, orders: 0, fives: 0, p50_ms: None, p99_ms: None }
    }

    #[test]
    fn a_rate_that_did_not_come_back_after_the_faults_fails() {
        let held = [phase("before the faults", 60.0, 600), phase("after the faults", 60.0, 550)];
        assert!(rate_recovered(&held).passed());
        let fell = [phase("before the faults", 60.0, 600), phase("after the faults", 60.0, 240)];
        assert!(!rate_recovered(&fell).passed());
        let short = [phase("before the faults", 12.0, 120), phase("after the faults", 5.0, 10)];
        assert!(rate_recovered(&short).passed() && rate_recovered(&short).summary.starts_with("not judged"));
    }

    #[test]
    fn the_soak_builds_only_function_crates() {
        let root = crate::project_root();
        for f in FUNCTIONS {
            assert!(root.join("functions").join(f).join("Cargo.toml").is_file(), "{f}");
        }
    }

    #[test]
    fn the_benchmarks_section_is_found_between_headings_or_at_the_end() {
        let middle = "# B\n\n## One\nx\n## A soak under faults\nfigures\n\n## Two\ny\n";
        assert_eq!(benchmarks_section(middle), Some("## A soak under faults\nfigures\n\n"));
        let last = "# B\n## A soak under faults (5 minutes)\nfigures\n";
        assert_eq!(benchmarks_section(last), Some("## A soak under faults (5 minutes)\nfigures\n"));
        assert_eq!(benchmarks_section("# B\n## One\n"), None);
    }
}
