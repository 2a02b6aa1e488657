//! Python virtual environments for the emulators and the Python tools, made on demand.
//!
//! Each venv is built from pinned requirements files with `python3 -m venv` and
//! `pip install -r`, in a cache directory keyed by a hash of the requirements files'
//! contents and the Python version:
//!
//! ```text
//! $MM_VENV_DIR                                  if set, else
//! ${XDG_CACHE_HOME:-$HOME/.cache}/makers-market/venv-<name>-<hash>
//! ```
//!
//! so every clone on a machine (a developer's work tree, CI's fresh clone) shares one install,
//! and changing a pin makes a new venv instead of mutating one in use. A venv counts as ready
//! only once its marker file is written after a successful install; an interrupted install is
//! wiped and redone. A file lock serialises concurrent `cargo xtask` runs. The second run with
//! the same requirements does nothing but hash two small files.
//!
//! `requirements.txt` (moto, localstripe, schemathesis), `requirements-tools.txt`
//! (cfn-lint, aws-sam-cli) and `requirements-checkov.txt` get separate venvs because
//! aws-sam-cli pins many packages that moto and checkov also use.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// Written inside a venv once `pip install` succeeded; holds the key it was built for.
const MARKER: &str = ".makers-market-ready";

/// A ready virtual environment.
#[derive(Debug, Clone)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The venv's root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The venv's `bin` directory (put it first on `PATH` for tools that call `python3`).
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// A program installed in the venv (`moto_server`, `schemathesis`, `sam`, …).
    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin_dir().join(program)
    }

    /// The venv's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.bin("python")
    }

    /// `PATH` with this venv's `bin` first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin_dir()];
        if let Some(path) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(paths).unwrap_or_else(|_| self.bin_dir().into_os_string())
    }
}

/// The venv for the emulators and schemathesis, from `<root>/requirements.txt`.
pub fn ensure_emulators(root: &Path) -> anyhow::Result<Venv> {
    ensure("emulators", &[root.join("requirements.txt")])
}

/// The venv for cfn-lint and the SAM CLI, from `<root>/requirements-tools.txt`.
pub fn ensure_tools(root: &Path) -> anyhow::Result<Venv> {
    ensure("tools", &[root.join("requirements-tools.txt")])
}

/// The venv for checkov, from `<root>/requirements-checkov.txt`.
pub fn ensure_checkov(root: &Path) -> anyhow::Result<Venv> {
    ensure("checkov", &[root.join("requirements-checkov.txt")])
}

/// Where venvs live: `$MM_VENV_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/makers-market`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MM_VENV_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("makers-market")
}

/// The Python used to create venvs: `$MM_PYTHON`, else `python3`.
fn base_python() -> String {
    std::env::var("MM_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into())
}

/// Makes sure a venv named `name` with exactly `requirements` installed exists; returns it.
/// Idempotent and safe to call from concurrent processes.
pub fn ensure(name: &str, requirements: &[PathBuf]) -> anyhow::Result<Venv> {
    let python = base_python();
    let version = python_version(&python)?;

    let mut key = Fnv64::new();
    key.write(version.as_bytes());
    for file in requirements {
        let text = fs::read(file).with_context(|| {
            format!("cannot read {} (it pins the Python packages of the `{name}` venv)", file.display())
        })?;
        key.write(&text);
        key.write(b"\0");
    }
    let key = format!("{:016x}", key.finish());

    let root = cache_root();
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let dir = root.join(format!("venv-{name}-{key}"));
    let venv = Venv { dir: dir.clone() };
    if is_ready(&dir, &key) {
        return Ok(venv);
    }

    let lock_path = root.join(format!("venv-{name}-{key}.lock"));
    let lock = File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        eprintln!("xtask: another process is installing this venv; waiting for {} …", lock_path.display());
        lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
    }
    // Another process may have finished the install while we waited.
    if is_ready(&dir, &key) {
        return Ok(venv);
    }

    eprintln!(
        "xtask: creating the Python venv `{name}` in {} (once per requirements change; takes a minute or two) …",
        dir.display()
    );
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove the incomplete venv {}", dir.display()))?;
    }
    run(Command::new(&python).args(["-m", "venv"]).arg(&dir), "create the venv").with_context(|| {
        format!("`{python} -m venv` failed; on Debian, `apt-get install -y python3-venv` provides it")
    })?;
    let mut pip = Command::new(venv.python());
    pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet"]);
    for file in requirements {
        pip.arg("-r").arg(file);
    }
    run(&mut pip, "pip install").with_context(|| {
        format!("installing the `{name}` Python packages failed (is PyPI reachable? see pip's output above)")
    })?;
    fs::write(dir.join(MARKER), &key).with_context(|| format!("cannot write the marker in {}", dir.display()))?;
    eprintln!("xtask: venv `{name}` ready");
    drop(lock);
    Ok(venv)
}

fn is_ready(dir: &Path, key: &str) -> bool {
    fs::read_to_string(dir.join(MARKER)).is_ok_and(|k| k.trim() == key) && dir.join("bin/python").exists()
}

fn python_version(python: &str) -> anyhow::Result<String> {
    let out = Command::new(python)
        .args(["-c", "import sys, platform; print(sys.version_info[:2] >= (3, 9), platform.python_version(), sys.platform, platform.machine())"])
        .output()
        .with_context(|| format!("cannot run `{python}`: Python 3.9+ is needed (set MM_PYTHON to use another interpreter)"))?;
    if !out.status.success() {
        bail!("`{python}` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match text.split_once(' ') {
        Some(("True", rest)) => Ok(rest.to_owned()),
        _ => bail!("`{python}` is too old ({text}); Python 3.9+ is needed (set MM_PYTHON to use another interpreter)"),
    }
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {what}: {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable cache key (not a security boundary).
pub(crate) struct Fnv64(u64);

impl Fnv64 {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_is_stable_and_content_sensitive() {
        let hash = |s: &[u8]| {
            let mut h = Fnv64::new();
            h.write(s);
            h.finish()
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(hash(b"moto==5.2.5"), hash(b"moto==5.2.4"));
    }
}
