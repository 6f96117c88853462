//! Where request signing gets its keys: a [`CredentialsProvider`] answers with the key pair to
//! use now and when it stops being valid.
//!
//! Invariant: a request is never signed with credentials whose expiry has passed. The
//! [`CachingProvider`] hands out cached keys only while more than a refresh margin of their
//! life is left; otherwise it fetches new ones (one fetch shared by every request waiting), and
//! fails rather than fall back to keys that have expired.
//!
//! Providers: [`StaticProvider`] (long-term keys, or STS keys with an expiry), the ECS RAM-role
//! metadata service ([`EcsRamRoleProvider`]), and an external command printing JSON
//! ([`ProcessProvider`], the aliyun CLI's `process` mode).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

pub use osspart_protocol::sign::Credentials;
use osspart_protocol::sign::REDACTED;

use crate::error::{Error, Result};

/// A boxed future, as [`CredentialsProvider::provide`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Credentials and the moment they stop being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvidedCredentials {
    /// The key pair (and STS token) to sign with.
    pub credentials: Credentials,
    /// When they expire; `None` for long-term keys.
    pub expires_at: Option<OffsetDateTime>,
}

/// Something that knows the credentials to sign with now. Implementations are shared by every
/// request of a client (and of its clones), so they must be cheap to ask when nothing changed:
/// wrap the ones that fetch in a [`CachingProvider`].
pub trait CredentialsProvider: Send + Sync + std::fmt::Debug {
    /// The credentials to sign the next request with.
    fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>>;
}

/// Fixed keys: long-term ones, or STS keys with the expiry they were issued with (asking after
/// it fails with [`Error::Credentials`] instead of signing requests OSS would refuse).
#[derive(Clone, Debug)]
pub struct StaticProvider {
    provided: ProvidedCredentials,
}

impl StaticProvider {
    /// Long-term keys (or STS keys whose expiry is unknown).
    pub fn new(credentials: Credentials) -> StaticProvider {
        StaticProvider {
            provided: ProvidedCredentials {
                credentials,
                expires_at: None,
            },
        }
    }

    /// STS keys valid until `expires_at`.
    pub fn sts(credentials: Credentials, expires_at: OffsetDateTime) -> StaticProvider {
        StaticProvider {
            provided: ProvidedCredentials {
                credentials,
                expires_at: Some(expires_at),
            },
        }
    }
}

impl CredentialsProvider for StaticProvider {
    fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
        Box::pin(async move {
            match self.provided.expires_at {
                Some(at) if at <= OffsetDateTime::now_utc() => Err(Error::Credentials(format!(
                    "the STS credentials of {} expired at {at}",
                    self.provided.credentials.access_key_id
                ))),
                _ => Ok(self.provided.clone()),
            }
        })
    }
}

/// The JSON both credential sources print: the ECS metadata service's field names
/// (`AccessKeyId`, `AccessKeySecret`, `SecurityToken`, `Expiration`, `Code`) and the aliyun
/// CLI `process` mode's (`access_key_id`, `access_key_secret`, `sts_token`, `expiration`,
/// `mode`).
#[derive(Deserialize)]
struct CredentialsDocument {
    #[serde(alias = "AccessKeyId", alias = "access_key_id")]
    access_key_id: Option<String>,
    #[serde(alias = "AccessKeySecret", alias = "access_key_secret")]
    access_key_secret: Option<String>,
    #[serde(alias = "SecurityToken", alias = "sts_token", alias = "security_token")]
    security_token: Option<String>,
    #[serde(alias = "Expiration", alias = "expiration")]
    expiration: Option<String>,
    #[serde(rename = "Code")]
    code: Option<String>,
}

/// Parses a credentials document (see [`CredentialsDocument`]); `source` names it in errors.
pub fn parse_credentials_json(text: &str, source: &str) -> Result<ProvidedCredentials> {
    let bad = |why: String| Error::Credentials(format!("{source}: {why}"));
    let doc: CredentialsDocument =
        serde_json::from_str(text).map_err(|e| bad(format!("not a credentials document: {e}")))?;
    if let Some(code) = doc.code.as_deref().filter(|c| *c != "Success") {
        return Err(bad(format!("answered Code {code:?}")));
    }
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    let access_key_id = non_empty(doc.access_key_id).ok_or_else(|| bad("no AccessKeyId".into()))?;
    let access_key_secret =
        non_empty(doc.access_key_secret).ok_or_else(|| bad("no AccessKeySecret".into()))?;
    let expires_at = match non_empty(doc.expiration) {
        None => None,
        Some(raw) => Some(
            OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
                .map_err(|e| bad(format!("Expiration {raw:?} is not ISO 8601: {e}")))?,
        ),
    };
    Ok(ProvidedCredentials {
        credentials: Credentials {
            access_key_id,
            access_key_secret,
            security_token: non_empty(doc.security_token),
        },
        expires_at,
    })
}

