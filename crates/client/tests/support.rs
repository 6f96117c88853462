//! Shared helpers: a real `osspart serve` in-process on a free loopback port, clients pointed
//! at it, and osspart-testkit's fault proxy between the two on a real socket.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use osspart::{Client, Config, Credentials, SignatureVersion};
use osspart_server::{RunningServer, ServerConfig};
use osspart_testkit::{Fault, FaultKind, FaultRule, InjectedError, Phase};
use tokio::net::TcpListener;

/// Credentials the test server accepts.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: "client-test".into(),
        access_key_secret: "client-secret".into(),
        security_token: None,
    }
}

/// An STS credential the test server accepts (the token must come with the key).
pub fn sts_credentials() -> Credentials {
    Credentials {
        access_key_id: "STS.client-test".into(),
        access_key_secret: "sts-secret".into(),
        security_token: Some("sts-token-123".into()),
    }
}

/// Part size used by the upload tests: the smallest the service accepts (100 KiB).
pub const PART: usize = 100 * 1024;

/// A running server with its data dir.
pub struct Server {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a fresh data dir that trusts [`credentials`] and [`sts_credentials`].
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
        config.credentials.push(credentials());
        config.credentials.push(sts_credentials());
        let server = RunningServer::start(config).await.unwrap();
        Server {
            server: Some(server),
            dir,
        }
    }

    fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.running().endpoint()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.running().local_addr()
    }

    /// How many requests of operation `op` (e.g. `"UploadPart"`) succeeded so far.
    pub fn count(&self, op: &str) -> u64 {
        self.running()
            .completed_operations()
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// Body bytes the server accepted through PutObject and UploadPart so far.
    pub fn ingested(&self) -> u64 {
        self.running().ingested_bytes()
    }

    /// A configuration for `bucket` at this server with the default credentials.
    pub fn config(&self, bucket: &str) -> Config {
        Config::new(self.endpoint(), "cn-hangzhou", bucket, credentials())
    }

    /// A client for `bucket` with the given signature version; the bucket is created.
    pub async fn client(&self, bucket: &str, sig: SignatureVersion) -> Client {
        let mut config = self.config(bucket);
        config.signature = sig;
        client_for(config).await
    }
}

/// A client for `config`; its bucket is created when missing.
pub async fn client_for(config: Config) -> Client {
    let client = Client::new(config).unwrap();
    if let Err(e) = client.create_bucket_if_missing().await {
        panic!("create bucket: {e}");
    }
    client
}

/// `n` bytes of the pattern `(31*i + seed) mod 251`.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((31 * i + seed) % 251) as u8).collect()
}

pub use osspart_testkit::{FaultProxy, SeenRequest};

/// The faults these tests ask of the shared proxy (osspart-testkit), in their words.
pub trait ProxyFaults {
    /// Answers the next `times` requests that `matches` with `status` and OSS error `code`.
    fn fail(&self, matches: fn(&SeenRequest) -> bool, times: u64, status: u16, code: &str);
    /// Holds every UploadPart answer this long before passing it back, so parallel parts
    /// overlap on the server.
    fn delay_parts(&self, delay: Duration);
    /// Error answers the proxy gave instead of forwarding.
    fn faults_served(&self) -> u64;
}

impl ProxyFaults for FaultProxy {
    fn fail(&self, matches: fn(&SeenRequest) -> bool, times: u64, status: u16, code: &str) {
        self.add(
            FaultRule::new(Fault::Respond(InjectedError::new(status, code)))
                .when(matches)
                .times(times),
        );
    }

    fn delay_parts(&self, delay: Duration) {
        self.add(
            FaultRule::new(Fault::Delay {
                phase: Phase::Response,
                duration: delay,
            })
            .when(SeenRequest::is_upload_part),
        );
    }

    fn faults_served(&self) -> u64 {
        let stats = self.stats();
        [
            FaultKind::ServiceUnavailable,
            FaultKind::InternalError,
            FaultKind::SlowDown,
            FaultKind::OtherError,
        ]
        .into_iter()
        .map(|k| stats.count(k))
        .sum()
    }
}

/// A listener that accepts connections and never answers (for timeouts). The connections are
/// held until the listener is dropped.
pub struct SilentListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SilentListener {
    /// Binds a free loopback port.
    pub async fn start() -> SilentListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        SilentListener { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An endpoint on a loopback port nothing listens on.
pub async fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
