//! Server configuration: where data lives, where to listen, whom to trust.
//!
//! Merged once from flags, environment and an optional TOML file by the caller; after that no
//! server code reads the environment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
