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
//! Each function runs as up to `max_instances` processes ("sandboxes", see
//! [`crate::sandbox`]), each with its own Runtime API, started on the first request that
//! finds none idle (or up front with `prewarm`). A process that crashes, reports an error or
//! times out is killed and replaced by the next request. Processes get a clean environment:
//! the options' `env` plus what the Lambda sandbox sets. Their stdout and stderr go to
//! `<log_dir>/<function>.log`, and to the console with `echo_logs`.

pub mod event;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::routes;
use crate::sandbox::{Failure, Pool, PoolOptions};

/// Processes per function unless told otherwise: a laptop's share. In the cloud every
/// concurrent request meets its own Lambda instance; `cargo xtask dev --max-instances 50`
/// comes closer to that for a rush.
pub const DEFAULT_MAX_INSTANCES: usize = 4;

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
            max_instances: DEFAULT_MAX_INSTANCES,
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
            let pool_opts = PoolOptions {
                binary: opts.bin_dir.join(function),
                env: &opts.env,
                log_dir: &opts.log_dir,
                max_instances: opts.max_instances,
                deadline: opts.timeout,
                memory_mb: opts.memory_mb,
                echo_logs: opts.echo_logs,
            };
            pools.insert(function, Arc::new(Pool::new(function, &pool_opts)?));
        }

        if opts.prewarm {
            let mut warming = JoinSet::new();
            for pool in pools.values().filter(|p| p.is_built()) {
                let pool = pool.clone();
                warming.spawn(async move {
                    let outcome = pool.prewarm().await;
                    (pool, outcome)
                });
            }
            while let Some(joined) = warming.join_next().await {
                if let Ok((pool, Err(e))) = joined {
                    eprintln!("alb: warning: function `{}` failed to start: {e:#}", pool.function());
                }
            }
        }
        let missing: Vec<&str> = pools.values().filter(|p| !p.is_built()).map(|p| p.function()).collect();
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
            pool.shutdown().await;
        }
    }
}

impl Drop for Alb {
    fn drop(&mut self) {
        self.server.abort();
        for pool in self.inner.pools.values() {
            pool.kill_idle();
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
}
