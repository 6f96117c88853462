//! CPU time spent, from `/proc` (Linux only; `None` elsewhere): the whole process, and the
//! calling thread. Lets the report split ingest CPU between the server's threads and the load
//! generator (which runs on the main thread), which stays meaningful when other work shares
//! the machine and wall-clock rates drop.

use std::time::Duration;

/// Kernel clock ticks per second for `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

fn stat_cpu(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SEC,
    ))
}

/// User + system CPU time of the whole process so far.
pub fn process() -> Option<Duration> {
    stat_cpu("/proc/self/stat")
}

/// User + system CPU time so far of process `pid` (all its threads), e.g. a server child.
pub fn of_process(pid: u32) -> Option<Duration> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time of the calling thread so far.
pub fn this_thread() -> Option<Duration> {
    stat_cpu("/proc/thread-self/stat")
}

/// CPU time between two readings, split into the calling thread and everything else.
#[derive(Debug, Clone, Copy)]
pub struct CpuSplit {
    /// The calling thread (the load generator).
    pub this_thread: Duration,
    /// Every other thread (the server).
    pub others: Duration,
}

/// A reading to diff against later.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    process: Option<Duration>,
    thread: Option<Duration>,
}

impl CpuMark {
    /// Reads the counters now.
    pub fn now() -> CpuMark {
        CpuMark {
            process: process(),
            thread: this_thread(),
        }
    }

    /// CPU used since `self`, if `/proc` could be read.
    pub fn since(&self) -> Option<CpuSplit> {
        let end = CpuMark::now();
        let total = end.process?.checked_sub(self.process?)?;
        let thread = end.thread?.checked_sub(self.thread?)?;
        Some(CpuSplit {
            this_thread: thread,
            others: total.saturating_sub(thread),
        })
    }
}

/// The 1-minute load average, if `/proc/loadavg` can be read.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
