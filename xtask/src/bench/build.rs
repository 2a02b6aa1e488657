//! Release builds: x86_64 native with `cargo build`, arm64 with `cargo lambda build`, one
//! package per invocation (a per-package build unifies fewer features, so binaries are
//! smaller — what a per-function deployment gets).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::Command;

const BUILD_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// The Cargo target directory in use (`CARGO_TARGET_DIR`, else `<root>/target`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { root.join(d) }
        })
        .unwrap_or_else(|| root.join("target"))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `cargo build --release -p <package>`; returns the binary.
pub async fn x86_64(root: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).args(["build", "--release", "-p", package]);
    run(cmd, &format!("cargo build --release -p {package}")).await?;
    let bin = target_dir(root).join("release").join(package);
    anyhow::ensure!(bin.is_file(), "the build of {package} left no binary at {}", bin.display());
    Ok(bin)
}

/// `cargo lambda build --release --arm64 -p <package>` with `venv_bin` (cargo-lambda and
/// zig) first on `PATH`; returns the `bootstrap`.
pub async fn arm64(root: &Path, package: &str, path_env: &std::ffi::OsStr) -> anyhow::Result<PathBuf> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).env("PATH", path_env).args(["lambda", "build", "--release", "--arm64", "-p", package]);
    run(cmd, &format!("cargo lambda build --release --arm64 -p {package}")).await?;
    let bootstrap = target_dir(root).join("lambda").join(package).join("bootstrap");
    anyhow::ensure!(bootstrap.is_file(), "cargo lambda left no bootstrap at {}", bootstrap.display());
    Ok(bootstrap)
}

async fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    eprintln!("bench: {what}");
    // Cargo's progress goes straight to the terminal (stderr: stdout carries the report).
    cmd.stdin(Stdio::null()).stdout(Stdio::from(std::io::stderr())).stderr(Stdio::inherit()).kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    match tokio::time::timeout(BUILD_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => bail!("{what} failed ({status})"),
        Ok(Err(e)) => Err(e).with_context(|| format!("waiting for {what}")),
        Err(_) => {
            let _ = child.kill().await;
            bail!("{what} did not finish within {BUILD_TIMEOUT:?}")
        }
    }
}
