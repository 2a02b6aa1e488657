//! A local Application Load Balancer: an HTTP server on loopback that routes each request
//! with the listener rules in [`crate::routes`], turns it into the event a real ALB sends a
//! Lambda target (see [`event`]), runs the function's real binary against a fake Lambda
//! Runtime API ([`crate::runtime_api`]), and turns its result back into HTTP.
//!
//! What it does like ALB:
//! * no matching rule → the listener's default action, forwarding to the
//!   [`routes::DEFAULT_FUNCTION`] (a problem+json 405 with `Allow` on a path the route
//!   table serves with other methods, else 404);
//! * request body over 1 MiB → 413; function crash, error, or malformed or oversized
//!   response → 502; no response within the timeout → 504 (ALB's own HTML error pages);
//! * adds `x-amzn-trace-id`, `x-forwarded-for`, `x-forwarded-proto`, `x-forwarded-port`.
//!
//! Each function runs as up to `max_instances` processes ("sandboxes"), each with its own
//! Runtime API, started on the first request that finds none idle (or up front with
//! `prewarm`). A process that crashes, reports an error or times out is killed and replaced
//! by the next request. Processes get a clean environment: the options' `env` plus what the
//! Lambda sandbox sets (`AWS_LAMBDA_FUNCTION_NAME`, `…_MEMORY_SIZE`, `…_VERSION`,
//! `…_LOG_STREAM_NAME`, `…_LOG_GROUP_NAME`, `AWS_LAMBDA_RUNTIME_API`, `TZ`). Their stdout
//! and stderr go to `<log_dir>/<function>.log`, and to the console with `echo_logs`.

pub mod event;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::routes;
use crate::runtime_api::{FunctionError, RuntimeApi};

/// How to run the local ALB.
#[derive(Debug, Clone)]
pub struct AlbOptions {
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// The command-line flag that chooses the port, named in the error for a busy port.
    pub port_flag: Option<String>,
    /// The region in target group ARNs (the functions' `AWS_REGION` comes from `env`).
    pub region: String,
    /// Where the function binaries are (`<target>/debug`): `<bin_dir>/<function>`.
    pub bin_dir: PathBuf,
    /// Environment of every function process, on top of the Lambda sandbox variables.
    pub env: Vec<(String, String)>,
    /// Directory for `<function>.log`.
    pub log_dir: PathBuf,
    /// Concurrent processes per function; requests beyond wait for one to be free.
    pub max_instances: usize,
    /// Per request, from arrival to the function's response (including waiting for a free
    /// process and starting one).
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (informational here: nothing is limited).
    pub memory_mb: u32,
    /// Start one process per built function before serving, and report init failures now.
    pub prewarm: bool,
    /// Copy function output to stderr, prefixed with `[function#n]`.
    pub echo_logs: bool,
    /// Print one line per request to stderr.
    pub access_log: bool,
}

impl AlbOptions {
    pub fn new(bin_dir: impl Into<PathBuf>, log_dir: impl Into<PathBuf>, region: impl Into<String>) -> Self {
        Self {
            port: None,
            port_flag: None,
            region: region.into(),
            bin_dir: bin_dir.into(),
            env: Vec::new(),
            log_dir: log_dir.into(),
            max_instances: 4,
            timeout: Duration::from_secs(30),
            memory_mb: 256,
            prewarm: false,
            echo_logs: false,
            access_log: false,
        }
    }
}

/// The running ALB. Dropping it stops the server and kills every function process.
pub struct Alb {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Alb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alb").field("addr", &self.addr).finish_non_exhaustive()
    }
}

struct Inner {
    pools: HashMap<&'static str, Arc<Pool>>,
    origin_port: u16,
    region: String,
    timeout: Duration,
    access_log: bool,
}

