//! Function processes ("sandboxes"), shared by the local ALB ([`crate::alb`]) and the
//! scheduler ([`crate::scheduler`]): a [`Pool`] runs one function's real binary as up to
//! `max_instances` processes, each against its own fake Lambda Runtime API
//! ([`crate::runtime_api`]), started on the first invocation that finds none idle (or up
//! front with [`Pool::prewarm`]). A process that crashes, reports an error or times out is
//! killed and replaced by the next invocation. Processes get a clean environment: the given
//! `env` plus what the Lambda sandbox sets (`AWS_LAMBDA_FUNCTION_NAME`, `…_MEMORY_SIZE`,
//! `…_VERSION`, `…_LOG_STREAM_NAME`, `…_LOG_GROUP_NAME`, `AWS_LAMBDA_RUNTIME_API`, `TZ`).
//! Their stdout and stderr go to `<log_dir>/<function>.log`, and to the console with `echo`.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

use crate::runtime_api::{FunctionError, RuntimeApi};

/// How to run one function's processes.
#[derive(Debug, Clone)]
pub(crate) struct PoolOptions<'a> {
    /// The function's binary (`<bin_dir>/<function>`).
    pub binary: PathBuf,
    /// Environment on top of the Lambda sandbox variables.
    pub env: &'a [(String, String)],
    /// Directory for `<function>.log`.
    pub log_dir: &'a Path,
    pub max_instances: usize,
    /// The deadline the Runtime API advertises (`Lambda-Runtime-Deadline-Ms`).
    pub deadline: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (informational here: nothing is limited).
    pub memory_mb: u32,
    /// Copy function output to stderr, prefixed with `[function#n]`.
    pub echo_logs: bool,
}

/// The Lambda sandbox's own variables, then `extra`.
fn sandbox_env(function: &str, memory_mb: u32, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("TZ".into(), ":UTC".into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{function}")),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
    ];
    env.extend(extra.iter().cloned());
    env
}

pub(crate) enum Failure {
    /// ALB: 502.
    Failed(String),
    /// ALB: 504.
    TimedOut,
}

/// The processes ("sandboxes") of one function.
pub(crate) struct Pool {
    function: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    idle: Mutex<Vec<Instance>>,
    permits: Semaphore,
    next_instance: AtomicU64,
    log: Arc<LogSink>,
    /// The deadline the Runtime API advertises (`Lambda-Runtime-Deadline-Ms`).
    deadline: Duration,
}

struct Instance {
    n: u64,
    api: RuntimeApi,
    child: Child,
}

