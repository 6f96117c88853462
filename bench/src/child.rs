//! Measured child processes: a command run to completion and reaped with `wait4`, which reports
//! that process's own user + system CPU time and peak RSS (getrusage(RUSAGE_CHILDREN) would mix
//! in every other reaped child and keep only the largest RSS ever seen).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// What one child process cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// From spawn to reaping.
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// System (kernel) part of `cpu`.
    pub sys: Duration,
    /// Peak resident set size in bytes.
    pub max_rss: u64,
}

/// Reaps `child` (spawned at `started`) with `wait4`; whether it exited with status 0, and its
/// usage.
#[allow(unsafe_code)]
pub fn wait_with_usage(child: Child, started: Instant) -> anyhow::Result<(bool, Usage)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not reaped yet (std never waited on it); the
        // pointers are to live locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let wall = started.elapsed();
    drop(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((
        ok,
        Usage {
            wall,
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            sys: tv(usage.ru_stime),
            // Linux reports kilobytes.
            max_rss: usage.ru_maxrss as u64 * 1024,
        },
    ))
}

/// Runs `cmd` as a measured child with its stdout and stderr in `log`, fed `stdin` when given
/// (else /dev/null). Fails, quoting the log, unless it exits with status 0.
pub fn run_measured(mut cmd: Command, log: &Path, stdin: Option<Stdio>) -> anyhow::Result<Usage> {
    let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    cmd.stdout(out.try_clone()?)
        .stderr(out)
        .stdin(stdin.unwrap_or_else(Stdio::null));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let (ok, usage) = wait_with_usage(child, started)?;
    if !ok {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        bail!("{cmd:?} failed:\n{text}");
    }
    Ok(usage)
}
