//! Settings merged once from flags, environment, the config file and defaults (in that order
//! of precedence). After this, no command reads the environment.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use osspart::{Addressing, Credentials, SignatureVersion};
use serde::{Deserialize, Serialize};

use crate::exit::BadArguments;
use crate::GlobalArgs;

/// The config file written by `osspart config` (TOML, mode 0600).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Endpoint, e.g. `https://oss-cn-hangzhou.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// Region id, e.g. `cn-hangzhou`.
    pub region: Option<String>,
    /// AccessKeyId.
    pub access_key_id: Option<String>,
    /// AccessKeySecret.
    pub access_key_secret: Option<String>,
    /// STS security token.
    pub session_token: Option<String>,
    /// `v1` or `v4`.
    pub sign: Option<String>,
    /// Use path-style URLs.
    pub path_style: Option<bool>,
}

/// Where the config file lives: `$OSSPART_CONFIG`, else `$XDG_CONFIG_HOME/osspart/config.toml`,
/// else `~/.config/osspart/config.toml`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = env("OSSPART_CONFIG") {
        return PathBuf::from(p);
    }
    base_dir(env, "XDG_CONFIG_HOME", ".config")
        .join("osspart")
        .join("config.toml")
}

/// `$var`, else `$HOME/<fallback>`, else the current directory.
fn base_dir(env: &dyn Fn(&str) -> Option<String>, var: &str, fallback: &str) -> PathBuf {
    env(var)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Everything commands need to reach the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Endpoint; `None` means the embedded local server.
    pub endpoint: Option<String>,
    /// Region id.
    pub region: String,
    /// Credentials, when configured.
    pub credentials: Option<Credentials>,
    /// Signature scheme.
    pub sign: SignatureVersion,
    /// URL style.
    pub addressing: Addressing,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries per request / part.
    pub retries: u32,
    /// Where `cp` keeps checkpoints.
    pub checkpoint_dir: PathBuf,
    /// Data directory of the embedded local server.
    pub local_data_dir: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
    /// Say which service is used and how (`-v`).
    pub verbose: bool,
}

impl Settings {
    /// Merges flags, environment (read through `env`), config file and defaults.
    pub fn resolve(
        args: &GlobalArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let path = args.config.clone().unwrap_or_else(|| config_path(env));
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()))
            }
        };
        let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
            flag.clone()
                .or_else(|| env(var))
                .or_else(|| file.clone())
                .filter(|v| !v.is_empty())
        };
        let endpoint = pick(&args.endpoint, "OSS_ENDPOINT", &file.endpoint);
        let region = pick(&args.region, "OSS_REGION", &file.region);
        let id = pick(
            &args.access_key_id,
            "OSS_ACCESS_KEY_ID",
            &file.access_key_id,
        );
        let secret = pick(
            &args.access_key_secret,
            "OSS_ACCESS_KEY_SECRET",
            &file.access_key_secret,
        );
        let token = pick(&None, "OSS_SESSION_TOKEN", &file.session_token);
        let credentials = match (id, secret) {
            (Some(access_key_id), Some(access_key_secret)) => Some(Credentials { access_key_id, access_key_secret, security_token: token }),
            (None, None) => None,
            _ => bail!(BadArguments("an AccessKeyId needs its AccessKeySecret (flags, OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET, or the config file)".into())),
        };
        let (endpoint, region) = resolve_endpoint(endpoint, region, credentials.is_some())?;
        let sign = match args.sign.clone().or(file.sign.clone()).as_deref() {
            None | Some("v4") | Some("V4") => SignatureVersion::V4,
            Some("v1") | Some("V1") => SignatureVersion::V1,
            Some(other) => bail!(BadArguments(format!(
                "--sign must be v1 or v4, not {other:?}"
            ))),
        };
        let addressing = if args.path_style || file.path_style == Some(true) {
            Addressing::PathStyle
        } else {
            Addressing::Auto
        };
        let state = base_dir(env, "XDG_STATE_HOME", ".local/state").join("osspart");
        let data = base_dir(env, "XDG_DATA_HOME", ".local/share").join("osspart");
        Ok(Settings {
            endpoint,
            region,
            credentials,
            sign,
            addressing,
            timeout: Duration::from_secs_f64(args.timeout.unwrap_or(60.0).max(0.001)),
            retries: args.retries.unwrap_or(3),
            checkpoint_dir: args
                .checkpoint_dir
                .clone()
                .unwrap_or_else(|| state.join("checkpoints")),
            local_data_dir: env("OSSPART_LOCAL_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| data.join("local")),
            json: args.json,
            verbose: args.verbose,
        })
    }

    /// One line naming the service in use, for `-v`.
    pub fn describe(&self) -> String {
        let endpoint = self.endpoint.as_deref().map_or_else(
            || format!("local ({})", self.local_data_dir.display()),
            str::to_owned,
        );
        let addressing = match self.addressing {
            Addressing::PathStyle => "path-style",
            _ => "virtual-hosted (path-style for IP and localhost)",
        };
        let sign = match self.sign {
            SignatureVersion::V1 => "v1",
            SignatureVersion::V4 => "v4",
        };
        format!(
            "endpoint {endpoint}, region {}, addressing {addressing}, signature {sign}",
            self.region
        )
    }
}

/// The endpoint to use (`None`: the embedded local server) and the bare region id.
///
/// The embedded server is chosen only when nothing at all is configured, or when asked for by
/// name (`local`); a region alone means its public OSS endpoint; keys with neither endpoint nor
/// region are an error, since guessing would send data somewhere the user did not mean.
fn resolve_endpoint(
    endpoint: Option<String>,
    region: Option<String>,
    has_keys: bool,
) -> anyhow::Result<(Option<String>, String)> {
    use osspart_protocol::endpoint::{public_endpoint, region_of_endpoint};
    let bare = |r: &str| osspart_protocol::sign::v4::scope_region(r).to_owned();
    let endpoint = match endpoint {
        Some(e) if e == LOCAL_ENDPOINT => None,
        Some(e) if e.contains("://") => Some(e),
        Some(e) => Some(format!("https://{e}")),
        None => match &region {
            Some(r) => Some(public_endpoint(r)),
            None if has_keys => bail!(BadArguments(
                "credentials are set but no endpoint or region: set OSS_REGION (or --region, \
                 e.g. cn-hangzhou) to use OSS there, OSS_ENDPOINT (or --endpoint) for another \
                 service, or --endpoint local for the embedded local server"
                    .into()
            )),
            None => None,
        },
    };
    let region = region
        .map(|r| bare(&r))
        .or_else(|| endpoint.as_deref().and_then(region_of_endpoint))
        // Both ends of the embedded server use this, so it is the bare id V4 scopes name.
        .unwrap_or_else(|| "cn-hangzhou".to_owned());
    Ok((endpoint, region))
}

/// The `--endpoint` value that names the embedded local server.
pub const LOCAL_ENDPOINT: &str = "local";

/// Writes the config file with owner-only permissions (it holds a secret).
pub fn write_config(path: &std::path::Path, file: &ConfigFile) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = toml::to_string_pretty(file)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
