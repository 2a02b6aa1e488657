//! The local stand-in for EventBridge schedules (`rate(…)` rules targeting a Lambda): every
//! `every`, each scheduled function's real binary is invoked through the fake Runtime API
//! with the event EventBridge sends (`"detail-type": "Scheduled Event"`, `"source":
//! "aws.events"`, see `events/payment-expirer.json`), like the ALB runs the HTTP ones.
//!
//! Each scheduled function keeps one process ([`crate::sandbox`]), started (and its init
//! checked) when the scheduler starts; one that crashes, errs or times out is replaced on
//! the next tick. Runs of one function never overlap here: a tick that comes while the
//! previous run is still going is skipped. (In the cloud they may overlap, so the functions
//! must not rely on this.) The first run comes one interval after the start, as with a new
//! rule. Logs go to `<log_dir>/<function>.log`, with the HTTP functions' logs; a failed run
//! is also reported on stderr.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;

use crate::sandbox::{Failure, Pool, PoolOptions};

/// The account in the events' ARNs (moto's default account, as in `events/*.json`).
const ACCOUNT: &str = "123456789012";

/// One schedule: `function` (its crate and binary name, `functions/<name>`) every `every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub function: String,
    pub every: Duration,
}

impl Schedule {
    pub fn new(function: impl Into<String>, every: Duration) -> Self {
        Self { function: function.into(), every }
    }
}

/// How to run the scheduled functions.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub schedules: Vec<Schedule>,
    /// The region in the events (the functions' `AWS_REGION` comes from `env`).
    pub region: String,
    /// Where the function binaries are: `<bin_dir>/<function>`.
    pub bin_dir: PathBuf,
    /// Environment of every function process, on top of the Lambda sandbox variables.
    pub env: Vec<(String, String)>,
    /// Directory for `<function>.log`.
    pub log_dir: PathBuf,
    /// Per run; a run that takes longer is stopped (its process killed).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (informational here: nothing is limited).
    pub memory_mb: u32,
    /// Copy function output to stderr, prefixed with `[function#n]`.
    pub echo_logs: bool,
}

impl SchedulerOptions {
    pub fn new(bin_dir: impl Into<PathBuf>, log_dir: impl Into<PathBuf>, region: impl Into<String>) -> Self {
        Self {
            schedules: Vec::new(),
            region: region.into(),
            bin_dir: bin_dir.into(),
            env: Vec::new(),
            log_dir: log_dir.into(),
            timeout: Duration::from_secs(60),
            memory_mb: 256,
            echo_logs: false,
        }
    }
}

/// The running schedules. Dropping it stops them and kills their processes.
pub struct Scheduler {
    pools: Vec<Arc<Pool>>,
    tickers: JoinSet<()>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let functions: Vec<&str> = self.pools.iter().map(|p| p.function()).collect();
        f.debug_struct("Scheduler").field("functions", &functions).finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Starts one process per scheduled function (a function that is not built, or fails
    /// its init, is reported on stderr and retried at each tick), then the tickers.
    pub async fn start(opts: SchedulerOptions) -> anyhow::Result<Scheduler> {
        std::fs::create_dir_all(&opts.log_dir)
            .with_context(|| format!("cannot create the log directory {}", opts.log_dir.display()))?;
        let mut pools = Vec::new();
        let mut tickers = JoinSet::new();
        for schedule in &opts.schedules {
            anyhow::ensure!(!schedule.every.is_zero(), "the schedule of `{}` has a zero interval", schedule.function);
            let pool_opts = PoolOptions {
                binary: opts.bin_dir.join(&schedule.function),
                env: &opts.env,
                log_dir: &opts.log_dir,
                max_instances: 1,
                deadline: opts.timeout,
                memory_mb: opts.memory_mb,
                echo_logs: opts.echo_logs,
            };
            let pool = Pool::started("scheduler", &schedule.function, &pool_opts).await?;
            tickers.spawn(tick(pool.clone(), schedule.every, opts.timeout, opts.region.clone()));
            pools.push(pool);
        }
        Ok(Scheduler { pools, tickers })
    }

    /// Stops the tickers (a run in progress is cut short) and kills the processes.
    pub async fn shutdown(mut self) {
        self.tickers.shutdown().await;
        for pool in &self.pools {
            pool.shutdown().await;
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.tickers.abort_all();
        for pool in &self.pools {
            pool.kill_idle();
        }
    }
}

async fn tick(pool: Arc<Pool>, every: Duration, timeout: Duration, region: String) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let event = scheduled_event(pool.function(), &region, std::time::SystemTime::now());
        match pool.invoke(event, timeout).await {
            Ok(_) => {}
            Err(Failure::Failed(why)) => {
                eprintln!("scheduler: `{}` run failed: {why} (log: {})", pool.function(), pool.log_hint());
            }
            Err(Failure::TimedOut) => {
                eprintln!(
                    "scheduler: `{}` run did not end within {timeout:?} (log: {})",
                    pool.function(),
                    pool.log_hint()
                );
            }
        }
    }
}

