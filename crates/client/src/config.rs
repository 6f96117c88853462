//! Client configuration: where the service is, who we are, how we sign, address, time out and
//! retry. Defaults live in one place ([`Config::new`] and the `Default` impls).

use std::sync::Arc;
use std::time::Duration;

use osspart_protocol::endpoint;
pub use osspart_protocol::sign::Credentials;

use crate::credentials::{CachingProvider, CredentialsProvider};
use crate::error::{Error, Result};

/// Which signature scheme requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// HMAC-SHA1 (`Authorization: OSS id:sig`).
    V1,
    /// OSS4-HMAC-SHA256 (the default).
    #[default]
    V4,
}

/// How the bucket appears in request URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Virtual-hosted (`<bucket>.<endpoint host>`), except path-style for IP-literal and
    /// `localhost` endpoints (the default).
    #[default]
    Auto,
    /// Always `<endpoint>/<bucket>/<key>`.
    PathStyle,
    /// Always `<bucket>.<endpoint host>/<key>`.
    VirtualHosted,
    /// The endpoint host is bound to the bucket (`<endpoint>/<key>`).
    Cname,
}

/// Retry policy for requests that may be repeated safely. Build it from [`Default`] or
/// [`RetryPolicy::none`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Upper bound of the first backoff (default 200 ms); doubles each attempt; full jitter.
    pub base_delay: Duration,
    /// Cap on any single backoff (default 10 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

with_setters!(RetryPolicy {
    with_max_retries => max_retries: u32,
    with_base_delay => base_delay: Duration,
    with_max_delay => max_delay: Duration,
});

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// Backoff before retry number `attempt` (1-based): uniform in `0..=min(max, base*2^(n-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(if millis == 0 {
            0
        } else {
            rand::random::<u64>() % (millis + 1)
        })
    }
}

/// Everything a [`crate::Client`] needs. `Debug` never shows the secret or the token.
///
/// Build it with [`Config::new`], [`Config::with_provider`] or [`Config::from_env`], then adjust
/// it with the `with_*` setters:
///
/// ```
/// use std::time::Duration;
/// use osspart::{Addressing, Config, Credentials, RetryPolicy, SignatureVersion};
///
/// let keys = Credentials {
///     access_key_id: "LTAI5tExample".into(),
///     access_key_secret: "secret".into(),
///     security_token: None,
/// };
/// let config = Config::new("http://127.0.0.1:9000/", "oss-cn-hangzhou", "my-bucket", keys)
///     .with_signature(SignatureVersion::V1)
///     .with_addressing(Addressing::PathStyle)
///     .with_connect_timeout(Duration::from_secs(3))
///     .with_retry(RetryPolicy::default().with_max_retries(5));
/// // The constructor normalizes the endpoint and the region.
/// assert_eq!(config.endpoint, "http://127.0.0.1:9000");
/// assert_eq!(config.region, "cn-hangzhou");
/// assert_eq!(config.retry.max_retries, 5);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Service endpoint with scheme, e.g. `https://oss-cn-hangzhou.aliyuncs.com` or
    /// `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// Region id without the `oss-` prefix, e.g. `cn-hangzhou` (V4 scopes name it).
    pub region: String,
    /// The bucket calls operate on.
    pub bucket: String,
    /// Key pair, optionally with an STS token; used when `credentials_provider` is `None`.
    pub credentials: Credentials,
    /// Where every request gets its credentials from, when they can change (STS keys that
    /// expire, an ECS RAM role, a credential process); default `None` (sign with
    /// `credentials`). Asked before each request is signed, so give one that caches
    /// ([`CachingProvider`], as [`Config::with_provider`] does).
    pub credentials_provider: Option<Arc<dyn CredentialsProvider>>,
    /// Signature scheme (default V4).
    pub signature: SignatureVersion,
    /// URL style (default: virtual-hosted, path-style for IP and `localhost` endpoints).
    pub addressing: Addressing,
    /// Limit for establishing a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Limit for a request without a body to be answered (default 60 s). Requests with a body
    /// get this plus the time the body needs at [`Config::min_throughput`].
    pub request_timeout: Duration,
    /// Slowest transfer rate assumed when scaling timeouts with body size, in bytes per second
    /// (default 256 KiB/s).
    pub min_throughput: u64,
    /// Retry policy (default 3 retries, full-jitter backoff from 200 ms).
    pub retry: RetryPolicy,
    /// `User-Agent` header.
    pub user_agent: String,
    /// A PEM file of extra CA certificates to trust beside the operating system's store
    /// (default none).
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Send file bodies (parts and objects read from a file) with `sendfile(2)` over plain-HTTP
    /// endpoints, so their bytes do not pass through user space (default `true`; applies on
    /// Linux when no HTTP proxy is configured in the environment; TLS endpoints always use the
    /// regular client).
    pub sendfile: bool,
}

