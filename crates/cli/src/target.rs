//! `oss://bucket/key` targets, and how a command reaches the service: the configured endpoint,
//! or, when none is configured, the embedded local server on the user's data dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use osspart::{Client, Config, Credentials, CredentialsProvider};
use osspart_protocol::crc64;
use osspart_server::{RunningServer, ServerConfig};

use crate::exit::BadArguments;
use crate::settings::{CredentialSource, Settings};

/// A parsed `oss://bucket[/key]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssUrl {
    /// Bucket name.
    pub bucket: String,
    /// Key or prefix (may be empty).
    pub key: String,
}

impl OssUrl {
    /// Parses `oss://bucket[/key]`; `None` when `s` is not an `oss://` URL.
    pub fn parse(s: &str) -> Option<anyhow::Result<OssUrl>> {
        let rest = s.strip_prefix("oss://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if !osspart_protocol::limits::is_valid_bucket_name(bucket) {
            return Some(Err(BadArguments(format!(
                "{s:?}: {bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, -)"
            ))
            .into()));
        }
        Some(Ok(OssUrl {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }))
    }

    /// Parses, failing on anything that is not `oss://`.
    pub fn require(s: &str) -> anyhow::Result<OssUrl> {
        match OssUrl::parse(s) {
            Some(r) => r,
            None => bail!(BadArguments(format!(
                "{s:?} is not an oss://bucket/key target"
            ))),
        }
    }

    /// Like [`OssUrl::require`], and the key must not be empty.
    pub fn require_object(s: &str) -> anyhow::Result<OssUrl> {
        let u = OssUrl::require(s)?;
        if u.key.is_empty() {
            bail!(BadArguments(format!(
                "{s:?} names no object (expected oss://bucket/key)"
            )));
        }
        Ok(u)
    }
}

/// The service a command talks to; keeps the embedded server alive while the command runs.
pub struct Service {
    settings: Settings,
    endpoint: String,
    credentials: Credentials,
    /// Asked before every request when the keys can change; shared by every client of this
    /// command, so they share one cache and one refresh.
    provider: Option<Arc<dyn CredentialsProvider>>,
    embedded: Option<RunningServer>,
}

