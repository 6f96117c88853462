//! A real `osspart serve` in-process on a free loopback port, and a client pointed at it.

#![allow(dead_code)]

use osspart::{Client, Config, Credentials, SignatureVersion};
use osspart_server::{RunningServer, ServerConfig};

/// Credentials the test server accepts.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: "client-test".into(),
        access_key_secret: "client-secret".into(),
        security_token: None,
    }
}

/// A running server with its data dir.
pub struct Server {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a fresh data dir.
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
        config.credentials.push(credentials());
        let server = RunningServer::start(config).await.unwrap();
        Server {
            server: Some(server),
            dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.as_ref().unwrap().endpoint()
    }

    /// A client for `bucket` with the given signature version; the bucket is created.
    pub async fn client(&self, bucket: &str, sig: SignatureVersion) -> Client {
        let mut config = Config::new(self.endpoint(), "cn-hangzhou", bucket, credentials());
        config.signature = sig;
        let client = Client::new(config).unwrap();
        match client.create_bucket().await {
            Ok(()) => {}
            Err(e) if e.code() == Some("BucketAlreadyExists") => {}
            Err(e) => panic!("create bucket: {e}"),
        }
        client
    }
}

/// `n` bytes of the pattern `(31*i + seed) mod 251`.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((31 * i + seed) % 251) as u8).collect()
}