/// What an EventBridge schedule rule named `makers-market-<function>` sends its target.
pub fn scheduled_event(function: &str, region: &str, at: std::time::SystemTime) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": uuid(ulid::Ulid::new().0),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": rfc3339_seconds(at),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT}:rule/makers-market-{function}")],
        "detail": {},
    })
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as EventBridge event ids are written.
fn uuid(n: u128) -> String {
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// `2026-12-02T12:00:00Z`: whole seconds, UTC, as in EventBridge's `time`.
fn rfc3339_seconds(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = crate::sandbox::civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_shaped_like_eventbridges() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_796_212_800); // 2026-12-02T12:00:00Z
        let event = scheduled_event("payment-expirer", "eu-west-1", at);
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../events/payment-expirer.json")).unwrap_or_default();
        let mut fields: Vec<&String> = event.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        let mut sample_fields: Vec<&String> = sample.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        fields.sort();
        sample_fields.sort();
        assert_eq!(fields, sample_fields);
        for same in ["version", "detail-type", "source", "account", "time", "region", "resources", "detail"] {
            assert_eq!(event[same], sample[same], "{same}");
        }
        let id = event["id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4, "{id}");
    }

    /// A stand-in scheduled function: appends each event's `source` to a file.
    const FAKE_FUNCTION: &str = r#"
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    with open(os.environ["OUT"], "a") as out:
        out.write(event["source"] + " " + os.environ["AWS_LAMBDA_FUNCTION_NAME"] + "\n")
    req = urllib.request.Request(api + request_id + "/response", data=b"{}", method="POST")
    urllib.request.urlopen(req).read()
"#;

    #[tokio::test]
    async fn a_scheduled_function_is_invoked_every_interval() -> anyhow::Result<()> {
        let out = std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output()?;
        let python = String::from_utf8(out.stdout)?.trim().to_owned();
        let dir = std::env::temp_dir().join(format!("mm-scheduler-test-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)?;
        let binary = dir.join("ticker");
        std::fs::write(&binary, format!("#!{python}\n{FAKE_FUNCTION}"))?;
        std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        let record = dir.join("runs.txt");

        let mut opts = SchedulerOptions::new(&dir, dir.join("logs"), "eu-west-1");
        opts.schedules = vec![Schedule::new("ticker", Duration::from_millis(200))];
        opts.env = vec![("OUT".into(), record.display().to_string())];
        let scheduler = Scheduler::start(opts).await?;
        let mut runs = String::new();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            runs = std::fs::read_to_string(&record).unwrap_or_default();
            if runs.lines().count() >= 3 {
                break;
            }
        }
        scheduler.shutdown().await;
        assert!(runs.lines().count() >= 3, "runs: {runs:?}");
        assert!(runs.lines().all(|l| l == "aws.events ticker"), "{runs}");
        let log = std::fs::read_to_string(dir.join("logs").join("ticker.log"))?;
        assert_eq!(log.matches("started").count(), 1, "one process serves every run: {log}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