impl Service {
    /// Connects to the configured endpoint, or starts the embedded local server.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Service> {
        if let Some(endpoint) = &settings.endpoint {
            let source = settings.credentials.clone().ok_or_else(|| BadArguments(format!("no credentials for {endpoint}: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, pass --access-key-id/--access-key-secret, or run `osspart config`")))?;
            let provider = source.provider()?;
            let credentials = match source {
                CredentialSource::Keys(keys) => keys,
                // Unused: the provider signs.
                _ => Credentials {
                    access_key_id: String::new(),
                    access_key_secret: String::new(),
                    security_token: None,
                },
            };
            return Ok(Service {
                settings: settings.clone(),
                endpoint: endpoint.clone(),
                credentials,
                provider,
                embedded: None,
            });
        }
        // A fresh key pair per run: the embedded server lives only as long as this command.
        let credentials = Credentials {
            access_key_id: "osspart-local".to_owned(),
            access_key_secret: format!("{:032x}", rand_u128()),
            security_token: None,
        };
        let mut config = ServerConfig::new(
            &settings.local_data_dir,
            "127.0.0.1:0".parse().expect("valid address"),
        );
        config.region = settings.region.clone();
        config.credentials.push(credentials.clone());
        let server = RunningServer::start(config).await.map_err(|e| {
            let busy = matches!(
                e,
                osspart_server::StartError::Store(osspart_server::store::StoreError::Locked(_))
            );
            let hint = if busy {
                "; another osspart command is using it: wait for it to finish, or run \
                 `osspart serve` on it and pass --endpoint"
            } else {
                ""
            };
            anyhow::Error::new(e).context(format!(
                "cannot start the embedded local server on {}{hint}",
                settings.local_data_dir.display()
            ))
        })?;
        let note = format!(
            "nothing configured: using the local osspart server in {} (set OSS_REGION and keys, \
             OSS_ENDPOINT, or run `osspart config` to use OSS)",
            settings.local_data_dir.display()
        );
        if settings.json {
            eprintln!("{}", serde_json::json!({ "note": note }));
        } else if !settings.quiet {
            eprintln!("note: {note}");
        }
        Ok(Service {
            settings: settings.clone(),
            endpoint: server.endpoint(),
            credentials,
            provider: None,
            embedded: Some(server),
        })
    }

    /// Whether this is the embedded local server.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Where the checkpoint of uploading `source` to `bucket/key` lives: one file per
    /// (service, bucket, key, absolute source path), so re-running a command finds it.
    pub fn checkpoint_path(&self, bucket: &str, key: &str, source: &Path) -> PathBuf {
        // Uploads keep their original identity (no direction) so older checkpoints still match.
        self.checkpoint_file(None, bucket, key, &absolute(source))
    }

    /// Where the checkpoint of downloading `bucket/key` into `dest` lives.
    pub fn download_checkpoint_path(&self, bucket: &str, key: &str, dest: &Path) -> PathBuf {
        self.checkpoint_file(Some("download"), bucket, key, &absolute(dest))
    }

    /// Where the checkpoint of copying `src_bucket/src_key` to `bucket/key` lives.
    pub fn copy_checkpoint_path(
        &self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        key: &str,
    ) -> PathBuf {
        let source = format!("oss://{src_bucket}/{src_key}");
        self.checkpoint_file(Some("copy"), bucket, key, &source)
    }

    /// One checkpoint file per (kind, service, bucket, key, other end). The embedded server's
    /// port changes per run, so its identity is its data dir.
    fn checkpoint_file(&self, kind: Option<&str>, bucket: &str, key: &str, other: &str) -> PathBuf {
        let service = if self.is_embedded() {
            format!("local:{}", self.settings.local_data_dir.display())
        } else {
            self.endpoint.clone()
        };
        let id = match kind {
            None => format!("{service}\n{bucket}\n{key}\n{other}"),
            Some(kind) => format!("{kind}\n{service}\n{bucket}\n{key}\n{other}"),
        };
        self.settings
            .checkpoint_dir
            .join(format!("{:016x}.json", crc64::checksum(id.as_bytes())))
    }

    /// A client for `bucket` (empty for service-level calls), without touching the service.
    pub fn client(&self, bucket: &str) -> anyhow::Result<Client> {
        let mut config = Config::new(
            self.endpoint.clone(),
            self.settings.region.clone(),
            bucket,
            self.credentials.clone(),
        );
        config.credentials_provider = self.provider.clone();
        config.signature = self.settings.sign;
        config.addressing = self.settings.addressing;
        config.request_timeout = self.settings.timeout;
        config.retry.max_retries = self.settings.retries;
        config.ca_bundle = self.settings.ca_bundle.clone();
        Ok(Client::new(config)?)
    }

    /// A client for `bucket`, for commands that write into it (`cp` uploads). On the embedded
    /// server the bucket is created on first use; elsewhere it must exist.
    pub async fn client_for_upload(&self, bucket: &str) -> anyhow::Result<Client> {
        let client = self.client(bucket)?;
        if self.is_embedded() {
            client.create_bucket_if_missing().await?;
        }
        Ok(client)
    }

    /// Stops the embedded server, if any.
    pub async fn close(self) {
        if let Some(s) = self.embedded {
            s.shutdown().await;
        }
    }
}

/// Drops the upload checkpoint at `path` and the upload it names (best effort: a checkpoint
/// another process holds, or a service that cannot be reached, is left as it is).
pub async fn discard_upload_checkpoint(client: &Client, key: &str, path: &Path) {
    if let Err(e) = client.abandon_checkpoint(key, path).await {
        tracing::debug!(error = %e, checkpoint = %path.display(), "checkpoint kept");
    }
}

/// `path` made absolute (and canonical when it exists), as text.
fn absolute(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    std::fs::canonicalize(&abs)
        .unwrap_or(abs)
        .display()
        .to_string()
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let s = std::collections::hash_map::RandomState::new();
    let mut h = s.build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let a = h.finish();
    let mut h2 = s.build_hasher();
    h2.write_u64(a);
    (u128::from(a) << 64) | u128::from(h2.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            OssUrl::require("oss://demo/a/b.txt").unwrap(),
            OssUrl {
                bucket: "demo".into(),
                key: "a/b.txt".into()
            }
        );
        assert_eq!(OssUrl::require("oss://demo").unwrap().key, "");
        assert!(OssUrl::parse("./file").is_none());
        assert!(OssUrl::require("oss://BAD/x").is_err());
        assert!(OssUrl::require_object("oss://demo/").is_err());
    }
}