/// The address of the ECS instance metadata service.
pub const ECS_METADATA_ENDPOINT: &str = "http://100.100.100.200";

const ECS_CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";

/// STS keys of the RAM role attached to this ECS instance, from the instance metadata service:
/// `GET <endpoint>/latest/meta-data/ram/security-credentials/` names the role (unless given),
/// `GET .../<role>` answers the keys and their `Expiration`.
#[derive(Debug, Clone)]
pub struct EcsRamRoleProvider {
    endpoint: String,
    role: Option<String>,
    http: reqwest::Client,
}

impl EcsRamRoleProvider {
    /// The provider for `role` (`None`: the role the metadata service names) at
    /// [`ECS_METADATA_ENDPOINT`].
    pub fn new(role: Option<String>) -> EcsRamRoleProvider {
        EcsRamRoleProvider::with_endpoint(role, ECS_METADATA_ENDPOINT)
    }

    /// The same with another metadata service address (`http://host:port`), e.g. a stand-in.
    pub fn with_endpoint(role: Option<String>, endpoint: impl Into<String>) -> EcsRamRoleProvider {
        EcsRamRoleProvider {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            role: role.filter(|r| !r.is_empty()),
            // The metadata service answers at once on ECS; elsewhere it does not exist.
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn get(&self, path: &str) -> Result<String> {
        let url = format!("{}{ECS_CREDENTIALS_PATH}{path}", self.endpoint);
        let failed =
            |e: reqwest::Error| Error::Credentials(format!("ECS metadata service {url}: {e}"));
        let resp = self.http.get(&url).send().await.map_err(failed)?;
        let status = resp.status();
        let body = resp.text().await.map_err(failed)?;
        if !status.is_success() {
            return Err(Error::Credentials(format!(
                "ECS metadata service {url} answered HTTP {status}"
            )));
        }
        Ok(body)
    }
}

impl CredentialsProvider for EcsRamRoleProvider {
    fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
        Box::pin(async move {
            let role = match &self.role {
                Some(r) => r.clone(),
                None => {
                    let listed = self.get("").await?;
                    listed
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .ok_or_else(|| {
                            Error::Credentials(
                                "the ECS metadata service names no RAM role for this instance"
                                    .into(),
                            )
                        })?
                        .to_owned()
                }
            };
            let body = self.get(&role).await?;
            parse_credentials_json(&body, &format!("ECS RAM role {role:?}"))
        })
    }
}

/// Runs a command that prints credentials as JSON on stdout (the aliyun CLI's `process` mode:
/// `{"mode":"StsToken","access_key_id":..,"access_key_secret":..,"sts_token":..,
/// "expiration":..}`; the metadata service's names are accepted too).
#[derive(Clone)]
pub struct ProcessProvider {
    program: String,
    args: Vec<String>,
}

impl std::fmt::Debug for ProcessProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Arguments may carry secrets (`--password x`): only the program is shown.
        f.debug_struct("ProcessProvider")
            .field("program", &self.program)
            .field("args", &REDACTED)
            .finish()
    }
}

impl ProcessProvider {
    /// Runs `program` with `args` (no shell).
    pub fn new(program: impl Into<String>, args: Vec<String>) -> ProcessProvider {
        ProcessProvider {
            program: program.into(),
            args,
        }
    }

    /// Splits a command line on whitespace, honouring single and double quotes.
    pub fn from_command_line(command: &str) -> Result<ProcessProvider> {
        let words = split_command_line(command).ok_or_else(|| {
            Error::InvalidArgument(format!("credential process {command:?}: unbalanced quote"))
        })?;
        let mut words = words.into_iter();
        let program = words.next().ok_or_else(|| {
            Error::InvalidArgument("the credential process command is empty".into())
        })?;
        Ok(ProcessProvider::new(program, words.collect()))
    }
}

fn split_command_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    words.extend(word);
    Some(words)
}

impl CredentialsProvider for ProcessProvider {
    fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
        Box::pin(async move {
            let what = format!("credential process {:?}", self.program);
            let out = tokio::process::Command::new(&self.program)
                .args(&self.args)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| Error::Credentials(format!("{what}: cannot run it: {e}")))?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(Error::Credentials(format!(
                    "{what} failed ({}): {}",
                    out.status,
                    stderr.trim()
                )));
            }
            parse_credentials_json(&String::from_utf8_lossy(&out.stdout), &what)
        })
    }
}

