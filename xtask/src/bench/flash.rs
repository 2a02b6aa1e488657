//! `cargo xtask bench flash-sale`: a flash sale on the whole local stack (what `cargo xtask
//! dev` runs), with the local ALB at `--max-instances 50` so that 50 concurrent requests
//! meet 50 `create-order` processes, as they would meet 50 Lambdas. Many customers try to
//! buy one unit each of one product with few units; the run counts what they got (sold,
//! refused, busy, any other 5xx), the Stripe calls the functions made (a counting proxy in
//! front of localstripe) and the latency, and checks the stock.
//!
//! DynamoDB Local serialises every transaction under one lock, so this measures the
//! checkout's own path under a rush on this machine, not what real DynamoDB does to a hot
//! item (conflicts; that path is tested with injected conflicts, `tests/tests/api/flash_sale.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;

use super::orders::Api;
use super::proxy::{CountBy, CountingProxy};
use super::report::percentile;
use crate::stack::{Stack, StackOptions};

const FUNCTIONS: &[&str] = &["create-order", "create-product", "get-product", "list-orders"];
const USAGE: &str = "\
usage: cargo xtask bench flash-sale [options]

  --units N         units of the one product on sale (default 100)
  --attempts N      POST /orders in all, one unit each (default 2000)
  --customers N     distinct customers taking turns (default 200)
  --concurrency N   requests in flight, and the ALB's processes per function (default 50)
  --skip-build      use the release binaries already built
  --out PATH        also write the markdown section there
";

struct Options {
    units: u64,
    attempts: usize,
    customers: usize,
    concurrency: usize,
    build: bool,
    out: Option<PathBuf>,
}

impl Options {
    fn parse(args: Vec<String>) -> anyhow::Result<Option<Self>> {
        let mut o = Self { units: 100, attempts: 2000, customers: 200, concurrency: 50, build: true, out: None };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().with_context(|| format!("{name} takes a value"));
            match arg.as_str() {
                "--units" => o.units = value("--units")?.parse::<u64>()?.max(1),
                "--attempts" => o.attempts = value("--attempts")?.parse::<usize>()?.max(1),
                "--customers" => o.customers = value("--customers")?.parse::<usize>()?.max(1),
                "--concurrency" => o.concurrency = value("--concurrency")?.parse::<usize>()?.max(1),
                "--skip-build" => o.build = false,
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "-h" | "--help" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                other => bail!("unknown option {other}\n{USAGE}"),
            }
        }
        Ok(Some(o))
    }
}

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some(options) = Options::parse(args)? else { return Ok(()) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(flash_sale(options))
}

/// What the sale came to.
#[derive(Debug, Default)]
struct Sale {
    statuses: BTreeMap<u16, usize>,
    /// Latency of every answer, and of the sales alone, ms.
    all_ms: Vec<f64>,
    sold_ms: Vec<f64>,
    busy_without_retry_after: usize,
    transport_errors: usize,
    wall: Duration,
    stripe: BTreeMap<String, u64>,
    final_stock: Option<u64>,
}

async fn flash_sale(o: Options) -> anyhow::Result<()> {
    let root = crate::project_root();
    let venv = local::venv::ensure_emulators(&root)?;
    local::dynamodb_local::ensure_installed()?;
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
    let logs = root.join(".local").join("bench").join("flash-sale");
    let stripe_port = local::emulators::free_port()?;
    let stripe_proxy =
        CountingProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], stripe_port)), CountBy::RequestLine).await?;
    let opts = StackOptions {
        stripe_port: Some(stripe_port),
        functions_stripe_url: Some(format!("{}/", stripe_proxy.url())),
        max_instances: o.concurrency,
        // No sweeper runs during the sale: it measures checkout alone.
        schedule_every: None,
        ..StackOptions::on_free_ports(&bin_dir, &logs)
    };
    eprintln!("bench: flash sale: starting the whole local stack (logs in {})", logs.display());
    let stack = Stack::up(&venv, &opts).await.context("starting the whole local stack")?;
    let outcome = run_sale(&stack, &o, &stripe_proxy).await;
    stack.down().await;
    let sale = outcome?;
    let date = super::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await.unwrap_or_default();
    let m = super::machine().await;
    let machine = format!("{} ({} cores), Linux {}", m.cpu, m.cores, m.kernel);
    let markdown = markdown(&o, &sale, &date, &machine);
    println!("{markdown}");
    if let Some(out) = &o.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("bench: flash sale: wrote {}", out.display());
    }
    let sold = sale.statuses.get(&201).copied().unwrap_or_default() as u64;
    let server_errors: usize = sale.statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503).map(|(_, n)| n).sum();
    if sold != o.units.min(o.attempts as u64) || sale.final_stock != Some(o.units - sold) || server_errors > 0 {
        bail!("the flash sale went wrong: {} sold, stock {:?}, {server_errors} 5xx", sold, sale.final_stock);
    }
    Ok(())
}

