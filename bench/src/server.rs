//! The server under test: `osspart serve` in-process, on its own multi-threaded runtime (as in
//! a separate process, it gets every core), listening on a free loopback port over a
//! temporary data directory that is removed when the server is dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context};
use osspart_protocol::sign::Credentials;
use osspart_server::{RunningServer, ServerConfig};
use tokio::sync::oneshot;

/// AccessKeyId the benchmark server accepts.
pub const ACCESS_KEY_ID: &str = "bench-id";
/// Its secret.
pub const ACCESS_KEY_SECRET: &str = "bench-secret";
/// Region the server claims (V4 scopes name it).
pub const REGION: &str = "cn-hangzhou";

/// The key pair requests are signed with.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY_ID.into(),
        access_key_secret: ACCESS_KEY_SECRET.into(),
        security_token: None,
    }
}

/// A running server; dropping it stops the server, then deletes its data.
pub struct BenchServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Dropped after the server thread has been joined (see `Drop`).
    data_dir: Option<tempfile::TempDir>,
}

impl BenchServer {
    /// Starts a server over a fresh directory inside `parent`.
    pub fn start(parent: &Path) -> anyhow::Result<BenchServer> {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let data_dir = tempfile::Builder::new()
            .prefix("osspart-bench-")
            .tempdir_in(parent)
            .with_context(|| format!("cannot make a temp dir in {}", parent.display()))?;
        let mut config = ServerConfig::new(data_dir.path(), "127.0.0.1:0".parse()?);
        config.region = REGION.into();
        config.credentials.push(credentials());

        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("osspart-serve".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(anyhow!("cannot build server runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let server = match RunningServer::start(config).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = addr_tx.send(Err(anyhow!("server did not start: {e}")));
                            return;
                        }
                    };
                    let _ = addr_tx.send(Ok(server.local_addr()));
                    let _ = stop_rx.await;
                    server.shutdown().await;
                });
            })?;
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .context("server did not report its address")??;
        Ok(BenchServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            data_dir: Some(data_dir),
        })
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_ref().expect("present until drop").path()
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = self.data_dir.take() {
            if let Err(e) = dir.close() {
                eprintln!("warning: could not remove the benchmark data dir: {e}");
            }
        }
    }
}
