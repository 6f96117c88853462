//! The real server binary under test: `osspart serve` as a child process on a free loopback
//! port over a temporary data directory, for benchmarks whose clients are other processes.
//! Its CPU time is read from `/proc/<pid>/stat`, so a benchmark can bill the server's work per
//! request separately from the client's.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// AccessKeyId the server accepts.
pub const ACCESS_KEY_ID: &str = "LTAI-bench";
/// Its secret.
pub const ACCESS_KEY_SECRET: &str = "bench-secret";
/// Region the clients sign for.
pub const REGION: &str = "cn-hangzhou";

/// A running `osspart serve` child; killed on drop, then its data directory is removed.
pub struct ServerProcess {
    child: Child,
    endpoint: String,
    data: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `bin serve` over a fresh data directory inside `parent`; its stderr goes to
    /// `parent/server.log`. Returns once the server has said where it listens.
    pub fn start(bin: &Path, parent: &Path) -> anyhow::Result<ServerProcess> {
        anyhow::ensure!(
            bin.is_file(),
            "{} is missing: run `cargo build --release -p osspart-cli` first",
            bin.display()
        );
        let data = tempfile::Builder::new()
            .prefix("server-data-")
            .tempdir_in(parent)?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--data")
            .arg(data.path())
            .arg("--addr")
            .arg("127.0.0.1:0")
            .env("OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(parent.join("server.log"))?)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
        let endpoint = loop {
            let Some(line) = lines.next() else {
                bail!("the server exited before saying where it listens (see server.log)");
            };
            let line = line?;
            if let Some(at) = line.find("listening on http://") {
                let url = line[at + "listening on ".len()..].split_whitespace().next();
                break url
                    .context("listening line")?
                    .trim_end_matches('/')
                    .to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(ServerProcess {
            child,
            endpoint,
            data,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's data directory (removed when the server is dropped).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The server's user + system CPU time so far (all its threads), if `/proc` tells.
    pub fn cpu(&self) -> Option<Duration> {
        crate::cpu::of_process(self.child.id())
    }

    /// An osspart client for `bucket` on this server.
    pub fn client(&self, bucket: &str) -> anyhow::Result<osspart::Client> {
        Ok(osspart::Client::new(osspart::Config::new(
            self.endpoint.clone(),
            REGION,
            bucket,
            osspart::Credentials {
                access_key_id: ACCESS_KEY_ID.into(),
                access_key_secret: ACCESS_KEY_SECRET.into(),
                security_token: None,
            },
        ))?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment the SDK scripts under `compat/` and `bench/peers/` read: `OSSPART_ENDPOINT`,
/// `OSSPART_REGION` and the key pair (no session token).
pub fn sdk_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("OSSPART_ENDPOINT", endpoint)
        .env("OSSPART_REGION", REGION)
        .env("OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env_remove("OSS_SESSION_TOKEN");
}

/// The environment the `osspart` CLI reads to use this server: `OSS_ENDPOINT`, `OSS_REGION`
/// and the key pair, with its config, state and data directories under `home` so that no
/// user config file or checkpoint is read or left behind.
pub fn cli_env(cmd: &mut Command, endpoint: &str, home: &Path) {
    cmd.env("OSS_ENDPOINT", endpoint)
        .env("OSS_REGION", REGION)
        .env("OSS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env_remove("OSS_SESSION_TOKEN")
        .env_remove("OSSPART_CONFIG")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"));
}