impl Instance {
    /// Kills the process and anything it started (it leads its own process group).
    fn kill(&mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Pool {
    /// A pool with no process yet; creates (truncates) `<log_dir>/<function>.log`.
    pub(crate) fn new(function: &str, opts: &PoolOptions<'_>) -> anyhow::Result<Pool> {
        let log_path = opts.log_dir.join(format!("{function}.log"));
        let file = File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        Ok(Pool {
            function: function.to_owned(),
            binary: opts.binary.clone(),
            env: sandbox_env(function, opts.memory_mb, opts.env),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(opts.max_instances.max(1)),
            next_instance: AtomicU64::new(0),
            log: Arc::new(LogSink { file: Mutex::new(file), echo: opts.echo_logs }),
            deadline: opts.deadline,
        })
    }

    /// A pool with its process started and its init checked now, as the scheduler and the
    /// stream pump want it: a binary that is not built, or fails its init, is reported on
    /// stderr as a warning of `who`'s, and tried again on the first invocation.
    pub(crate) async fn started(who: &str, function: &str, opts: &PoolOptions<'_>) -> anyhow::Result<Arc<Pool>> {
        let pool = Arc::new(Pool::new(function, opts)?);
        if !pool.is_built() {
            eprintln!(
                "{who}: warning: `{function}` is not built (looked for {}); its invocations will fail",
                opts.binary.display()
            );
        } else if let Err(e) = pool.prewarm().await {
            eprintln!("{who}: warning: function `{function}` failed to start: {e:#}");
        }
        Ok(pool)
    }

    pub(crate) fn function(&self) -> &str {
        &self.function
    }

    /// Whether the binary exists (a missing one fails every invocation).
    pub(crate) fn is_built(&self) -> bool {
        self.binary.exists()
    }

    /// Kills every idle process and waits (briefly) for each to exit.
    pub(crate) async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for mut instance in idle {
            instance.kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), instance.child.wait()).await;
        }
    }

    /// Kills every idle process without waiting (for `Drop`).
    pub(crate) fn kill_idle(&self) {
        // Dropping an instance kills its process (`kill_on_drop`).
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    pub(crate) fn log_hint(&self) -> String {
        format!("{}.log", self.function)
    }

    pub(crate) async fn invoke(
        &self,
        event: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, Failure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let _permit = match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
            Err(_) => return Err(Failure::TimedOut),
            Ok(Err(_)) => return Err(Failure::Failed("the function pool is closed".into())),
            Ok(Ok(permit)) => permit,
        };
        let mut instance = match self.take_idle() {
            Some(instance) => instance,
            None => {
                self.spawn().await.map_err(|e| Failure::Failed(format!("cannot start `{}`: {e:#}", self.function)))?
            }
        };
        let name = format!("{}#{}", self.function, instance.n);
        enum Ended {
            Answered(anyhow::Result<serde_json::Value>),
            Exited(std::io::Result<std::process::ExitStatus>),
            TimedOut,
        }
        let ended = tokio::select! {
            answer = instance.api.invoke(event) => Ended::Answered(answer),
            status = instance.child.wait() => Ended::Exited(status),
            () = tokio::time::sleep_until(deadline) => Ended::TimedOut,
        };
        match ended {
            Ended::Answered(Ok(response)) => {
                self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(instance);
                Ok(response)
            }
            Ended::Answered(Err(e)) => {
                let what = match e.downcast_ref::<FunctionError>() {
                    Some(err) => err.to_string(),
                    None => format!("{e:#}"),
                };
                self.log.line(&name, &format!("--- {name} failed: {what}; stopping it ---"));
                Err(Failure::Failed(format!("`{name}` failed: {what}")))
            }
            Ended::Exited(status) => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                self.log.line(&name, &format!("--- {name} exited during an invocation ({status}) ---"));
                Err(Failure::Failed(format!("`{name}` crashed ({status})")))
            }
            Ended::TimedOut => {
                self.log.line(&name, &format!("--- {name} timed out after {timeout:?}; stopping it ---"));
                Err(Failure::TimedOut)
            }
        }
    }

    /// An idle process that is still alive, if any.
    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(mut instance) = idle.pop() {
            match instance.child.try_wait() {
                Ok(None) => return Some(instance),
                Ok(Some(status)) => {
                    let name = format!("{}#{}", self.function, instance.n);
                    self.log.line(&name, &format!("--- {name} exited while idle ({status}) ---"));
                }
                Err(_) => {}
            }
        }
        None
    }

    async fn spawn(&self) -> anyhow::Result<Instance> {
        if !self.binary.exists() {
            bail!("it is not built: {} is missing (run `cargo build -p {}`)", self.binary.display(), self.function);
        }
        let api = RuntimeApi::start_with_deadline(self.deadline).await?;
        let n = self.next_instance.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("{}#{n}", self.function);
        let mut child = Command::new(&self.binary)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        self.log.line(&name, &format!("--- {name} started (pid {}) ---", child.id().unwrap_or(0)));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pipe_lines(out, name.clone(), self.log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pipe_lines(err, name, self.log.clone()));
        }
        Ok(Instance { n, api, child })
    }

    /// Starts one process and waits until it polls for work.
    pub(crate) async fn prewarm(&self) -> anyhow::Result<()> {
        let mut instance = self.spawn().await?;
        tokio::select! {
            _ = instance.api.first_poll() => {}
            status = instance.child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                bail!("it exited during init ({status}); see {}", self.log_hint());
            }
            () = tokio::time::sleep(Duration::from_secs(20)) => bail!("it did not poll for work within 20 s"),
        }
        if let Some(err) = instance.api.init_error() {
            bail!("{err}");
        }
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(instance);
        Ok(())
    }
}

/// `2026/11/26/[$LATEST]<32 hex>`, like Lambda's.
fn log_stream_name() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days(i64::try_from(now / 86_400).unwrap_or(0));
    format!("{y:04}/{m:02}/{d:02}/[$LATEST]{:032x}", ulid::Ulid::new().0)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One function's log file (and optionally the console).
struct LogSink {
    file: Mutex<File>,
    echo: bool,
}

impl LogSink {
    fn line(&self, who: &str, text: &str) {
        {
            let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{text}");
        }
        if self.echo {
            eprintln!("[{who}] {text}");
        }
    }
}

async fn pipe_lines(stream: impl AsyncRead + Unpin, who: String, log: Arc<LogSink>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.line(&who, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_streams_are_dated_like_lambdas() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let name = log_stream_name();
        assert!(name.contains("/[$LATEST]") && name.len() == "2025/11/26/[$LATEST]".len() + 32, "{name}");
    }
}
