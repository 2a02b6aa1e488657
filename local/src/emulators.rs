//! The emulators, each a child process: DynamoDB Local (DynamoDB, through
//! `local/dynamodb/launch.sh`), moto server (the rest of AWS) and localstripe (Stripe), both
//! started through the launchers in `local/py/`. moto and localstripe listen on loopback only;
//! DynamoDB Local cannot be told an address and listens on every interface.
//!
//! An [`Emulator`] owns its process: dropping the handle kills it (its whole process group),
//! and the launchers exit by themselves if the process that started them dies. Children run
//! in their own process group, so a Ctrl-C in the terminal reaches only `cargo xtask`, which
//! then stops them in order. Output goes to `<log_dir>/<name>.log`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::venv::Venv;

/// Default ports of `cargo xtask dev` (moto's and localstripe's own defaults).
pub const DEFAULT_MOTO_PORT: u16 = 5000;
pub const DEFAULT_STRIPE_PORT: u16 = 8420;
/// DynamoDB Local's own default.
pub const DEFAULT_DYNAMODB_PORT: u16 = 8000;

/// How to start one emulator.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// The command-line flag that chooses this port, named in the error for a busy port.
    pub port_flag: Option<String>,
    /// Directory for `<name>.log`.
    pub log_dir: PathBuf,
    /// How long to wait for the emulator to answer.
    pub ready_timeout: Duration,
}

impl EmulatorOptions {
    pub fn new(port: Option<u16>, log_dir: impl Into<PathBuf>) -> Self {
        Self { port, port_flag: None, log_dir: log_dir.into(), ready_timeout: Duration::from_secs(60) }
    }

    pub fn port_flag(mut self, flag: impl Into<String>) -> Self {
        self.port_flag = Some(flag.into());
        self
    }
}

/// A running emulator. Dropping it kills the process.
#[derive(Debug)]
pub struct Emulator {
    name: &'static str,
    port: u16,
    log: PathBuf,
    child: Child,
}

impl Emulator {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The emulator's process id (for DynamoDB Local, the JVM's), so a fault test can
    /// SIGSTOP/SIGCONT it; `None` once it has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// An error if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); its log {} ends with:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            ),
            Err(e) => Err(e).with_context(|| format!("cannot check on {}", self.name)),
        }
    }

    /// Freezes the emulator (SIGSTOP to its process group): it keeps its connections and
    /// answers nothing until [`Emulator::resume`] — a stalled service, not a dead one.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal_group(nix::sys::signal::SIGSTOP)
    }

    /// Lets a paused emulator run again (SIGCONT); what queued meanwhile is then served.
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal_group(nix::sys::signal::SIGCONT)
    }

    /// SIGTERM, then up to `grace` for it to exit (the localstripe launcher saves its state
    /// file then), then SIGKILL. The handle stays, for [`Emulator::check_running`].
    pub async fn terminate(&mut self, grace: Duration) {
        let _ = self.signal_group(nix::sys::signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            self.kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
    }

    fn signal_group(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let pid = self.child.id().with_context(|| format!("{} has exited", self.name))?;
        let pid = i32::try_from(pid).with_context(|| format!("{}'s pid {pid}", self.name))?;
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal)
            .with_context(|| format!("sending {signal} to {}", self.name))
    }

    /// Kills the emulator and waits for it to go.
    pub async fn stop(mut self) {
        self.kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            // The child leads its own process group; take anything it started with it.
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The launchers (`local/py/*.py`).
pub fn launchers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py")
}

