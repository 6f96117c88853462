//! A private user for running the `osspart` binary: its own config, state and data
//! directories inside a temporary directory, and none of the caller's `OSS_*` or `OSSPART_*`
//! variables. No test sees another's checkpoints, config file or embedded-server data.
//!
//! ```ignore
//! let home = Home::new();                        // embedded local server (no endpoint)
//! let server = ServerProcess::start(&[]);
//! let remote = Home::against(&server);           // OSS_ENDPOINT + keys of that server
//! let out = home.run(&["ls", "oss://demo"]).success();
//! ```

#![allow(dead_code)]

use std::ffi::OsStr;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use osspart::{Client, Config, Credentials};
use serde_json::Value;

use crate::support::{self, ServerOptions, ServerProcess};

/// The environment one test's `osspart` runs share.
pub struct Home {
    dir: tempfile::TempDir,
    /// Variables set on every run (after the caller's OSS_* ones were removed).
    env: Vec<(String, String)>,
    /// The endpoint of the external server, when there is one.
    endpoint: Option<String>,
}

impl Home {
    /// A user with no endpoint configured: commands use the embedded local server.
    pub fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("osspart-home-")
            .tempdir()
            .expect("create a temporary home");
        let root = dir.path().to_path_buf();
        let env = vec![
            ("HOME".to_owned(), root.display().to_string()),
            (
                "XDG_CONFIG_HOME".to_owned(),
                root.join("config").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".to_owned(),
                root.join("state").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".to_owned(),
                root.join("data").display().to_string(),
            ),
        ];
        Home {
            dir,
            env,
            endpoint: None,
        }
    }

    /// A user whose environment points at `server` with the credentials it accepts.
    pub fn against(server: &ServerProcess) -> Home {
        let mut home = Home::new();
        home.set("OSS_ENDPOINT", &server.endpoint);
        home.set("OSS_ACCESS_KEY_ID", support::ACCESS_KEY_ID);
        home.set("OSS_ACCESS_KEY_SECRET", support::ACCESS_KEY_SECRET);
        home.endpoint = Some(server.endpoint.clone());
        home
    }

    /// Sets (or replaces) a variable for every later run.
    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Whether commands use the embedded local server.
    pub fn is_embedded(&self) -> bool {
        self.endpoint.is_none()
    }

    /// The temporary directory everything lives in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where `cp` keeps checkpoints by default.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path().join("state/osspart/checkpoints")
    }

    /// Checkpoint files (`*.json`) currently in the checkpoint directory.
    pub fn checkpoints(&self) -> Vec<PathBuf> {
        self.checkpoint_dir_entries()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    }

    /// Everything in the checkpoint directory (checkpoints, their locks, temporary saves).
    pub fn checkpoint_dir_entries(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.checkpoint_dir()) {
            Ok(entries) => entries.map(|e| e.expect("dir entry").path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The data directory of the embedded local server.
    pub fn local_data_dir(&self) -> PathBuf {
        self.path().join("data/osspart/local")
    }

    /// Where `osspart config` writes by default.
    pub fn config_file(&self) -> PathBuf {
        self.path().join("config/osspart/config.toml")
    }

    /// Writes `bytes` to a file of this home and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path().join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create parent dir");
        }
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    /// `osspart ARGS` with this home's environment; stdin is empty, output captured.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.program(support::osspart_bin());
        cmd.args(args);
        cmd
    }

    /// Any program with this home's environment and working directory; stdin is empty,
    /// output captured.
    pub fn program(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n.starts_with("OSS_") || n.starts_with("OSSPART_") || n.starts_with("XDG_") {
                cmd.env_remove(&name);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `osspart ARGS` to completion.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let cmd = self.command(args);
        Run::of(cmd, None)
    }

    /// Runs `osspart ARGS` with `input` on stdin.
    pub fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Run {
        let cmd = self.command(args);
        Run::of(cmd, Some(input))
    }

    /// Runs `f` with a client of `bucket` on this home's service. For the embedded default it
    /// starts `osspart serve` on the embedded data directory for the duration of `f`.
    pub fn with_client<F, Fut, T>(&self, bucket: &str, f: F) -> T
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut local = None;
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => {
                let server =
                    ServerProcess::start_with(ServerOptions::new().data_dir(self.local_data_dir()));
                let e = server.endpoint.clone();
                local = Some(server);
                e
            }
        };
        let client = Client::new(Config::new(
            endpoint,
            support::REGION,
            bucket,
            Credentials {
                access_key_id: support::ACCESS_KEY_ID.to_owned(),
                access_key_secret: support::ACCESS_KEY_SECRET.to_owned(),
                security_token: None,
            },
        ))
        .expect("client");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = runtime.block_on(f(client));
        if let Some(mut server) = local {
            server.stop();
        }
        out
    }

    /// Starts multipart uploads of `key` (one per entry of `parts_per_upload`, each with that
    /// many 100 KiB parts) that are left in progress; returns their ids.
    pub fn open_uploads(&self, bucket: &str, key: &str, parts_per_upload: &[u32]) -> Vec<String> {
        self.with_client(bucket, |client| async move {
            let mut ids = Vec::new();
            for (i, &parts) in parts_per_upload.iter().enumerate() {
                let id = client
                    .init_multipart_upload(key, &Default::default())
                    .await
                    .expect("initiate");
                for n in 1..=parts {
                    let body = pattern(100 << 10, (i as u64) << 32 | u64::from(n));
                    client
                        .upload_part(key, &id, n, body.into(), false)
                        .await
                        .expect("upload part");
                }
                ids.push(id);
            }
            ids
        })
    }
}

/// The outcome of one `osspart` run.
#[derive(Debug)]
pub struct Run {
    /// What was run (for failure messages).
    pub what: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Run {
    fn of(mut cmd: Command, input: Option<&[u8]>) -> Run {
        let what = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("start osspart");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(input).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait for osspart");
        Run {
            what,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(self) -> Run {
        self.code(0)
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.code,
            Some(expected),
            "osspart {} exited {:?}, expected {expected}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Each stdout line parsed as JSON.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {l:?}", self.what))
            })
            .collect()
    }

    /// The single JSON document on stdout.
    #[track_caller]
    pub fn json(&self) -> Value {
        let mut lines = self.json_lines();
        assert_eq!(lines.len(), 1, "{}: expected one JSON line", self.what);
        lines.remove(0)
    }
}

/// `len` deterministic pseudo-random bytes (xorshift), different for each `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
