//! The cold-path peers: the same `GET /products/{id}` in Node.js 20 (AWS SDK v3) and Python
//! 3.11 (boto3), from `bench/peers/`, made runnable in `.local/bench/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::Command;

const NPM_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Copies the Node peer to `<work>/node` and installs its locked dependencies there (again
/// only when the lock file changed). Returns the argv to run it.
pub async fn node(root: &Path, work: &Path) -> anyhow::Result<(Vec<PathBuf>, String)> {
    let node = super::proc::which("node").context("`node` is not on PATH (Node.js 20 is needed for the peer)")?;
    let version = output(&node, &["--version"]).await?;
    if !version.starts_with("v20.") {
        eprintln!("bench: warning: the Node peer should run on Node.js 20; found {version}");
    }
    let npm = super::proc::which("npm").context("`npm` is not on PATH")?;
    let src = root.join("bench/peers/node");
    let dir = work.join("node");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in ["package.json", "package-lock.json", "index.mjs"] {
        std::fs::copy(src.join(file), dir.join(file))
            .with_context(|| format!("copying {file} to {}", dir.display()))?;
    }
    let lock = std::fs::read(dir.join("package-lock.json"))?;
    let marker = dir.join("node_modules/.bench-installed-lock");
    if std::fs::read(&marker).ok().as_deref() != Some(lock.as_slice()) {
        eprintln!("bench: npm ci in {}", dir.display());
        let mut cmd = Command::new(&npm);
        cmd.current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .stdin(Stdio::null())
            // stdout carries the report; npm's chatter goes with the other progress, to stderr.
            .stdout(Stdio::from(std::io::stderr()))
            .kill_on_drop(true);
        match tokio::time::timeout(NPM_TIMEOUT, cmd.status()).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => bail!("npm ci failed ({s}) in {}", dir.display()),
            Ok(Err(e)) => return Err(e).context("running npm ci"),
            Err(_) => bail!("npm ci did not finish within {NPM_TIMEOUT:?}"),
        }
        std::fs::write(&marker, &lock)?;
    }
    Ok((vec![node, dir.join("index.mjs")], format!("Node.js {version}")))
}

/// The Python peer, run by the bench venv's interpreter (boto3 pinned in
/// `bench/requirements.txt`).
pub async fn python(root: &Path, python: &Path) -> anyhow::Result<(Vec<PathBuf>, String)> {
    let version =
        output(python, &["-c", "import platform, boto3; print(platform.python_version(), 'boto3', boto3.__version__)"])
            .await?;
    Ok((vec![python.to_owned(), root.join("bench/peers/python/handler.py")], format!("Python {version}")))
}

pub async fn output(program: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(program).args(args).stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .with_context(|| format!("{} {args:?} timed out", program.display()))?
    .with_context(|| format!("running {}", program.display()))?;
    if !out.status.success() {
        bail!("{} {args:?} failed: {}", program.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