/// Starts moto server (DynamoDB, Cognito, SES v2, EventBridge, SQS, …), in-memory, ready when
/// `GET /moto-api/` answers. Its Cognito makes and checks sign-up and password-reset codes
/// and writes them, and confirmed sign-ups, to [`cognito_events_file`] (see
/// `local/py/moto_launcher.py` and [`crate::cognito_pump`]).
pub async fn start_moto(venv: &Venv, opts: &EmulatorOptions) -> anyhow::Result<Emulator> {
    let events = cognito_events_file(opts);
    std::fs::create_dir_all(&opts.log_dir)
        .with_context(|| format!("cannot create the log directory {}", opts.log_dir.display()))?;
    std::fs::write(&events, "").with_context(|| format!("cannot create {}", events.display()))?;
    let events = events.display().to_string();
    start(venv, "moto", "moto_launcher.py", "/moto-api/", opts, &["--cognito-events", &events]).await
}

/// Where the moto started with `opts` writes Cognito's codes and confirmations.
pub fn cognito_events_file(opts: &EmulatorOptions) -> PathBuf {
    opts.log_dir.join("cognito-events.jsonl")
}

/// Starts localstripe, in-memory and on loopback only (see `local/py/localstripe_launcher.py`).
/// Its API base for Stripe clients is `<url>/`.
pub async fn start_localstripe(venv: &Venv, opts: &EmulatorOptions) -> anyhow::Result<Emulator> {
    start_localstripe_with_state(venv, opts, None).await
}

/// [`start_localstripe`], and with `state_file` its objects survive a restart: loaded from
/// the file at start, saved to it when [`Emulator::terminate`] stops it.
pub async fn start_localstripe_with_state(
    venv: &Venv,
    opts: &EmulatorOptions,
    state_file: Option<&Path>,
) -> anyhow::Result<Emulator> {
    let state = state_file.map(|p| p.display().to_string());
    let args: Vec<&str> = match &state {
        Some(path) => vec!["--state-file", path],
        None => Vec::new(),
    };
    start(venv, "localstripe", "localstripe_launcher.py", "/v1/customers", opts, &args).await
}

/// Starts DynamoDB Local (installing it first if needed, see [`crate::dynamodb_local`]):
/// in memory, one database for every access key and region (`-sharedDb`), no telemetry.
/// Ready when it answers HTTP.
///
/// It has no option to choose its address: it listens on EVERY interface, not only on
/// loopback. Never give it a port that a network can reach.
pub async fn start_dynamodb_local(opts: &EmulatorOptions) -> anyhow::Result<Emulator> {
    let name = "dynamodb-local";
    let port = choose_port(name, opts)?;
    let dir = tokio::task::spawn_blocking(crate::dynamodb_local::ensure_installed)
        .await
        .context("the DynamoDB Local install task panicked")??;
    if !on_path("java") {
        bail!(
            "`java` is not on PATH: DynamoDB Local needs Java 17+ (Debian: `apt-get install openjdk-17-jre-headless`)"
        );
    }
    let mut cmd = Command::new("sh");
    cmd.arg(crate::dynamodb_local::launcher()).arg(&dir).arg(port.to_string());
    let emulator = spawn(name, port, cmd, opts).await?;
    wait_ready(emulator, "/", opts).await
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

async fn start(
    venv: &Venv,
    name: &'static str,
    launcher: &str,
    ready_path: &str,
    opts: &EmulatorOptions,
    args: &[&str],
) -> anyhow::Result<Emulator> {
    let port = choose_port(name, opts)?;
    let script = launchers_dir().join(launcher);
    let mut cmd = Command::new(venv.python());
    cmd.arg(&script)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PATH", venv.path_env());
    let emulator = spawn(name, port, cmd, opts).await?;
    wait_ready(emulator, ready_path, opts).await
}

fn choose_port(name: &str, opts: &EmulatorOptions) -> anyhow::Result<u16> {
    match opts.port {
        Some(port) => {
            ensure_port_free(port, name, opts.port_flag.as_deref())?;
            Ok(port)
        }
        None => free_port(),
    }
}

/// Runs `cmd` in its own process group with its output in `<log_dir>/<name>.log`.
async fn spawn(name: &'static str, port: u16, mut cmd: Command, opts: &EmulatorOptions) -> anyhow::Result<Emulator> {
    std::fs::create_dir_all(&opts.log_dir)
        .with_context(|| format!("cannot create the log directory {}", opts.log_dir.display()))?;
    let log = opts.log_dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone().with_context(|| format!("cannot open {}", log.display()))?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name} ({:?})", cmd.as_std()))?;
    Ok(Emulator { name, port, log, child })
}