impl Alb {
    /// Binds the port, prepares a pool per routed function and starts serving.
    pub async fn start(opts: AlbOptions) -> anyhow::Result<Alb> {
        let listener = bind(opts.port, opts.port_flag.as_deref()).await?;
        let addr = listener.local_addr().context("cannot read the ALB's address")?;
        std::fs::create_dir_all(&opts.log_dir)
            .with_context(|| format!("cannot create the log directory {}", opts.log_dir.display()))?;

        let mut pools = HashMap::new();
        for function in routes::functions() {
            if pools.contains_key(function) {
                continue;
            }
            let log_path = opts.log_dir.join(format!("{function}.log"));
            let file = File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
            let pool = Pool {
                function,
                binary: opts.bin_dir.join(function),
                env: sandbox_env(function, &opts),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(opts.max_instances.max(1)),
                next_instance: AtomicU64::new(0),
                log: Arc::new(LogSink { file: Mutex::new(file), echo: opts.echo_logs }),
                deadline: opts.timeout,
            };
            pools.insert(function, Arc::new(pool));
        }

        if opts.prewarm {
            let mut warming = JoinSet::new();
            for pool in pools.values().filter(|p| p.binary.exists()) {
                let pool = pool.clone();
                warming.spawn(async move { (pool.function, pool.prewarm().await) });
            }
            while let Some(joined) = warming.join_next().await {
                if let Ok((function, Err(e))) = joined {
                    eprintln!("alb: warning: function `{function}` failed to start: {e:#}");
                }
            }
        }
        let missing: Vec<&str> = pools.values().filter(|p| !p.binary.exists()).map(|p| p.function).collect();
        if !missing.is_empty() {
            eprintln!(
                "alb: warning: not built, their routes will answer 502: {} (looked in {})",
                missing.join(", "),
                opts.bin_dir.display()
            );
        }

        let inner = Arc::new(Inner {
            pools,
            origin_port: addr.port(),
            region: opts.region.clone(),
            timeout: opts.timeout,
            access_log: opts.access_log,
        });
        let server = tokio::spawn(serve(listener, inner.clone()));
        Ok(Alb { addr, inner, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and kills every function process, waiting for them to exit.
    pub async fn shutdown(self) {
        self.server.abort();
        for pool in self.inner.pools.values() {
            let idle = std::mem::take(&mut *pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            for mut instance in idle {
                instance.kill();
                let _ = tokio::time::timeout(Duration::from_secs(2), instance.child.wait()).await;
            }
        }
    }
}

impl Drop for Alb {
    fn drop(&mut self) {
        self.server.abort();
        for pool in self.inner.pools.values() {
            // Dropping an instance kills its process (`kill_on_drop`).
            pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
    }
}

async fn bind(port: Option<u16>, flag: Option<&str>) -> anyhow::Result<TcpListener> {
    let port_wanted = port.unwrap_or(0);
    match TcpListener::bind(("127.0.0.1", port_wanted)).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let hint = flag.map(|f| format!(" or choose another port with `{f} <port>`")).unwrap_or_default();
            bail!(
                "port {port_wanted} on 127.0.0.1, wanted for the API (local ALB), is already in use: stop whatever holds it (another `cargo xtask dev`?){hint} (`ss -ltnp 'sport = :{port_wanted}'` shows who has it)"
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot bind 127.0.0.1:{port_wanted} for the local ALB")),
    }
}

fn sandbox_env(function: &str, opts: &AlbOptions) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("TZ".into(), ":UTC".into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), opts.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{function}")),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
    ];
    env.extend(opts.env.iter().cloned());
    env
}

async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    // Connections live in this set, so aborting the server closes them (and drops any
    // function process in use by a request) too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, remote)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let inner = inner.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, Infallible>(handle(&inner, remote, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(inner: &Inner, remote: SocketAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let target = req.uri().path_and_query().map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let function = routes::function_for(method.as_str(), &path);
    let response = forward(inner, function, remote, req, &target).await;
    if inner.access_log {
        eprintln!(
            "alb: {method} {target} → {function} {} in {} ms",
            response.status().as_u16(),
            started.elapsed().as_millis()
        );
    }
    response
}

async fn forward(
    inner: &Inner,
    function: &'static str,
    remote: SocketAddr,
    req: Request<Incoming>,
    target: &str,
) -> Response<Full<Bytes>> {
    let declared_len =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|len| len > event::MAX_REQUEST_BODY as u64) {
        return alb_error(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, event::MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return alb_error(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(_) => return alb_error(StatusCode::BAD_REQUEST),
    };
    let origin = event::Origin { client: remote, listener_port: inner.origin_port, region: inner.region.clone() };
    let event = event::request_event(function, &parts.method, target, &parts.headers, &body, &origin);

    let Some(pool) = inner.pools.get(function) else {
        eprintln!("alb: 502 for {} {target}: no pool for function `{function}`", parts.method);
        return alb_error(StatusCode::BAD_GATEWAY);
    };
    // In a task of its own, so a client that hangs up does not cancel the invocation midway
    // (and with it the process): like Lambda, the function finishes its work regardless.
    let invocation = tokio::spawn({
        let pool = pool.clone();
        let timeout = inner.timeout;
        async move { pool.invoke(event, timeout).await }
    });
    let outcome = invocation.await.unwrap_or_else(|e| Err(Failure::Failed(format!("the invocation task failed: {e}"))));
    let result = match outcome {
        Ok(result) => result,
        Err(Failure::TimedOut) => {
            eprintln!("alb: 504 for {} {target}: `{function}` did not answer within {:?}", parts.method, inner.timeout);
            return alb_error(StatusCode::GATEWAY_TIMEOUT);
        }
        Err(Failure::Failed(why)) => {
            eprintln!("alb: 502 for {} {target}: {why} (log: {})", parts.method, pool.log_hint());
            return alb_error(StatusCode::BAD_GATEWAY);
        }
    };
    match event::target_response(&result) {
        Ok(decoded) => {
            let mut response = Response::new(Full::new(Bytes::from(decoded.body)));
            *response.status_mut() = decoded.status;
            *response.headers_mut() = decoded.headers;
            if let Some(reason) = decoded.reason.filter(|r| Some(r.as_str()) != decoded.status.canonical_reason())
                && let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason)
            {
                response.extensions_mut().insert(reason);
            }
            response
        }
        Err(e) => {
            eprintln!("alb: 502 for {} {target}: `{function}` returned a malformed response: {e:#}", parts.method);
            alb_error(StatusCode::BAD_GATEWAY)
        }
    }
}

/// ALB's own error page (`<html>…<h1>502 Bad Gateway</h1>…`).
fn alb_error(status: StatusCode) -> Response<Full<Bytes>> {
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response.headers_mut().insert("server", HeaderValue::from_static("awselb/2.0"));
    response
}

enum Failure {
    /// ALB: 502.
    Failed(String),
    /// ALB: 504.
    TimedOut,
}

/// The processes ("sandboxes") of one function.
struct Pool {
    function: &'static str,
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
    fn log_hint(&self) -> String {
        format!("{}.log", self.function)
    }

    async fn invoke(&self, event: serde_json::Value, timeout: Duration) -> Result<serde_json::Value, Failure> {
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
    async fn prewarm(&self) -> anyhow::Result<()> {
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
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A stand-in function binary speaking the Runtime API: `health` answers with the event
    /// and its Lambda environment; `get-me` crashes on its first event.
    const FAKE_FUNCTION: &str = r#"
import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    if os.path.basename(sys.argv[0]) == "get-me":
        sys.exit(3)
    lambda_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_LAMBDA_")}
    body = json.dumps({"event": event, "env": lambda_env})
    result = {"statusCode": 200, "statusDescription": "200 OK", "headers": {"content-type": "application/json"},
              "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}, "body": body, "isBase64Encoded": False}
    req = urllib.request.Request(api + request_id + "/response", data=json.dumps(result).encode(), method="POST")
    urllib.request.urlopen(req).read()
"#;

    async fn http(addr: SocketAddr, request: &str) -> anyhow::Result<(u16, String, String)> {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
        let status = head.get(9..12).and_then(|s| s.parse().ok()).context("no status")?;
        Ok((status, head.to_ascii_lowercase(), body.to_owned()))
    }

    #[tokio::test]
    async fn requests_reach_function_processes_as_alb_events() -> anyhow::Result<()> {
        let out = std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output()?;
        let python = String::from_utf8(out.stdout)?.trim().to_owned();
        let dir = std::env::temp_dir().join(format!("mm-alb-test-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)?;
        for name in ["health", "get-me", routes::DEFAULT_FUNCTION] {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!{python}\n{FAKE_FUNCTION}"))?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        }
        let mut opts = AlbOptions::new(&dir, dir.join("logs"), "eu-west-1");
        opts.env = vec![("TABLE_NAME".into(), "t".into())];
        opts.timeout = Duration::from_secs(20);
        let alb = Alb::start(opts).await?;
        let addr = alb.addr();

        let (status, head, body) = http(
            addr,
            "GET /health?q=blue%20mug&n=1&n=2 HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nX-Dup: 2\r\nConnection: close\r\n\r\n",
        )
        .await?;
        assert_eq!(status, 200, "{head}\n{body}");
        assert_eq!(head.matches("set-cookie:").count(), 2, "{head}");
        let seen: serde_json::Value = serde_json::from_str(&body)?;
        let event = &seen["event"];
        assert_eq!(event["path"], "/health");
        assert_eq!(event["queryStringParameters"], serde_json::json!({"q": "blue%20mug", "n": "2"}));
        assert_eq!(event["headers"]["x-dup"], "2");
        assert_eq!(event["headers"]["x-forwarded-port"], addr.port().to_string());
        assert_eq!(seen["env"]["AWS_LAMBDA_FUNCTION_NAME"], "health");
        assert_eq!(seen["env"]["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");

        let (status, _, body) = http(addr, "PUT /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
        assert_eq!(status, 200, "the default action's function answers: {body}");
        let seen: serde_json::Value = serde_json::from_str(&body)?;
        assert_eq!(
            (seen["event"]["httpMethod"].as_str(), seen["event"]["path"].as_str()),
            (Some("PUT"), Some("/nope"))
        );
        assert_eq!(seen["env"]["AWS_LAMBDA_FUNCTION_NAME"], routes::DEFAULT_FUNCTION);

        let crash = "GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(http(addr, crash).await?.0, 502, "a crash is a 502");
        assert_eq!(http(addr, crash).await?.0, 502, "and the function is started again");

        let unbuilt = "GET /products HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(http(addr, unbuilt).await?.0, 502);

        let too_big = "POST /products HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n";
        assert_eq!(http(addr, too_big).await?.0, 413);

        alb.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn log_streams_are_dated_like_lambdas() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let name = log_stream_name();
        assert!(name.contains("/[$LATEST]") && name.len() == "2025/11/26/[$LATEST]".len() + 32, "{name}");
    }
}
