//! Server configuration: where data lives, where to listen, whom to trust.
//!
//! Merged once from flags, environment and an optional TOML file by the caller; after that no
//! server code reads the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use osspart_protocol::sign::Credentials;
use serde::Deserialize;

/// Everything `osspart serve` needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (metadata database, blobs, tmp). Created if missing.
    pub data_dir: PathBuf,
    /// Listen address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Region the server claims (V4 scopes must name it). Default `cn-hangzhou`.
    pub region: String,
    /// Key pairs accepted; an entry with a security token is an STS credential.
    pub credentials: Vec<Credentials>,
    /// Host names bound to one bucket each (cname addressing), lower-case, without port.
    pub cnames: HashMap<String, String>,
    /// Base domains under which `<bucket>.<domain>` is virtual-hosted addressing.
    /// Default: `localhost` and `aliyuncs.com`.
    pub virtual_host_domains: Vec<String>,
    /// Accept requests without a valid signature. Off by default; for local experiments only.
    pub anonymous: bool,
    /// Connection limits, timeouts and the shutdown deadline (see [`Limits`]).
    pub limits: Limits,
}

/// What one peer may hold of the server, and for how long.
///
/// A peer that stops sending, stops reading or just sits on a connection is dropped after one
/// of these timeouts, so slow or hostile clients cannot pin connections, threads or memory
/// that well-behaved clients need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once. At the limit the connection idle the longest is closed to
    /// make room; when none is idle, new connections get `503 SlowDown` and are closed.
    /// Default 4096 (lowered at start to fit the process's open-file limit).
    pub max_connections: usize,
    /// Time from the first byte of a request head to its end. Default 10 s.
    pub header_read_timeout: Duration,
    /// Time a connection may wait for the first byte of its next request (a fresh connection
    /// for its first). Default 60 s.
    pub idle_timeout: Duration,
    /// Time a response may wait for the peer to take more bytes before the connection is
    /// dropped. Default 30 s.
    pub write_stall_timeout: Duration,
    /// Time a request body may go without a byte before the request fails with
    /// `RequestTimeout`. Default 30 s.
    pub body_stall_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; beyond it the answer is
    /// `431` and the connection is closed. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Largest number of request headers. Default 200.
    pub max_headers: usize,
    /// Threads that run metadata work (lookups, listings, commits that are not body
    /// uploads), apart from the threads that read object bodies. Default 16.
    pub metadata_threads: usize,
    /// Metadata calls that may wait for a thread; beyond it requests get `503 SlowDown`.
    /// Default 4096.
    pub metadata_queue: usize,
    /// On shutdown, how long requests in flight may take to finish before their connections
    /// are cut. Default 30 s.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            body_stall_timeout: Duration::from_secs(30),
            max_header_bytes: 64 << 10,
            max_headers: 200,
            metadata_threads: 16,
            metadata_queue: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Applies the settings a `[limits]` table gives, keeping the others.
    fn merge(&mut self, file: &LimitsFile) {
        let secs = |v: Option<f64>, d: &mut Duration| {
            if let Some(s) = v.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                if !s.is_zero() {
                    *d = s;
                }
            }
        };
        if let Some(n) = file.max_connections {
            self.max_connections = n.max(1);
        }
        secs(file.header_read_timeout, &mut self.header_read_timeout);
        secs(file.idle_timeout, &mut self.idle_timeout);
        secs(file.write_stall_timeout, &mut self.write_stall_timeout);
        secs(file.body_stall_timeout, &mut self.body_stall_timeout);
        secs(file.shutdown_grace, &mut self.shutdown_grace);
        if let Some(n) = file.max_header_bytes {
            self.max_header_bytes = n;
        }
        if let Some(n) = file.max_headers {
            self.max_headers = n;
        }
        if let Some(n) = file.metadata_threads {
            self.metadata_threads = n.max(1);
        }
        if let Some(n) = file.metadata_queue {
            self.metadata_queue = n.max(1);
        }
    }
}

impl ServerConfig {
    /// A configuration with defaults for everything but the data dir and address.
    pub fn new(data_dir: impl Into<PathBuf>, addr: SocketAddr) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            addr,
            region: "cn-hangzhou".to_owned(),
            credentials: Vec::new(),
            cnames: HashMap::new(),
            virtual_host_domains: vec!["localhost".to_owned(), "aliyuncs.com".to_owned()],
            anonymous: false,
            limits: Limits::default(),
        }
    }

    /// Adds settings from a TOML file (see [`ConfigFile`]).
    pub fn merge_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            source: e,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if let Some(region) = file.region {
            self.region = osspart_protocol::sign::v4::scope_region(&region).to_owned();
        }
        for c in file.credentials {
            self.credentials.push(Credentials {
                access_key_id: c.access_key_id,
                access_key_secret: c.access_key_secret,
                security_token: c.security_token,
            });
        }
        for (host, bucket) in file.cname {
            self.cnames.insert(host.to_ascii_lowercase(), bucket);
        }
        self.virtual_host_domains.extend(file.virtual_host_domains);
        if let Some(limits) = &file.limits {
            self.limits.merge(limits);
        }
        Ok(())
    }

    /// The credential with this AccessKeyId, if any.
    pub fn credential(&self, access_key_id: &str) -> Option<&Credentials> {
        self.credentials
            .iter()
            .find(|c| c.access_key_id == access_key_id)
    }
}

/// The on-disk form of the server configuration (TOML).
///
/// ```toml
/// region = "cn-hangzhou"
/// [[credentials]]
/// access_key_id = "LTAI..."
/// access_key_secret = "..."
/// security_token = "..."   # optional: an STS credential
/// [cname]
/// "files.example.com" = "mybucket"
/// [limits]
/// max_connections = 4096
/// idle_timeout = 60          # seconds
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Region id, e.g. `cn-hangzhou`.
    pub region: Option<String>,
    /// Accepted key pairs.
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
    /// Host name → bucket.
    #[serde(default)]
    pub cname: HashMap<String, String>,
    /// Extra base domains for virtual-hosted addressing.
    #[serde(default)]
    pub virtual_host_domains: Vec<String>,
    /// Connection limits and timeouts; what is left out keeps its default.
    pub limits: Option<LimitsFile>,
}

/// The `[limits]` table: each key sets the [`Limits`] field of the same name. Timeouts are in
/// seconds (fractions allowed); sizes in bytes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// [`Limits::max_connections`].
    pub max_connections: Option<usize>,
    /// [`Limits::header_read_timeout`], seconds.
    pub header_read_timeout: Option<f64>,
    /// [`Limits::idle_timeout`], seconds.
    pub idle_timeout: Option<f64>,
    /// [`Limits::write_stall_timeout`], seconds.
    pub write_stall_timeout: Option<f64>,
    /// [`Limits::body_stall_timeout`], seconds.
    pub body_stall_timeout: Option<f64>,
    /// [`Limits::max_header_bytes`].
    pub max_header_bytes: Option<usize>,
    /// [`Limits::max_headers`].
    pub max_headers: Option<usize>,
    /// [`Limits::metadata_threads`].
    pub metadata_threads: Option<usize>,
    /// [`Limits::metadata_queue`].
    pub metadata_queue: Option<usize>,
    /// [`Limits::shutdown_grace`], seconds.
    pub shutdown_grace: Option<f64>,
}

/// One key pair in the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    /// AccessKeyId.
    pub access_key_id: String,
    /// AccessKeySecret.
    pub access_key_secret: String,
    /// STS security token the requests must carry with this key, if any.
    pub security_token: Option<String>,
}

/// The configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}
