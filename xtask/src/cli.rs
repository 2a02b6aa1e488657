//! Small helpers shared by the tasks: option parsing, running child commands with their exit
//! codes checked, and finding the workspace's functions and build output.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// `--name value`, `--name=value` and `--flag` options; nothing positional unless asked for.
#[derive(Debug)]
pub struct Options {
    task: &'static str,
    args: Vec<String>,
}

impl Options {
    pub fn new(task: &'static str, args: Vec<String>) -> Self {
        Self { task, args }
    }

    /// Removes `--name` and returns whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    /// Removes `--name <value>` / `--name=<value>` and returns the value.
    pub fn value(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        let prefix = format!("{name}=");
        let mut found = None;
        let mut i = 0;
        while i < self.args.len() {
            if self.args[i] == name {
                if i + 1 >= self.args.len() || self.args[i + 1].starts_with("--") {
                    bail!("`cargo xtask {}`: {name} needs a value", self.task);
                }
                found = Some(self.args.remove(i + 1));
                self.args.remove(i);
            } else if let Some(v) = self.args[i].strip_prefix(&prefix) {
                found = Some(v.to_owned());
                self.args.remove(i);
            } else {
                i += 1;
            }
        }
        Ok(found)
    }

    /// Removes `--name <n>` and parses it.
    pub fn number<T: std::str::FromStr>(&mut self, name: &str) -> anyhow::Result<Option<T>> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("`cargo xtask {}`: {name} takes a number, not `{v}`", self.task)),
        }
    }

    /// Removes the positional arguments (those not starting with `--`) and returns them.
    pub fn positional(&mut self) -> Vec<String> {
        let (pos, rest): (Vec<String>, Vec<String>) = self.args.drain(..).partition(|a| !a.starts_with("--"));
        self.args = rest;
        pos
    }

    /// An error naming anything left over (unknown options).
    pub fn finish(self) -> anyhow::Result<()> {
        if self.args.is_empty() {
            return Ok(());
        }
        bail!("`cargo xtask {}`: unknown argument(s): {} (see `cargo xtask help`)", self.task, self.args.join(" "))
    }
}

/// The `cargo` that runs us (so `+toolchain` and `CARGO` overrides carry through).
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::project_root());
    cmd
}

/// Runs `cmd` to completion with inherited output; an error if it cannot start or fails.
pub fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {what} ({})", describe(cmd)))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `program arg arg …`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a: &OsStr| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// The function crates: `functions/<name>/Cargo.toml`; the package and binary are `<name>`.
pub fn function_packages(root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = root.join("functions");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds every function binary (debug profile); returns the directory they are in.
pub fn build_functions(root: &Path) -> anyhow::Result<PathBuf> {
    let packages = function_packages(root)?;
    if packages.is_empty() {
        bail!("no function crates under {}", root.join("functions").display());
    }
    eprintln!("xtask: building {} function(s): {}", packages.len(), packages.join(", "));
    let mut cmd = cargo();
    cmd.arg("build");
    for p in &packages {
        cmd.args(["-p", p]);
    }
    run(&mut cmd, "building the functions (cargo build)")?;
    Ok(target_dir()?.join("debug"))
}

/// Cargo's target directory, as cargo itself resolves it (`CARGO_TARGET_DIR`, config, …).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("`cargo metadata` printed invalid JSON")?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` did not say where the target directory is")
}

/// A random lowercase-hex string of `len` characters (for generated local secrets).
pub fn random_hex(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.push_str(&format!("{:020x}", ulid::Ulid::new().random()));
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Options {
        Options::new("dev", args.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn options_parse_both_spellings_and_reject_leftovers() -> anyhow::Result<()> {
        let mut o = opts(&["--port", "3001", "--moto-port=5001", "--quiet"]);
        assert_eq!(o.number::<u16>("--port")?, Some(3001));
        assert_eq!(o.number::<u16>("--moto-port")?, Some(5001));
        assert!(o.flag("--quiet"));
        assert_eq!(o.number::<u16>("--stripe-port")?, None);
        o.finish()?;

        assert!(opts(&["--port", "x"]).number::<u16>("--port").is_err());
        assert!(opts(&["--port"]).number::<u16>("--port").is_err());
        assert!(opts(&["--bogus"]).finish().is_err());
        Ok(())
    }

    #[test]
    fn random_hex_has_the_asked_length() {
        assert_eq!(random_hex(64).len(), 64);
        assert!(random_hex(7).chars().all(|c| c.is_ascii_hexdigit()));
    }
}
