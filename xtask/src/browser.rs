//! The browser step of `cargo xtask test`: Playwright (`browser/`, pinned by its lockfile)
//! driving Debian's Chromium through the web shop on a fresh local stack, with a short
//! delivery dwell so that an order reaches "delivered" within a test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use local::venv::Venv;

use crate::cli;
use crate::stack::{self, Stack, StackOptions};

/// Debian's Chromium; `CHROMIUM_PATH` names another.
pub fn chromium() -> String {
    std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Installs the pinned packages of `browser/` (`npm ci`) unless they are there already.
pub fn ensure_packages(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("browser");
    let lock = std::fs::read(dir.join("package-lock.json")).context("browser/package-lock.json is missing")?;
    let installed = std::fs::read(dir.join("node_modules").join(".package-lock.json")).unwrap_or_default();
    // npm writes the installed tree's lock; it lists the same packages as the lockfile.
    let same = !installed.is_empty() && {
        let want: serde_json::Value = serde_json::from_slice(&lock).unwrap_or_default();
        let have: serde_json::Value = serde_json::from_slice(&installed).unwrap_or_default();
        let names = |v: &serde_json::Value| {
            v["packages"].as_object().map(|p| p.keys().filter(|k| !k.is_empty()).cloned().collect::<Vec<_>>())
        };
        names(&want) == names(&have)
    };
    if same {
        return Ok(());
    }
    eprintln!("xtask: installing the browser tests' packages (npm ci in {}) …", dir.display());
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir);
    cli::run(&mut cmd, "npm ci in browser/")
}

pub async fn browser_tests(root: &Path, venv: &Venv, work_dir: &Path, max_instances: usize) -> anyhow::Result<()> {
    let chromium = chromium();
    if !Path::new(&chromium).is_file() {
        bail!(
            "Chromium is missing at {chromium}: install Debian's package (`apt-get install chromium`); the browser tests never download a browser"
        );
    }
    ensure_packages(root)?;
    let bin_dir = cli::build_functions(root)?;
    let log_dir = work_dir.join("browser-logs");
    // An order goes from paid to delivered in about 16 s, and can be cancelled for the
    // first 8.
    let opts = StackOptions {
        delivery_dwell: Some(Duration::from_secs(4)),
        max_instances,
        ..StackOptions::on_free_ports(bin_dir, log_dir.clone())
    };
    let stack = Stack::up(venv, &opts).await?;
    eprintln!("xtask: stack up at {} (function logs in {})", stack.info.api_url, log_dir.display());
    let stack_file = work_dir.join("browser-stack.json");
    let outcome = match stack::write_stack_file(&stack_file, &stack.info) {
        Ok(()) => {
            let mut cmd = tokio::process::Command::new(root.join("browser/node_modules/.bin/playwright"));
            cmd.arg("test")
                .current_dir(root.join("browser"))
                .env("STACK_FILE", &stack_file)
                .env("CHROMIUM_PATH", &chromium)
                .kill_on_drop(true);
            match tokio::time::timeout(Duration::from_secs(20 * 60), cmd.status()).await {
                Err(_) => Err(anyhow::anyhow!("the browser tests did not finish within 20 minutes")),
                Ok(Err(e)) => Err(e).context("cannot start Playwright"),
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(anyhow::anyhow!(
                    "the browser tests failed ({status}); traces in browser/test-results, function logs in {}",
                    log_dir.display()
                )),
            }
        }
        Err(e) => Err(e),
    };
    stack.down().await;
    outcome
}
