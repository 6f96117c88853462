//! An in-process `osspart serve` on a fresh temp dir and a free loopback port, trusting one
//! known key pair, with clients pointed at it. The data dir lives as long as the value.

use std::net::SocketAddr;

use osspart::{Client, Config, Credentials};
use osspart_server::{RunningServer, ServerConfig};

/// AccessKeyId the local server trusts.
pub const ACCESS_KEY_ID: &str = "testkit-key";
/// AccessKeySecret of [`ACCESS_KEY_ID`].
pub const ACCESS_KEY_SECRET: &str = "testkit-secret";
/// Region the local server claims.
pub const REGION: &str = "cn-hangzhou";

/// The key pair the local server trusts.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        access_key_secret: ACCESS_KEY_SECRET.to_owned(),
        security_token: None,
    }
}

/// A running server and the temp dir holding its data.
pub struct LocalServer {
    server: RunningServer,
    // Dropped after the server (fields drop in order), so the server never sees its dir vanish.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("addr", &self.server.local_addr())
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl LocalServer {
    /// Starts a server on a new temp dir that trusts [`credentials`].
    pub async fn start() -> std::io::Result<LocalServer> {
        LocalServer::start_with(|_| {}).await
    }

    /// Like [`LocalServer::start`], letting `adjust` change the configuration first (more
    /// credentials, cnames, ...).
    pub async fn start_with(
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> std::io::Result<LocalServer> {
        let dir = tempfile::tempdir()?;
        let mut config = ServerConfig::new(dir.path(), SocketAddr::from(([127, 0, 0, 1], 0)));
        config.region = REGION.to_owned();
        config.credentials.push(credentials());
        adjust(&mut config);
        let server = RunningServer::start(config)
            .await
            .map_err(std::io::Error::other)?;
        Ok(LocalServer { server, dir })
    }

    /// The running server (counters, store).
    pub fn server(&self) -> &RunningServer {
        &self.server
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// How many requests of operation `op` (e.g. `"UploadPart"`) succeeded so far.
    pub fn count(&self, op: &str) -> u64 {
        self.server
            .completed_operations()
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// Body bytes the server accepted through PutObject and UploadPart so far.
    pub fn ingested(&self) -> u64 {
        self.server.ingested_bytes()
    }

    /// A client configuration for `bucket` at `endpoint` (this server, or a proxy in front of
    /// it) with the trusted credentials and client defaults otherwise.
    pub fn config_at(&self, endpoint: &str, bucket: &str) -> Config {
        Config::new(endpoint, REGION, bucket, credentials())
    }

    /// A client configuration for `bucket` directly at this server.
    pub fn config(&self, bucket: &str) -> Config {
        self.config_at(&self.endpoint(), bucket)
    }

    /// A client for `bucket` directly at this server; the bucket is created when missing.
    pub async fn client(&self, bucket: &str) -> osspart::Result<Client> {
        client_with_bucket(self.config(bucket)).await
    }

    /// Stops accepting connections (open connections finish on their own).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// A client for `config`, creating its bucket when missing.
pub async fn client_with_bucket(config: Config) -> osspart::Result<Client> {
    let client = Client::new(config)?;
    client.create_bucket_if_missing().await?;
    Ok(client)
}