with_setters!(Config {
    with_bucket => bucket: into String,
    with_credentials => credentials: Credentials,
    with_credentials_provider => credentials_provider: Some(Arc<dyn CredentialsProvider>),
    with_signature => signature: SignatureVersion,
    with_addressing => addressing: Addressing,
    with_connect_timeout => connect_timeout: Duration,
    with_request_timeout => request_timeout: Duration,
    with_min_throughput => min_throughput: u64,
    with_retry => retry: RetryPolicy,
    with_user_agent => user_agent: into String,
    with_ca_bundle => ca_bundle: Some(into std::path::PathBuf),
    with_sendfile => sendfile: bool,
});

impl Config {
    /// Sets [`endpoint`](Self::endpoint), without trailing slashes (as [`Config::new`] does).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets [`region`](Self::region); an `oss-` prefix is dropped (as [`Config::new`] does).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = osspart_protocol::sign::v4::scope_region(&region.into()).to_owned();
        self
    }

    /// A configuration with defaults for everything but endpoint, region, bucket and keys.
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        bucket: impl Into<String>,
        credentials: Credentials,
    ) -> Config {
        Config {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            region: osspart_protocol::sign::v4::scope_region(&region.into()).to_owned(),
            bucket: bucket.into(),
            credentials,
            credentials_provider: None,
            signature: SignatureVersion::default(),
            addressing: Addressing::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            min_throughput: 256 * 1024,
            retry: RetryPolicy::default(),
            user_agent: format!("osspart/{}", env!("CARGO_PKG_VERSION")),
            ca_bundle: None,
            sendfile: true,
        }
    }

    /// A configuration whose credentials come from `provider` (wrapped in a
    /// [`CachingProvider`], so keys are fetched once and refreshed before they expire).
    pub fn with_provider(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        bucket: impl Into<String>,
        provider: Arc<dyn CredentialsProvider>,
    ) -> Config {
        let unused = Credentials {
            access_key_id: String::new(),
            access_key_secret: String::new(),
            security_token: None,
        };
        let mut config = Config::new(endpoint, region, bucket, unused);
        config.credentials_provider = Some(Arc::new(CachingProvider::new(provider)));
        config
    }

    /// Reads OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN, OSS_REGION and
    /// OSS_ENDPOINT; the endpoint defaults to `https://oss-<region>.aliyuncs.com`, and the
    /// region to the one an `oss-<region>.aliyuncs.com` endpoint names (else cn-hangzhou).
    ///
    /// ```
    /// use osspart::Config;
    ///
    /// std::env::set_var("OSS_ACCESS_KEY_ID", "LTAI5tExample");
    /// std::env::set_var("OSS_ACCESS_KEY_SECRET", "secret");
    /// std::env::set_var("OSS_ENDPOINT", "oss-eu-central-1.aliyuncs.com");
    /// std::env::remove_var("OSS_REGION");
    ///
    /// let config = Config::from_env("photos")?;
    /// assert_eq!(config.endpoint, "https://oss-eu-central-1.aliyuncs.com");
    /// assert_eq!(config.region, "eu-central-1");
    /// assert_eq!(config.credentials.access_key_id, "LTAI5tExample");
    /// # Ok::<(), osspart::Error>(())
    /// ```
    pub fn from_env(bucket: impl Into<String>) -> Result<Config> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let id = var("OSS_ACCESS_KEY_ID")
            .ok_or_else(|| Error::InvalidArgument("OSS_ACCESS_KEY_ID is not set".into()))?;
        let secret = var("OSS_ACCESS_KEY_SECRET")
            .ok_or_else(|| Error::InvalidArgument("OSS_ACCESS_KEY_SECRET is not set".into()))?;
        let endpoint = var("OSS_ENDPOINT");
        let region = var("OSS_REGION")
            .or_else(|| endpoint.as_deref().and_then(endpoint::region_of_endpoint))
            .unwrap_or_else(|| "cn-hangzhou".to_owned());
        let endpoint = endpoint.unwrap_or_else(|| endpoint::public_endpoint(&region));
        let endpoint = if endpoint.contains("://") {
            endpoint
        } else {
            format!("https://{endpoint}")
        };
        Ok(Config::new(
            endpoint,
            region,
            bucket,
            Credentials {
                access_key_id: id,
                access_key_secret: secret,
                security_token: var("OSS_SESSION_TOKEN"),
            },
        ))
    }

    /// The timeout for a request carrying `body_len` bytes.
    pub fn timeout_for(&self, body_len: u64) -> Duration {
        self.request_timeout + Duration::from_secs(body_len / self.min_throughput.max(1))
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials and providers redact their own secrets.
        let mut d = f.debug_struct("Config");
        d.field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket);
        match &self.credentials_provider {
            Some(p) => d.field("credentials_provider", p),
            None => d.field("credentials", &self.credentials),
        };
        d.field("signature", &self.signature)
            .field("addressing", &self.addressing)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("min_throughput", &self.min_throughput)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("ca_bundle", &self.ca_bundle)
            .field("sendfile", &self.sendfile)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_scaling() {
        let c = Config::new(
            "http://127.0.0.1:9000/",
            "oss-cn-hangzhou",
            "b",
            Credentials {
                access_key_id: "a".into(),
                access_key_secret: "s".into(),
                security_token: None,
            },
        );
        assert_eq!(c.endpoint, "http://127.0.0.1:9000");
        assert_eq!(c.region, "cn-hangzhou");
        assert_eq!(c.signature, SignatureVersion::V4);
        assert_eq!(c.timeout_for(0), Duration::from_secs(60));
        assert_eq!(c.timeout_for(8 << 20), Duration::from_secs(60 + 32));
        let r = RetryPolicy::default();
        for attempt in 1..10 {
            assert!(r.backoff(attempt) <= r.max_delay);
        }
        assert!(r.backoff(1) <= Duration::from_millis(200));
    }

    #[test]
    fn debug_hides_secret_and_token() {
        let keys = Credentials {
            access_key_id: "LTAI-shown".into(),
            access_key_secret: "hidden-secret".into(),
            security_token: Some("hidden-token".into()),
        };
        let plain = Config::new("http://127.0.0.1:1", "cn-hangzhou", "b", keys.clone());
        let provided = Config::with_provider(
            "http://127.0.0.1:1",
            "cn-hangzhou",
            "b",
            Arc::new(crate::credentials::StaticProvider::new(keys)),
        );
        for shown in [format!("{plain:?}"), format!("{provided:#?}")] {
            assert!(shown.contains("LTAI-shown"), "{shown}");
            assert!(shown.contains("http://127.0.0.1:1"), "{shown}");
            assert!(
                !shown.contains("hidden-secret") && !shown.contains("hidden-token"),
                "{shown}"
            );
        }
    }
}