async fn run_sale(stack: &Stack, o: &Options, stripe: &CountingProxy) -> anyhow::Result<Sale> {
    let info = &stack.info;
    let api = Api::new(&info.api_url);
    let maker = &info.users.maker;
    let maker_token = local::cognito::access_token(&stack.aws, &info.cognito, &maker.username, &maker.password)
        .await
        .context("signing the maker in")?;
    eprintln!("bench: flash sale: {} customers", o.customers);
    let password = local::provision::DEMO_PASSWORD;
    let tokens: Vec<String> = futures::stream::iter(0..o.customers)
        .map(|i| {
            let email = format!("flash-{i}-{}@makers-market.test", ulid::Ulid::new().to_string().to_lowercase());
            async move {
                local::cognito::create_user(&stack.aws, &info.cognito, &email, password, &[]).await?;
                local::cognito::access_token(&stack.aws, &info.cognito, &email, password).await
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<anyhow::Result<String>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let product = api.create_product(&maker_token, "Flash sale mug", o.units).await?;
    // Warm the instances the sale will use (untimed, on another product), then count from zero.
    let warm = api.create_product(&maker_token, "Warm-up mug", 10_000).await?;
    let warmers: Vec<_> = (0..o.concurrency)
        .map(|i| {
            let (api, token, warm) = (api.clone(), tokens[i % tokens.len()].clone(), warm.clone());
            async move {
                if let Ok(placed) = api.place_order(&token, &warm, 1).await
                    && placed.status == 201
                {
                    let _ = api.cancel_placed(&token, &placed).await;
                }
            }
        })
        .collect();
    futures::future::join_all(warmers).await;
    stripe.take();

    eprintln!("bench: flash sale: {} attempts at {} units, {} at a time", o.attempts, o.units, o.concurrency);
    let started = Instant::now();
    let replies: Vec<anyhow::Result<super::orders::Reply>> = futures::stream::iter(0..o.attempts)
        .map(|i| {
            let (api, token, product) = (api.clone(), tokens[i % tokens.len()].clone(), product.clone());
            async move { api.place_order(&token, &product, 1).await }
        })
        .buffer_unordered(o.concurrency)
        .collect()
        .await;
    let mut sale = Sale { wall: started.elapsed(), stripe: stripe.take(), ..Sale::default() };
    for reply in replies {
        match reply {
            Ok(r) => {
                *sale.statuses.entry(r.status).or_default() += 1;
                let ms = r.elapsed.as_secs_f64() * 1e3;
                sale.all_ms.push(ms);
                if r.status == 201 {
                    sale.sold_ms.push(ms);
                }
                if r.status == 503 && r.retry_after.is_none() {
                    sale.busy_without_retry_after += 1;
                }
            }
            Err(_) => sale.transport_errors += 1,
        }
    }
    sale.final_stock = api.stock(&maker_token, &product).await.ok();
    Ok(sale)
}

fn markdown(o: &Options, sale: &Sale, date: &str, machine: &str) -> String {
    let mut md = String::new();
    let count = |s: u16| sale.statuses.get(&s).copied().unwrap_or_default();
    let other_5xx: usize = sale.statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503).map(|(_, n)| n).sum();
    let intents = sale.stripe.get("POST /v1/payment_intents").copied().unwrap_or_default();
    let stripe_all: u64 = sale.stripe.values().sum();
    let (all, sold) = (&sale.all_ms, &sale.sold_ms);
    let _ = writeln!(
        md,
        "## A flash sale: {} units, {} attempts from {} customers, {} at a time (`cargo xtask bench flash-sale`)\n",
        o.units, o.attempts, o.customers, o.concurrency
    );
    let _ = writeln!(
        md,
        "{date}, {machine}. The whole local stack (`cargo xtask dev`'s) with release binaries, the local ALB at \
         `--max-instances {}` (so {} requests in flight meet {} `create-order` processes, as they would meet as many \
         Lambdas); every attempt is one unit, `POST /orders` over HTTP/1.1 keep-alive; instances warmed first on \
         another product. Stripe calls are counted by a proxy in front of localstripe. DynamoDB Local serialises \
         transactions under one lock, so this is the checkout's own path under a rush on this machine; what real \
         DynamoDB does to a hot item (conflicts) is tested with injected conflicts in CI.\n",
        o.concurrency, o.concurrency, o.concurrency
    );
    let _ = writeln!(
        md,
        "| sold (201) | refused (409) | busy (503, `Retry-After`) | other 5xx | final stock | Stripe intents created | all Stripe calls | wall s | attempts/s | p50 ms | p99 ms | p50 ms of a sale | p99 ms of a sale |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
        count(201),
        count(409),
        count(503),
        other_5xx + sale.transport_errors,
        sale.final_stock.map_or("?".to_owned(), |s| s.to_string()),
        intents,
        stripe_all,
        sale.wall.as_secs_f64(),
        o.attempts as f64 / sale.wall.as_secs_f64().max(1e-9),
        percentile(all, 50.0).unwrap_or_default(),
        percentile(all, 99.0).unwrap_or_default(),
        percentile(sold, 50.0).unwrap_or_default(),
        percentile(sold, 99.0).unwrap_or_default(),
    );
    let _ = writeln!(
        md,
        "Stripe was called {stripe_all} times for {} sales ({}): only orders that hold their unit reach Stripe; a \
         refused attempt costs one DynamoDB read (sold out) or a read and a cancelled transaction (a lost race), \
         and no Stripe call.{}",
        count(201),
        sale.stripe.iter().map(|(k, v)| format!("`{k}`×{v}")).collect::<Vec<_>>().join(", "),
        if sale.busy_without_retry_after > 0 {
            format!(" {} busy answers lacked `Retry-After`.", sale.busy_without_retry_after)
        } else {
            String::new()
        }
    );
    md
}
