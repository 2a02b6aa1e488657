//! The `web` section: Lighthouse 12 (mobile defaults, Debian's Chromium) on the shop's pages
//! on the whole local stack — the four category scores (median of 3 runs) and each page's
//! weight (its HTML and the shop's CSS and JS it links, gzip as served; Stripe.js and
//! photos left out) —
//! and the warm time to first byte of the product page, p50 and p99. `browser/lighthouse.mjs`
//! drives Lighthouse; this starts the stack (debug builds of every function, as `cargo xtask
//! test` runs them) and writes the table.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::stack::{Stack, StackOptions};

/// One page's Lighthouse result.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct PageResult {
    pub page: String,
    pub path: String,
    pub runs: usize,
    pub scores: std::collections::BTreeMap<String, u32>,
    pub weight_bytes: u64,
    #[serde(default)]
    pub failed_audits: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Web {
    pub pages: Vec<PageResult>,
    /// Warm time to first byte of the product page, in ms: (p50, p99, samples).
    pub product_ttfb: Option<(f64, f64, usize)>,
}

/// The targets of the web shop issue: every score at least this, weight at most that.
const MIN_SCORE: u32 = 95;
const MAX_WEIGHT: u64 = 50 * 1024;

impl Web {
    pub fn markdown(&self, md: &mut String) {
        let _ = writeln!(md, "## The web shop: Lighthouse and page weight\n");
        let _ = writeln!(
            md,
            "Lighthouse 12.8 (npm `lighthouse`, pinned in `browser/package-lock.json`), mobile defaults (simulated \
             throttling), on Debian's Chromium, against the whole local stack (debug builds behind the local ALB; \
             `browser/lighthouse.mjs`, `xtask/src/bench/web.rs`). Scores are the median of the runs. The weight is \
             the page's HTML and the shop's own CSS and JS it links, as served gzip-compressed (their Content-Length; \
             without Stripe.js, another origin's, and without photos). Targets: every score ≥ {MIN_SCORE}, weight ≤ {} KB; \
             for the studio's and desk's pages, which say `noindex`, SEO is not one.\n",
            MAX_WEIGHT / 1024
        );
        let _ = writeln!(
            md,
            "| page | path | performance | accessibility | best practices | SEO | weight | runs | below 100 |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for p in &self.pages {
            // The studio's and the desk's pages say `noindex` on purpose: nobody should find a
            // maker's or an admin's page in a search engine, so Lighthouse's SEO audit
            // (`is-crawlable`) is not their target.
            let private = p.path.starts_with("/studio") || p.path.starts_with("/desk");
            let score = |k: &str| {
                let s = p.scores.get(k).copied().unwrap_or(0);
                if s >= MIN_SCORE {
                    format!("{s}")
                } else if private && k == "seo" {
                    format!("{s} (noindex, by design)")
                } else {
                    format!("**{s}** ✘")
                }
            };
            let weight = format!(
                "{:.1} KB{}",
                p.weight_bytes as f64 / 1024.0,
                if p.weight_bytes > MAX_WEIGHT { " ✘" } else { "" }
            );
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
                p.page,
                p.path,
                score("performance"),
                score("accessibility"),
                score("best-practices"),
                score("seo"),
                weight,
                p.runs,
                if p.failed_audits.is_empty() { "—".to_owned() } else { p.failed_audits.join(", ") }
            );
        }
        if let Some((p50, p99, n)) = self.product_ttfb {
            let _ = writeln!(
                md,
                "\nWarm time to first byte of the product page (`GET /listing/{{id}}`, a visitor, through the local ALB, \
                 debug build): p50 {p50:.1} ms, p99 {p99:.1} ms over {n} requests, one at a time.\n"
            );
        }
    }
}

pub async fn run(root: &Path, log_dir: &Path) -> anyhow::Result<Web> {
    let chromium = crate::browser::chromium();
    if !Path::new(&chromium).is_file() {
        bail!("Chromium is missing at {chromium} (apt-get install chromium)");
    }
    let root_owned = root.to_owned();
    let (venv, bin_dir) = tokio::task::spawn_blocking(move || {
        local::dynamodb_local::ensure_installed()?;
        crate::browser::ensure_packages(&root_owned)?;
        let bin_dir = crate::cli::build_functions(&root_owned)?;
        anyhow::Ok((local::venv::ensure_emulators(&root_owned)?, bin_dir))
    })
    .await
    .context("the setup task panicked")??;
    let opts = StackOptions::on_free_ports(bin_dir, log_dir);
    eprintln!("bench: the web shop: starting the whole local stack");
    let stack = Stack::up(&venv, &opts).await.context("starting the whole local stack")?;
    let outcome = measure(root, log_dir, &stack, &chromium).await;
    stack.down().await;
    outcome
}

async fn measure(root: &Path, log_dir: &Path, stack: &Stack, chromium: &str) -> anyhow::Result<Web> {
    let stack_file = log_dir.join("stack.json");
    crate::stack::write_stack_file(&stack_file, &stack.info)?;
    let port = stack.alb.addr().port();
    // Warm time to first byte of a product page (the status line's arrival).
    let home = get_body(port, "/").await.context("GET /")?;
    let product = home
        .split("href=\"/listing/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the home page links no product")?
        .to_owned();
    let path = format!("/listing/{product}");
    let mut samples = Vec::new();
    for i in 0..110 {
        let started = Instant::now();
        let status = local::emulators::http_status(port, &path).await.context("GET a product page")?;
        anyhow::ensure!(status == 200, "GET {path} answered {status}");
        if i >= 10 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let ttfb = Some((
        super::report::median(&samples).unwrap_or_default(),
        super::report::percentile(&samples, 99.0).unwrap_or_default(),
        samples.len(),
    ));
    eprintln!("bench: the web shop: Lighthouse on the shop's, studio's and desk's pages, 3 runs each");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root.join("browser/lighthouse.mjs"))
        .current_dir(root.join("browser"))
        .env("STACK_FILE", &stack_file)
        .env("CHROMIUM_PATH", chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15 * 60), cmd.output())
        .await
        .context("Lighthouse did not finish within 15 minutes")?
        .context("cannot run node browser/lighthouse.mjs")?;
    if !out.status.success() {
        bail!("browser/lighthouse.mjs failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    #[derive(Deserialize)]
    struct Output {
        pages: Vec<PageResult>,
    }
    let parsed: Output = serde_json::from_slice(&out.stdout).context("browser/lighthouse.mjs printed no report")?;
    Ok(Web { pages: parsed.pages, product_ttfb: ttfb })
}

/// The body of `GET <path>` (HTTP/1.0, read to the end).
async fn get_body(port: u16, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.context("timed out")??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    Ok(text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
}
