//! CPU time by part of the local stack, read from `/proc`: which part a load run keeps busy
//! (the function processes, DynamoDB Local, localstripe, moto, the bench with the ALB) and
//! how much other work on the machine took.

use std::collections::BTreeMap;

use super::stack::Stack;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`: 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Ticks used so far: per process (its part, its ticks), and the whole machine's busy ticks.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    processes: BTreeMap<u32, (&'static str, u64)>,
    machine_busy: u64,
}

struct Stat {
    ppid: u32,
    ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After comm: state(0) ppid(1) … utime(11) stime(12).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat { ppid, ticks: utime + stime })
}

fn machine_busy() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else { return 0 };
    let Some(line) = text.lines().next() else { return 0 };
    // cpu user nice system idle iowait irq softirq steal …
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
}

pub fn snapshot(stack: &Stack) -> Snapshot {
    let me = std::process::id();
    let emulators = stack.emulator_pids();
    let mut stats = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some(s) = stat(pid)
            {
                stats.insert(pid, s);
            }
        }
    }
    let mut processes = BTreeMap::new();
    for (&pid, s) in &stats {
        // Walk up to the bench: the first emulator on the way names the part.
        let (mut at, mut part) = (pid, None);
        for _ in 0..64 {
            if let Some((_, name)) = emulators.iter().find(|(p, _)| *p == at) {
                part = Some(*name);
            }
            if at == me {
                let part = if pid == me { "bench + ALB" } else { part.unwrap_or("functions") };
                processes.insert(pid, (part, s.ticks));
                break;
            }
            match stats.get(&at) {
                Some(parent) if parent.ppid != 0 => at = parent.ppid,
                _ => break,
            }
        }
    }
    Snapshot { processes, machine_busy: machine_busy() }
}

/// CPU seconds used between two snapshots, by part, with "other work" for the rest of the
/// machine's busy time.
pub fn used(before: &Snapshot, after: &Snapshot) -> BTreeMap<String, f64> {
    let mut parts: BTreeMap<String, f64> = BTreeMap::new();
    let mut ours = 0u64;
    for (pid, (part, ticks)) in &after.processes {
        let earlier = before.processes.get(pid).map_or(0, |(_, t)| *t);
        let delta = ticks.saturating_sub(earlier);
        ours += delta;
        *parts.entry((*part).to_owned()).or_default() += delta as f64 / TICKS_PER_SECOND;
    }
    let machine = after.machine_busy.saturating_sub(before.machine_busy);
    parts.insert("other work".to_owned(), machine.saturating_sub(ours) as f64 / TICKS_PER_SECOND);
    parts
}
