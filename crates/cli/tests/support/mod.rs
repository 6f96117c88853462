//! Test support: run the real `osspart serve` binary as a child process.
//!
//! ```ignore
//! let mut server = ServerProcess::start(&[]);          // fresh temp data dir, port 0
//! do_requests(&server.endpoint);
//! server.restart();                                      // same data dir, new port
//! server.stop();                                         // also done on drop
//! ```
//!
//! The server is started as `osspart serve --data DIR --addr 127.0.0.1:0 [extra args]` with
//! `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` set to [`ACCESS_KEY_ID`] / [`ACCESS_KEY_SECRET`].
//! It is considered up once it prints `listening on http://HOST:PORT` on stdout. Everything
//! it prints (stdout and stderr) is kept and shown by [`ServerProcess::logs`].

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// AccessKeyId the server accepts by default.
pub const ACCESS_KEY_ID: &str = "LTAI-compat";
/// Secret of [`ACCESS_KEY_ID`].
pub const ACCESS_KEY_SECRET: &str = "compat-secret";
/// Region the server claims.
pub const REGION: &str = "cn-hangzhou";

/// How long a start may take before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the `osspart` binary built for this test run.
pub fn osspart_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_osspart"))
}

/// Root of the workspace (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Where the data directory of a [`ServerProcess`] comes from.
enum DataDir {
    Owned(tempfile::TempDir),
    Borrowed(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Owned(t) => t.path(),
            DataDir::Borrowed(p) => p,
        }
    }
}

/// Settings for [`ServerProcess::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Arguments appended after `serve --data DIR --addr 127.0.0.1:0`.
    pub args: Vec<OsString>,
    /// Extra environment variables (override the default credentials if they name them).
    pub env: Vec<(OsString, OsString)>,
    /// Use this data directory instead of a fresh temporary one (it is not deleted).
    pub data_dir: Option<PathBuf>,
}

impl ServerOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
}

/// A running `osspart serve` child process. Killed when dropped.
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub endpoint: String,
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// The data directory (kept across [`restart`](Self::restart)).
    pub data_dir: PathBuf,
    dir: DataDir,
    options: ServerOptions,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts a server on a fresh temporary data directory with extra command-line arguments.
    pub fn start(extra_args: &[&str]) -> ServerProcess {
        let mut options = ServerOptions::new();
        for a in extra_args {
            options = options.arg(*a);
        }
        Self::start_with(options)
    }

    /// Starts a server with full control over arguments, environment and data directory.
    pub fn start_with(options: ServerOptions) -> ServerProcess {
        let dir = match &options.data_dir {
            Some(p) => DataDir::Borrowed(p.clone()),
            None => DataDir::Owned(
                tempfile::Builder::new()
                    .prefix("osspart-data-")
                    .tempdir()
                    .expect("create a temporary data directory"),
            ),
        };
        let data_dir = dir.path().to_path_buf();
        let log = Arc::new(Mutex::new(String::new()));
        let (child, addr) = spawn(&data_dir, &options, &log);
        ServerProcess {
            endpoint: format!("http://{addr}"),
            addr,
            data_dir,
            dir,
            options,
            child: Some(child),
            log,
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The process id of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits up to `limit` for the server to exit on its own; its status, if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Some(status);
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything the server printed so far (all runs of this value).
    pub fn logs(&self) -> String {
        self.log.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Asks the server to shut down (SIGTERM) and waits for it; kills it after 10 s.
    /// Returns the exit status, or `None` if it was not running.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let term = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if term.map(|s| s.success()).unwrap_or(false) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    return Some(status);
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Kills the server abruptly (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Stops the server (if running) and starts it again on the same data directory with the
    /// same arguments. The port may change; `endpoint` and `addr` are updated.
    pub fn restart(&mut self) {
        self.stop();
        let (child, addr) = spawn(self.dir.path(), &self.options, &self.log);
        self.child = Some(child);
        self.addr = addr;
        self.endpoint = format!("http://{addr}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn append(log: &Mutex<String>, line: &str) {
    if let Ok(mut l) = log.lock() {
        l.push_str(line);
        if !line.ends_with('\n') {
            l.push('\n');
        }
    }
}

/// Extracts `HOST:PORT` from a line containing `listening on http://HOST:PORT`.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let url = rest.split_whitespace().next()?;
    let hostport = url.strip_prefix("http://")?.trim_end_matches('/');
    hostport.parse().ok()
}

fn spawn(
    data_dir: &Path,
    options: &ServerOptions,
    log: &Arc<Mutex<String>>,
) -> (Child, SocketAddr) {
    let mut cmd = Command::new(osspart_bin());
    cmd.arg("serve")
        .arg("--data")
        .arg(data_dir)
        .arg("--addr")
        .arg("127.0.0.1:0")
        .args(&options.args)
        .env("OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    append(log, &format!("--- starting {cmd:?}"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", osspart_bin().display()));

    // stderr: keep everything, never let the pipe fill up.
    let stderr = child.stderr.take().expect("piped stderr");
    let err_log = Arc::clone(log);
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            match line {
                Ok(l) => append(&err_log, &format!("[stderr] {l}")),
                Err(_) => break,
            }
        }
    });

    // stdout: report the listening address, then keep draining.
    let stdout = child.stdout.take().expect("piped stdout");
    let out_log = Arc::clone(log);
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut sent = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    append(&out_log, &format!("[stdout] {}", line.trim_end()));
                    if !sent {
                        if let Some(addr) = parse_listening(&line) {
                            let _ = tx.send(addr);
                            sent = true;
                        }
                    }
                }
            }
        }
        // Drain anything left (non-UTF-8 output, for instance).
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    });

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => return (child, addr),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    thread::sleep(Duration::from_millis(100)); // let the readers finish
                    panic!(
                        "osspart serve exited ({status}) before printing `listening on`; output:\n{}",
                        log.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "osspart serve did not print `listening on http://...` within {:?}; output:\n{}",
                        START_TIMEOUT,
                        log.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().ok();
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "osspart serve closed its stdout before printing `listening on` (exit: {status:?}); output:\n{}",
                    log.lock().map(|s| s.clone()).unwrap_or_default()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_listening;

    #[test]
    fn parses_the_listening_line() {
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:34567\n").map(|a| a.port()),
            Some(34567)
        );
        assert_eq!(
            parse_listening("INFO listening on http://127.0.0.1:80/ now").map(|a| a.port()),
            Some(80)
        );
        assert!(parse_listening("data directory: /tmp/x").is_none());
    }
}
