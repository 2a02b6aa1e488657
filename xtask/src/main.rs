//! `cargo xtask <task>`: the project's own commands.

mod bench;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("bench") => bench::run(args.collect()),
        _ => {
            eprintln!("usage: cargo xtask <dev|test|token|bench>");
            std::process::exit(2)
        }
    }
}
