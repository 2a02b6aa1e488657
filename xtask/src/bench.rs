//! `cargo xtask bench` (being written)

pub fn run(_args: Vec<String>) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
