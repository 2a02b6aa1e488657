//! `cargo xtask <task>`: the project's own commands (alias in `.cargo/config.toml`).
//!
//! * `dev`   — the whole stack on loopback: emulators, resources, demo data, the API on
//!   http://127.0.0.1:3000, until Ctrl-C.
//! * `token` — an access token for a demo user of the running `dev` stack.
//! * `pay`   — pay an order of the running `dev` stack at localstripe, as the storefront
//!   would, and wait for the webhook to mark it paid.
//! * `test`  — everything CI checks: lints, API fuzzing against `openapi.yaml`, and the
//!   Rust test suite against fresh emulators.
//! * `mail`  — the emails the running `dev` stack sent, each also as `.local/mail/<id>.html`.
//! * `bench` — benchmarks (see `bench.rs`).
//! * `soak`  — traffic through the whole local stack under injected faults, then
//!   invariants checked (see `soak.rs`).

mod bench;
mod browser;
mod cli;
mod dev;
mod mail;
mod pay;
mod soak;
mod stack;
mod test;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  dev [--port 3000] [--moto-port 5000] [--dynamodb-port 8000] [--stripe-port 8420] [--quiet]
      [--bin-dir DIR] [--payment-window 1800] [--schedule-every 5] [--delivery-dwell 6]
      [--max-instances 4]
        Run the whole stack locally (DynamoDB Local, moto, localstripe, the functions behind
        a local ALB) until Ctrl-C; writes .local/stack.json. --quiet: functions' logs only in
        .local/logs/. --bin-dir: run the function binaries in DIR instead of building them.
        --payment-window: seconds an order may stay unpaid before it expires.
        --schedule-every: seconds between runs of payment-expirer (rate(1 minute) in the
        cloud; delivery-simulator ticks every second locally); 0 turns both off.
        --delivery-dwell: seconds a paid order stays in each delivery step (minutes in
        the cloud), so that it reaches `delivered` in about 4 dwells.
        --max-instances: processes the local ALB runs per function at most (4); in the
        cloud 50 concurrent requests meet 50 Lambdas, so try 50 for a rush.
  token <customer|maker|admin|other_maker>
        Print an access token for a demo user of the running `dev` stack.
  pay <order id> [--fail]
        Pay a `pending_payment` order of the running `dev` stack at localstripe with the
        test card pm_card_visa (--fail: a declined card), then wait up to 10 s for the
        Stripe webhook to make it `paid` (or, declined, to record the attempt) and print the result.
  mail [ID]
        List the emails the running `dev` stack has sent (moto's SES): time, recipient,
        subject, id; each is also written to .local/mail/<id>.html to open in a browser.
        With an ID, print that email.
  test [--skip-lint] [--skip-api] [--skip-browser] [--skip-soak] [--skip-rust] [--max-examples N] [--seed N]
       [--max-instances 4] [FILTER...]
        Lint template.yaml, fuzz the API with schemathesis against openapi.yaml, run the
        workspace's tests against fresh DynamoDB Local and moto, the browser tests in
        Debian's Chromium (apt package chromium), and the soak's 1-minute form (debug
        binaries). What CI (.ci/run) runs.
        FILTERs (test names) go to nextest and leave out the doc tests. --max-instances:
        processes per function on the ALB of the API and browser tests' stacks.
  bench [...]
        Benchmarks.
  soak [--minutes 5] [--bin-dir DIR | --debug]
        Mixed customer traffic through the whole local stack (release binaries) while
        faults are injected (DynamoDB Local frozen, DynamoDB errors, localstripe killed,
        moto frozen, webhooks twice and late); then checks stock, money, progress, events,
        emails and HTTP answers, prints rate and p99 before/during/after the faults, and
        exits non-zero if a check fails. Report in .local/soak/report.md.
  help  This text.
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("dev") => dev::run(rest),
        Some("token") => token::run(rest),
        Some("pay") => pay::run(rest),
        Some("mail") => mail::run(rest),
        Some("test") => test::run(rest),
        Some("bench") => bench::run(rest),
        Some("soak") => soak::run(rest),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("xtask: unknown task `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (this crate is `<root>/xtask`).
pub fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