/// Keeps the credentials another provider gave until shortly before they expire, then asks
/// it again. Requests arriving while a refresh is under way wait for that one refresh.
#[derive(Debug)]
pub struct CachingProvider {
    inner: Arc<dyn CredentialsProvider>,
    /// Longest time before expiry at which cached keys are refreshed (default 5 minutes).
    refresh_margin: Duration,
    cached: RwLock<Option<Cached>>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
struct Cached {
    provided: ProvidedCredentials,
    /// From this moment on the keys are refreshed before use.
    stale_at: Option<OffsetDateTime>,
}

impl CachingProvider {
    /// Caches what `inner` provides, refreshing 5 minutes before expiry.
    pub fn new(inner: Arc<dyn CredentialsProvider>) -> CachingProvider {
        CachingProvider {
            inner,
            refresh_margin: Duration::from_secs(300),
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets the refresh margin: keys are refreshed when less than `margin` (or, for short-lived
    /// keys, less than half their life) is left.
    pub fn refresh_margin(mut self, margin: Duration) -> CachingProvider {
        self.refresh_margin = margin;
        self
    }

    fn fresh(&self, now: OffsetDateTime) -> Option<ProvidedCredentials> {
        let cached = self.cached.read().ok()?;
        let c = cached.as_ref()?;
        match c.stale_at {
            Some(stale) if stale <= now => None,
            _ => Some(c.provided.clone()),
        }
    }

    async fn refresh(&self) -> Result<ProvidedCredentials> {
        let _one_at_a_time = self.refreshing.lock().await;
        let now = OffsetDateTime::now_utc();
        // Another request may have refreshed while this one waited.
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        match self.inner.provide().await {
            Ok(provided) => {
                let stale_at = provided.expires_at.map(|expires| {
                    let life = (expires - now).max(time::Duration::ZERO);
                    let margin = time::Duration::try_from(self.refresh_margin)
                        .unwrap_or(time::Duration::MAX)
                        .min(life / 2);
                    expires - margin
                });
                if let Ok(mut cached) = self.cached.write() {
                    *cached = Some(Cached {
                        provided: provided.clone(),
                        stale_at,
                    });
                }
                Ok(provided)
            }
            Err(e) => {
                // Keys that are due for refresh but not yet expired still sign correctly.
                let old = self.cached.read().ok().and_then(|c| c.clone());
                match old {
                    Some(c) if c.provided.expires_at.is_some_and(|at| at > now) => {
                        tracing::warn!(error = %e, "cannot refresh credentials; using the current ones until they expire");
                        Ok(c.provided)
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

impl CredentialsProvider for CachingProvider {
    fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
        Box::pin(async move {
            match self.fresh(OffsetDateTime::now_utc()) {
                Some(fresh) => Ok(fresh),
                None => self.refresh().await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn keys(id: &str) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            access_key_secret: format!("{id}-secret"),
            security_token: Some(format!("{id}-token")),
        }
    }

    /// Hands out `key-N` on the N-th call, valid for `life`, after `delay`.
    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        life: time::Duration,
        delay: Duration,
    }

    impl CredentialsProvider for Counting {
        fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(ProvidedCredentials {
                    credentials: keys(&format!("key-{n}")),
                    expires_at: Some(OffsetDateTime::now_utc() + self.life),
                })
            })
        }
    }

    #[test]
    fn both_document_shapes_parse() {
        let ecs = r#"{"AccessKeyId":"STS.a","AccessKeySecret":"s","SecurityToken":"t",
            "Expiration":"2030-01-02T03:04:05Z","Code":"Success","LastUpdated":"x"}"#;
        let p = parse_credentials_json(ecs, "ecs").unwrap();
        assert_eq!(p.credentials.access_key_id, "STS.a");
        assert_eq!(p.credentials.security_token.as_deref(), Some("t"));
        assert_eq!(p.expires_at.unwrap().year(), 2030);
        let process = r#"{"mode":"StsToken","access_key_id":"STS.b","access_key_secret":"s",
            "sts_token":"t2","expiration":"2030-01-02T03:04:05Z"}"#;
        let p = parse_credentials_json(process, "cmd").unwrap();
        assert_eq!(p.credentials.access_key_id, "STS.b");
        assert_eq!(p.credentials.security_token.as_deref(), Some("t2"));
        let ak = r#"{"mode":"AK","access_key_id":"LTAI","access_key_secret":"s"}"#;
        let p = parse_credentials_json(ak, "cmd").unwrap();
        assert_eq!((p.credentials.security_token, p.expires_at), (None, None));
        for bad in [
            r#"{"Code":"Failed","AccessKeyId":"a","AccessKeySecret":"s"}"#,
            r#"{"access_key_id":"a"}"#,
            r#"{"access_key_id":"a","access_key_secret":"s","expiration":"tomorrow"}"#,
            "not json",
        ] {
            let err = parse_credentials_json(bad, "src").unwrap_err();
            assert!(
                matches!(err, Error::Credentials(ref m) if m.starts_with("src: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn command_lines_split_like_a_shell_would() {
        assert_eq!(
            split_command_line(r#"aliyun  configure get --profile 'my role' "a b"c"#).unwrap(),
            ["aliyun", "configure", "get", "--profile", "my role", "a bc"]
        );
        assert_eq!(split_command_line("x ''").unwrap(), ["x", ""]);
        assert!(split_command_line("x 'open").is_none());
        assert!(ProcessProvider::from_command_line("   ").is_err());
        let shown = format!(
            "{:?}",
            ProcessProvider::from_command_line("get --pw hunter2").unwrap()
        );
        assert!(
            shown.contains("get") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn expired_sts_keys_are_refused() {
        let past = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let err = StaticProvider::sts(keys("old"), past)
            .provide()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let ok = StaticProvider::sts(keys("new"), future)
            .provide()
            .await
            .unwrap();
        assert_eq!(ok.expires_at, Some(future));
    }

    #[tokio::test]
    async fn cache_refreshes_before_expiry_and_shares_one_refresh() {
        let inner = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            life: time::Duration::milliseconds(800),
            delay: Duration::from_millis(50),
        });
        let cache = Arc::new(CachingProvider::new(inner.clone()));
        // Twenty requests at once: one fetch.
        let all = futures_util::future::join_all((0..20).map(|_| {
            let cache = cache.clone();
            async move { cache.provide().await.unwrap() }
        }))
        .await;
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        assert!(all.iter().all(|p| p.credentials.access_key_id == "key-1"));
        // Within the first half of their life the keys are reused.
        assert_eq!(
            cache.provide().await.unwrap().credentials.access_key_id,
            "key-1"
        );
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        // Past half their life (the 5-minute margin is longer than the keys live) they are
        // replaced before they expire.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let next = cache.provide().await.unwrap();
        assert_eq!(next.credentials.access_key_id, "key-2");
        assert!(next.expires_at.unwrap() > OffsetDateTime::now_utc());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[derive(Debug)]
    struct Failing;

    impl CredentialsProvider for Failing {
        fn provide(&self) -> BoxFuture<'_, Result<ProvidedCredentials>> {
            Box::pin(async { Err(Error::Credentials("down".into())) })
        }
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_unexpired_keys_and_never_hands_out_expired_ones() {
        let cache = CachingProvider::new(Arc::new(Failing));
        let now = OffsetDateTime::now_utc();
        *cache.cached.write().unwrap() = Some(Cached {
            provided: ProvidedCredentials {
                credentials: keys("still-valid"),
                expires_at: Some(now + time::Duration::seconds(60)),
            },
            stale_at: Some(now),
        });
        let kept = cache.provide().await.unwrap();
        assert_eq!(kept.credentials.access_key_id, "still-valid");
        *cache.cached.write().unwrap() = Some(Cached {
            provided: ProvidedCredentials {
                credentials: keys("expired"),
                expires_at: Some(now - time::Duration::seconds(1)),
            },
            stale_at: Some(now - time::Duration::seconds(2)),
        });
        assert!(cache.provide().await.is_err());
    }

    /// A metadata-service stand-in on 127.0.0.1:0: answers the role list and the role's keys,
    /// one connection per request.
    async fn metadata_stand_in(role: &'static str) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fetches = Arc::new(AtomicUsize::new(0));
        let counted = fetches.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..len]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (status, body) = if path == ECS_CREDENTIALS_PATH {
                    ("200 OK", format!("{role}\n"))
                } else if path == format!("{ECS_CREDENTIALS_PATH}{role}") {
                    let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                    let expires = (OffsetDateTime::now_utc() + time::Duration::hours(1))
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap();
                    let doc = serde_json::json!({"AccessKeyId": format!("STS.{n}"),
                        "AccessKeySecret": "s", "SecurityToken": "t", "Expiration": expires,
                        "Code": "Success"});
                    ("200 OK", doc.to_string())
                } else {
                    ("404 Not Found", String::new())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        (format!("http://{addr}"), fetches)
    }

    #[tokio::test]
    async fn ecs_role_is_discovered_then_its_keys_fetched() {
        let (endpoint, fetches) = metadata_stand_in("osspart-role").await;
        let discovered = EcsRamRoleProvider::with_endpoint(None, &endpoint);
        let p = discovered.provide().await.unwrap();
        assert_eq!(p.credentials.access_key_id, "STS.1");
        assert!(p.expires_at.is_some());
        let named = EcsRamRoleProvider::with_endpoint(Some("osspart-role".into()), &endpoint);
        assert_eq!(
            named.provide().await.unwrap().credentials.access_key_id,
            "STS.2"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        let missing = EcsRamRoleProvider::with_endpoint(Some("other".into()), &endpoint);
        let err = missing.provide().await.unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");
    }
}
