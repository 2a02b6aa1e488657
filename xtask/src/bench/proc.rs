//! Running one function process under the fake Lambda Runtime API and timing it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use local::runtime_api::RuntimeApi;
use tokio::process::{Child, Command};

/// How long a process may take to reach its first `next` poll, or to answer.
const INIT_TIMEOUT: Duration = Duration::from_secs(20);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A program and how to start it: argv and the whole environment (nothing is inherited, as
/// in a Lambda sandbox).
#[derive(Debug, Clone)]
pub struct Program {
    pub argv: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Where its stdout/stderr go on runs that serve a request (`None`: discarded).
    pub log: Option<PathBuf>,
}

impl Program {
    fn command(&self, api: &RuntimeApi, log: bool) -> anyhow::Result<Command> {
        let (program, args) = self.argv.split_first().context("empty argv")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match (&self.log, log) {
            (Some(path), true) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                cmd.stdout(file.try_clone()?).stderr(file);
            }
            _ => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        Ok(cmd)
    }
}

/// Process spawn → first `GET …/invocation/next`.
pub async fn init_time(program: &Program) -> anyhow::Result<Duration> {
    let api = RuntimeApi::start().await?;
    let mut cmd = program.command(&api, false)?;
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("spawning {:?}", program.argv))?;
    let polled = until_first_poll(&api, &mut child).await;
    stop(child).await;
    Ok(polled? - started)
}

/// What one cold process did with one request.
#[derive(Debug, Clone)]
pub struct Served {
    /// Process spawn → first `next` poll.
    pub init: Duration,
    /// Process spawn → response posted.
    pub total: Duration,
    /// The function's response (an ALB response object).
    pub response: serde_json::Value,
    /// Peak resident set (`VmHWM`) after the response, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Served {
    pub fn status(&self) -> Option<u64> {
        self.response.get("statusCode").and_then(serde_json::Value::as_u64)
    }
}

/// Starts `program` cold, sends it `event` once, reads its peak RSS, stops it.
pub async fn serve_once(program: &Program, event: &serde_json::Value) -> anyhow::Result<Served> {
    let api = RuntimeApi::start().await?;
    let mut cmd = program.command(&api, true)?;
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("spawning {:?}", program.argv))?;
    let result = async {
        let polled = until_first_poll(&api, &mut child).await?;
        let response = tokio::select! {
            r = api.invoke_timeout(event.clone(), INVOKE_TIMEOUT) => r?,
            status = child.wait() => bail!("the process exited while serving ({})", describe(status)),
        };
        let total = started.elapsed();
        let peak_rss_kib = child.id().and_then(peak_rss_kib);
        Ok(Served { init: polled - started, total, response, peak_rss_kib })
    }
    .await;
    stop(child).await;
    result
}

async fn until_first_poll(api: &RuntimeApi, child: &mut Child) -> anyhow::Result<Instant> {
    tokio::select! {
        at = api.first_poll() => Ok(at),
        status = child.wait() => {
            let why = api.init_error().map(|e| format!(": {e}")).unwrap_or_default();
            bail!("the process exited before polling for an event ({}){why}", describe(status))
        }
        () = tokio::time::sleep(INIT_TIMEOUT) => bail!("no poll for an event within {INIT_TIMEOUT:?}"),
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
}

async fn stop(mut child: Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

/// `VmHWM` of `/proc/<pid>/status`: the peak resident set size so far, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `name` on `PATH`, as an absolute path.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
