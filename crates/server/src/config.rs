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
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Everything `osspart serve` needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (metadata database, blobs, tmp). Created if missing.
    pub data_dir: PathBuf,
    /// Listen address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Region the server claims (V4 scopes must name it). Default `cn-hangzhou`.
    pub region: String,
    /// Key pairs of the default account ([`DEFAULT_ACCOUNT_ID`]); an entry with a security
    /// token is an STS credential.
    pub credentials: Vec<Credentials>,
    /// Further accounts, each owning the buckets its keys create. Empty by default.
    pub accounts: Vec<Account>,
    /// When STS keys stop being accepted, by AccessKeyId; keys not listed never expire.
    pub key_expiry: HashMap<String, OffsetDateTime>,
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
            accounts: Vec::new(),
            key_expiry: HashMap::new(),
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
            let cred = c.into_credentials(path, &mut self.key_expiry)?;
            self.credentials.push(cred);
        }
        for a in file.accounts {
            let mut account = Account {
                id: a.id,
                credentials: Vec::new(),
            };
            for c in a.credentials {
                let cred = c.into_credentials(path, &mut self.key_expiry)?;
                account.credentials.push(cred);
            }
            self.accounts.push(account);
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
        self.principal(access_key_id).map(|p| p.credentials)
    }

    /// Who a key acts for: its account, its secret and token, and its expiry.
    pub fn principal(&self, access_key_id: &str) -> Option<Principal<'_>> {
        let default = self.credentials.iter().map(|c| (DEFAULT_ACCOUNT_ID, c));
        let others = self
            .accounts
            .iter()
            .flat_map(|a| a.credentials.iter().map(move |c| (a.id.as_str(), c)));
        default
            .chain(others)
            .find(|(_, c)| c.access_key_id == access_key_id)
            .map(|(account, credentials)| Principal {
                account,
                credentials,
                expires: self.key_expiry.get(access_key_id).copied(),
            })
    }

    /// Refuses contradictory settings: `anonymous` together with any key (it would silently
    /// turn authentication off), an AccessKeyId given twice, an empty or repeated account id.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let keys: Vec<&str> = self
            .credentials
            .iter()
            .chain(self.accounts.iter().flat_map(|a| a.credentials.iter()))
            .map(|c| c.access_key_id.as_str())
            .collect();
        if self.anonymous && !keys.is_empty() {
            return invalid(
                "anonymous access cannot be combined with credentials: remove the keys or \
                 the anonymous setting"
                    .to_owned(),
            );
        }
        for (i, k) in keys.iter().enumerate() {
            if keys.iter().take(i).any(|earlier| earlier == k) {
                return invalid(format!("AccessKeyId {k} is configured more than once"));
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if a.id.is_empty() {
                return invalid("an account has an empty id".to_owned());
            }
            let repeated = a.id == DEFAULT_ACCOUNT_ID
                || self
                    .accounts
                    .iter()
                    .take(i)
                    .any(|earlier| earlier.id == a.id);
            if repeated {
                return invalid(format!("account id {} is configured more than once", a.id));
            }
        }
        Ok(())
    }
}

/// The account of the flat `credentials` list, of anonymous-mode requests, and of every bucket
/// created before buckets had owners.
pub const DEFAULT_ACCOUNT_ID: &str = "1234567890123456";

/// An account: it owns the buckets any of its keys creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Account id, shown as the owner `ID` of its buckets and objects.
    pub id: String,
    /// Key pairs that act as this account (STS ones carry a security token).
    pub credentials: Vec<Credentials>,
}

/// What a configured AccessKeyId stands for.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    /// The account the key acts for.
    pub account: &'a str,
    /// The key pair (and STS token, if any).
    pub credentials: &'a Credentials,
    /// When the key stops being accepted (STS), if ever.
    pub expires: Option<OffsetDateTime>,
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
    /// Key pairs of the default account.
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
    /// Further accounts and their keys.
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
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
    /// When the key stops being accepted, as an RFC 3339 time (`2030-01-02T03:04:05Z`).
    pub expiration: Option<String>,
}

impl CredentialEntry {
    /// The key pair, recording its expiry in `expiry`.
    fn into_credentials(
        self,
        path: &Path,
        expiry: &mut HashMap<String, OffsetDateTime>,
    ) -> Result<Credentials, ConfigError> {
        if self.expiration.is_some() && self.security_token.is_none() {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!(
                    "{} has an expiration but no security_token: only STS keys expire",
                    self.access_key_id
                ),
            });
        }
        if let Some(text) = &self.expiration {
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: format!("expiration {text:?} of {}: {e}", self.access_key_id),
            })?;
            expiry.insert(self.access_key_id.clone(), at);
        }
        Ok(Credentials {
            access_key_id: self.access_key_id,
            access_key_secret: self.access_key_secret,
            security_token: self.security_token,
        })
    }
}

/// One `[[accounts]]` entry of the configuration file:
///
/// ```toml
/// [[accounts]]
/// id = "2222222222222222"
/// [[accounts.credentials]]
/// access_key_id = "LTAI..."
/// access_key_secret = "..."
/// [[accounts.credentials]]
/// access_key_id = "STS.abc"
/// access_key_secret = "..."
/// security_token = "..."
/// expiration = "2030-01-02T03:04:05Z"
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    /// Account id.
    pub id: String,
    /// Its key pairs.
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
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
    /// The settings contradict each other.
    #[error("invalid server configuration: {0}")]
    Invalid(String),
}