async fn wait_ready(mut emulator: Emulator, ready_path: &str, opts: &EmulatorOptions) -> anyhow::Result<Emulator> {
    let (name, port) = (emulator.name, emulator.port);
    let deadline = Instant::now() + opts.ready_timeout;
    loop {
        emulator.check_running()?;
        if http_status(port, ready_path).await.is_ok() {
            return Ok(emulator);
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} did not answer on 127.0.0.1:{port} within {:?}; its log {} ends with:\n{}",
                opts.ready_timeout,
                emulator.log.display(),
                log_tail(&emulator.log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port on 127.0.0.1 that was free a moment ago, and that this process has not handed out
/// before: the kernel may give a just-released port again, and two emulators started one
/// after the other would then both be told to take it.
pub fn free_port() -> anyhow::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port on 127.0.0.1")?;
        let port = listener.local_addr().context("cannot read a bound port")?.port();
        let mut handed = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed.contains(&port) {
            handed.push(port);
            return Ok(port);
        }
    }
    bail!("no port on 127.0.0.1 this process has not handed out already")
}

/// A clear error if `port` is taken on 127.0.0.1, naming `what` needed it and how to choose
/// another (`flag`).
pub fn ensure_port_free(port: u16, what: &str, flag: Option<&str>) -> anyhow::Result<()> {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let hint = match flag {
                Some(flag) => format!(
                    "stop whatever holds it (another `cargo xtask dev`?) or choose another port with `{flag} <port>`"
                ),
                None => "stop whatever holds it (another `cargo xtask dev`?) or choose another port".to_owned(),
            };
            bail!(
                "port {port} on 127.0.0.1, wanted for {what}, is already in use: {hint} (`ss -ltnp 'sport = :{port}'` shows who has it)"
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot bind 127.0.0.1:{port} for {what}")),
    }
}

/// The status code of `GET <path>` on 127.0.0.1:`port`: a minimal probe for readiness
/// checks, with no HTTP client dependency.
pub async fn http_status(port: u16, path: &str) -> anyhow::Result<u16> {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 64];
        let mut len = 0;
        while len < 12 {
            let n = stream.read(&mut head[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
        }
        anyhow::Ok(String::from_utf8_lossy(&head[..len]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(2), probe).await.context("timed out")??;
    head.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {head:?}"))
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() { "(empty)".to_owned() } else { tail }
}

#[cfg(test)]
mod tests {

    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap_or_default()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        assert!(!ports.contains(&0));
    }
    use super::*;

    #[test]
    fn a_busy_port_is_a_clear_error_naming_the_flag_to_change_it() {
        let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = ensure_port_free(port, "the local ALB", Some("--port")).unwrap_err().to_string();
        assert!(err.contains(&format!("port {port}")), "{err}");
        assert!(err.contains("the local ALB") && err.contains("--port <port>"), "{err}");
        drop(held);
        assert!(ensure_port_free(port, "the local ALB", Some("--port")).is_ok());
    }

    #[tokio::test]
    async fn dynamodb_local_on_a_busy_port_is_a_clear_error_naming_its_flag() {
        let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let log_dir = std::env::temp_dir().join(format!("mm-emulators-test-{}", std::process::id()));
        let opts = EmulatorOptions::new(Some(port), &log_dir).port_flag("--dynamodb-port");
        let err = start_dynamodb_local(&opts).await.unwrap_err().to_string();
        assert!(err.contains(&format!("port {port}")), "{err}");
        assert!(err.contains("dynamodb-local") && err.contains("--dynamodb-port <port>"), "{err}");
    }
}
