//! Settings merged once from flags, environment, the selected profile, the config file's top
//! level, ossutil's config file and defaults (in that order of precedence). After this, no
//! command reads the environment.
//!
//! Invariant: credentials come whole from one source: the first layer that names any
//! (keys, a credential process or an ECS RAM role) decides which kind is used, so keys of one
//! layer are never signed with the token of another.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use osspart::credentials::ECS_METADATA_ENDPOINT;
use osspart::{
    Addressing, CachingProvider, Credentials, CredentialsProvider, EcsRamRoleProvider,
    ProcessProvider, SignatureVersion,
};
use osspart_protocol::sign::REDACTED;
use serde::{Deserialize, Serialize};

use crate::exit::BadArguments;
use crate::GlobalArgs;

/// The config file written by `osspart config` (TOML, mode 0600): values at the top level and
/// in `[profile.NAME]` tables with the same keys (a profile's values beat the top level's).
/// `Debug` hides secrets and tokens.
#[derive(Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
    /// A command printing credentials as JSON (aliyun CLI `process` mode), run without a shell.
    pub credential_process: Option<String>,
    /// The ECS instance's RAM role whose STS keys the metadata service hands out.
    pub ecs_ram_role: Option<String>,
    /// Named profiles (`[profile.NAME]`), selected with `--profile` or `OSS_PROFILE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profile: BTreeMap<String, ConfigFile>,
}

impl ConfigFile {
    /// Parses the file's text; profiles may not hold profiles.
    pub fn parse(text: &str) -> anyhow::Result<ConfigFile> {
        let file: ConfigFile = toml::from_str(text)?;
        if let Some((name, _)) = file.profile.iter().find(|(_, p)| !p.profile.is_empty()) {
            bail!("profile {name:?} holds profiles of its own; profiles do not nest");
        }
        Ok(file)
    }

    /// Reads the file at `path`; a missing file is an empty one.
    pub fn read(path: &std::path::Path) -> anyhow::Result<ConfigFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => ConfigFile::parse(&text)
                .with_context(|| format!("invalid config file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
        }
    }

    /// The same with secret and token replaced by `********` (in every profile), for showing.
    pub fn masked(&self) -> ConfigFile {
        let mask = |v: &Option<String>| v.as_ref().map(|_| "********".to_owned());
        ConfigFile {
            access_key_secret: mask(&self.access_key_secret),
            session_token: mask(&self.session_token),
            profile: self
                .profile
                .iter()
                .map(|(name, p)| (name.clone(), p.masked()))
                .collect(),
            ..self.clone()
        }
    }

    /// Which kinds of credentials this layer names.
    fn credential_kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.access_key_id.is_some() || self.access_key_secret.is_some() {
            kinds.push("access keys");
        }
        if self.credential_process.is_some() {
            kinds.push("credential_process");
        }
        if self.ecs_ram_role.is_some() {
            kinds.push("ecs_ram_role");
        }
        kinds
    }

    /// This layer with empty strings taken as unset.
    fn without_empty(mut self) -> ConfigFile {
        for v in [
            &mut self.endpoint,
            &mut self.region,
            &mut self.access_key_id,
            &mut self.access_key_secret,
            &mut self.session_token,
            &mut self.sign,
            &mut self.credential_process,
            &mut self.ecs_ram_role,
        ] {
            if v.as_deref() == Some("") {
                *v = None;
            }
        }
        self
    }
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| REDACTED);
        f.debug_struct("ConfigFile")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &hidden(&self.access_key_secret))
            .field("session_token", &hidden(&self.session_token))
            .field("sign", &self.sign)
            .field("path_style", &self.path_style)
            .field("credential_process", &hidden(&self.credential_process))
            .field("ecs_ram_role", &self.ecs_ram_role)
            .field("profile", &self.profile)
            .finish()
    }
}

/// Where the keys of a command come from.
#[derive(Clone)]
pub enum CredentialSource {
    /// Fixed keys (and STS token).
    Keys(Credentials),
    /// A command printing JSON credentials (`credential_process`).
    Process(String),
    /// The ECS metadata service's keys for a RAM role.
    EcsRamRole {
        /// Role name.
        role: String,
        /// Metadata service address (`OSSPART_ECS_METADATA_ENDPOINT`, default 100.100.100.200).
        endpoint: String,
    },
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Keys(c) => f.debug_tuple("Keys").field(c).finish(),
            // The command line may carry a secret of its own.
            CredentialSource::Process(_) => f.debug_tuple("Process").field(&REDACTED).finish(),
            CredentialSource::EcsRamRole { role, endpoint } => f
                .debug_struct("EcsRamRole")
                .field("role", role)
                .field("endpoint", endpoint)
                .finish(),
        }
    }
}

impl CredentialSource {
    /// The provider requests are signed through; `None` for fixed keys. Fetched keys are
    /// cached and refreshed before they expire.
    pub fn provider(&self) -> anyhow::Result<Option<Arc<dyn CredentialsProvider>>> {
        let inner: Arc<dyn CredentialsProvider> = match self {
            CredentialSource::Keys(_) => return Ok(None),
            CredentialSource::Process(command) => {
                Arc::new(ProcessProvider::from_command_line(command)?)
            }
            CredentialSource::EcsRamRole { role, endpoint } => Arc::new(
                EcsRamRoleProvider::with_endpoint(Some(role.clone()), endpoint.clone()),
            ),
        };
        Ok(Some(Arc::new(CachingProvider::new(inner))))
    }

    /// What `-v` says about the source (never a secret).
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::Keys(c) if c.security_token.is_some() => {
                format!("STS keys {}", c.access_key_id)
            }
            CredentialSource::Keys(c) => format!("keys {}", c.access_key_id),
            CredentialSource::Process(_) => "credential_process".to_owned(),
            CredentialSource::EcsRamRole { role, .. } => format!("ECS RAM role {role}"),
        }
    }
}

/// Where the config file lives: `$OSSPART_CONFIG`, else `$XDG_CONFIG_HOME/osspart/config.toml`,
/// else `~/.config/osspart/config.toml`.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(p) = env("OSSPART_CONFIG") {
        return PathBuf::from(p);
    }
    base_dir(env, "XDG_CONFIG_HOME", ".config", dirs::config_dir)
        .join("osspart")
        .join("config.toml")
}

/// Where one kind of per-user file lives: `$var` when set (the XDG variables are honoured on
/// every platform, so users and tests can move things); else the platform's place from the
/// dirs crate on macOS and Windows, and the XDG default `$HOME/<fallback>` elsewhere; else the
/// current directory.
fn base_dir(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    fallback: &str,
    platform: fn() -> Option<PathBuf>,
) -> PathBuf {
    let native = cfg!(any(target_os = "macos", windows));
    env(var)
        .map(PathBuf::from)
        .or_else(|| if native { platform() } else { None })
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .or_else(platform)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Everything commands need to reach the service. `Debug` hides secrets and tokens.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Endpoint; `None` means the embedded local server.
    pub endpoint: Option<String>,
    /// Region id.
    pub region: String,
    /// Where credentials come from, when configured.
    pub credentials: Option<CredentialSource>,
    /// The profile selected (`--profile`, `OSS_PROFILE`).
    pub profile: Option<String>,
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
    /// Extra trusted CA certificates (PEM), from `--ca-bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// Data directory of the embedded local server.
    pub local_data_dir: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
    /// Say which service is used and how (`-v`).
    pub verbose: bool,
    /// Print no progress, notes or transfer summaries (`-q`).
    pub quiet: bool,
}

impl Settings {
    /// Merges flags, environment (read through `env`), config file and defaults.
    pub fn resolve(
        args: &GlobalArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let path = args.config.clone().unwrap_or_else(|| config_path(env));
        let mut file = ConfigFile::read(&path)?;
        let profile = args
            .profile
            .clone()
            .or_else(|| env("OSS_PROFILE"))
            .filter(|p| !p.is_empty());
        let ossutil = match crate::ossutil_config::path(env) {
            Some(p) => crate::ossutil_config::read(&p)?,
            None => Default::default(),
        };
        let (ossutil_layers, in_ossutil) =
            crate::ossutil_config::layers(&ossutil, profile.as_deref());
        let own_profile = profile.as_ref().and_then(|p| file.profile.remove(p));
        if let Some(name) = &profile {
            if own_profile.is_none() && !in_ossutil {
                bail!(BadArguments(format!(
                    "no profile {name:?}: {} has no [profile.{name}] table and ossutil's config \
                     file no [{name}] section (`osspart config --profile {name} ...` writes one)",
                    path.display()
                )));
            }
        }
        let flags = ConfigFile {
            endpoint: args.endpoint.clone(),
            region: args.region.clone(),
            access_key_id: args.access_key_id.clone(),
            access_key_secret: args.access_key_secret.clone(),
            sign: args.sign.clone(),
            path_style: args.path_style.then_some(true),
            ..ConfigFile::default()
        };
        let environment = ConfigFile {
            endpoint: env("OSS_ENDPOINT"),
            region: env("OSS_REGION"),
            access_key_id: env("OSS_ACCESS_KEY_ID"),
            access_key_secret: env("OSS_ACCESS_KEY_SECRET"),
            session_token: env("OSS_SESSION_TOKEN"),
            ecs_ram_role: env("OSS_ECS_RAM_ROLE").or_else(|| env("ALIBABA_CLOUD_ECS_METADATA")),
            ..ConfigFile::default()
        };
        file.profile.clear();
        let layers: Vec<ConfigFile> = [flags, environment]
            .into_iter()
            .chain(own_profile)
            .chain([file])
            .chain(ossutil_layers)
            .map(ConfigFile::without_empty)
            .collect();
        let pick =
            |get: fn(&ConfigFile) -> &Option<String>| layers.iter().find_map(|l| get(l).clone());
        let endpoint = pick(|l| &l.endpoint);
        let region = pick(|l| &l.region);
        let metadata_endpoint = env("OSSPART_ECS_METADATA_ENDPOINT")
            .unwrap_or_else(|| ECS_METADATA_ENDPOINT.to_owned());
        let credentials = credential_source(&layers, metadata_endpoint)?;
        let (endpoint, region) = resolve_endpoint(endpoint, region, credentials.is_some())?;
        let sign_choice = pick(|l| &l.sign);
        let path_style = layers.iter().find_map(|l| l.path_style);
        let sign = match sign_choice.as_deref() {
            None | Some("v4") | Some("V4") => SignatureVersion::V4,
            Some("v1") | Some("V1") => SignatureVersion::V1,
            Some(other) => bail!(BadArguments(format!(
                "--sign must be v1 or v4, not {other:?}"
            ))),
        };
        let addressing = if path_style == Some(true) {
            Addressing::PathStyle
        } else {
            Addressing::Auto
        };
        // macOS and Windows have no state directory: local data is the nearest.
        let state_dir = || dirs::state_dir().or_else(dirs::data_local_dir);
        let state = base_dir(env, "XDG_STATE_HOME", ".local/state", state_dir).join("osspart");
        let data = base_dir(env, "XDG_DATA_HOME", ".local/share", dirs::data_dir).join("osspart");
        Ok(Settings {
            endpoint,
            region,
            credentials,
            profile,
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
            ca_bundle: args.ca_bundle.clone(),
            quiet: args.quiet,
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
        let credentials = self
            .credentials
            .as_ref()
            .map_or_else(|| "none".to_owned(), CredentialSource::describe);
        let profile = self
            .profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default();
        format!(
            "endpoint {endpoint}, region {}, addressing {addressing}, signature {sign}, \
             credentials {credentials}{profile}",
            self.region
        )
    }
}

/// The credentials of the first layer that names any (see the module's invariant). Access
/// keys may still take the id and the secret from different layers (a flag's secret with the
/// environment's id), but the token only ever comes with its id.
fn credential_source(
    layers: &[ConfigFile],
    metadata_endpoint: String,
) -> anyhow::Result<Option<CredentialSource>> {
    let Some(first) = layers.iter().find(|l| !l.credential_kinds().is_empty()) else {
        return Ok(None);
    };
    let kinds = first.credential_kinds();
    if kinds.len() > 1 {
        bail!(BadArguments(format!(
            "one source of credentials names {}: keep one",
            kinds.join(" and ")
        )));
    }
    if let Some(command) = &first.credential_process {
        return Ok(Some(CredentialSource::Process(command.clone())));
    }
    if let Some(role) = &first.ecs_ram_role {
        return Ok(Some(CredentialSource::EcsRamRole {
            role: role.clone(),
            endpoint: metadata_endpoint,
        }));
    }
    let id_layer = layers.iter().find(|l| l.access_key_id.is_some());
    let secret = layers.iter().find_map(|l| l.access_key_secret.clone());
    match (id_layer, secret) {
        (Some(l), Some(access_key_secret)) => Ok(Some(CredentialSource::Keys(Credentials {
            access_key_id: l.access_key_id.clone().unwrap_or_default(),
            access_key_secret,
            security_token: l.session_token.clone(),
        }))),
        _ => bail!(BadArguments(
            "an AccessKeyId needs its AccessKeySecret (flags, OSS_ACCESS_KEY_ID/\
             OSS_ACCESS_KEY_SECRET, a profile or the config file)"
                .into()
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
endpoint = "http://127.0.0.1:1"
region = "cn-beijing"
access_key_id = "top-id"
access_key_secret = "top-secret"
session_token = "top-token"

[profile.dev]
region = "cn-shanghai"
access_key_id = "dev-id"
access_key_secret = "dev-secret"

[profile.role]
ecs_ram_role = "uploader"

[profile.cmd]
credential_process = "get-keys --password hunter2"

[profile.both]
ecs_ram_role = "uploader"
credential_process = "get-keys"
"#;

    /// Resolves with `vars` as the whole environment and `FILE` as the config file.
    fn resolve(args: GlobalArgs, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, FILE).unwrap();
        let home = dir.path().display().to_string();
        let env = |name: &str| {
            if name == "HOME" {
                return Some(home.clone());
            }
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        let args = GlobalArgs {
            config: Some(config),
            ..args
        };
        Settings::resolve(&args, &env)
    }

    fn keys(s: &Settings) -> Credentials {
        match &s.credentials {
            Some(CredentialSource::Keys(c)) => c.clone(),
            other => panic!("not keys: {other:?}"),
        }
    }

    #[test]
    fn profile_beats_top_level_and_env_beats_profile() {
        let top = resolve(GlobalArgs::default(), &[]).unwrap();
        assert_eq!(top.region, "cn-beijing");
        assert_eq!(keys(&top).security_token.as_deref(), Some("top-token"));

        let dev = GlobalArgs {
            profile: Some("dev".into()),
            ..GlobalArgs::default()
        };
        let s = resolve(dev.clone(), &[]).unwrap();
        assert_eq!(s.region, "cn-shanghai");
        assert_eq!(
            s.endpoint.as_deref(),
            Some("http://127.0.0.1:1"),
            "top level fills in"
        );
        let k = keys(&s);
        assert_eq!(k.access_key_id, "dev-id");
        assert_eq!(
            k.security_token, None,
            "the top level's token is not the profile's"
        );
        // OSS_PROFILE selects too; the flag wins over it.
        let s = resolve(GlobalArgs::default(), &[("OSS_PROFILE", "dev")]).unwrap();
        assert_eq!(keys(&s).access_key_id, "dev-id");
        let s = resolve(dev.clone(), &[("OSS_PROFILE", "nope")]).unwrap();
        assert_eq!(keys(&s).access_key_id, "dev-id");
        // The environment beats the profile, flags beat the environment.
        let env = [
            ("OSS_REGION", "cn-qingdao"),
            ("OSS_ACCESS_KEY_ID", "env-id"),
            ("OSS_ACCESS_KEY_SECRET", "env-secret"),
        ];
        let s = resolve(dev.clone(), &env).unwrap();
        assert_eq!(
            (s.region.as_str(), keys(&s).access_key_id.as_str()),
            ("cn-qingdao", "env-id")
        );
        let flags = GlobalArgs {
            region: Some("cn-hongkong".into()),
            ..dev
        };
        assert_eq!(resolve(flags, &env).unwrap().region, "cn-hongkong");

        let missing = GlobalArgs {
            profile: Some("nope".into()),
            ..GlobalArgs::default()
        };
        let err = resolve(missing, &[]).unwrap_err();
        assert!(err.to_string().contains("no profile \"nope\""), "{err}");
    }

    #[test]
    fn providers_come_from_profiles_and_environment() {
        let profile = |name: &str| GlobalArgs {
            profile: Some(name.into()),
            ..GlobalArgs::default()
        };
        let s = resolve(
            profile("role"),
            &[("OSSPART_ECS_METADATA_ENDPOINT", "http://127.0.0.1:9")],
        )
        .unwrap();
        match &s.credentials {
            Some(CredentialSource::EcsRamRole { role, endpoint }) => {
                assert_eq!(
                    (role.as_str(), endpoint.as_str()),
                    ("uploader", "http://127.0.0.1:9")
                )
            }
            other => panic!("{other:?}"),
        }
        let s = resolve(profile("cmd"), &[]).unwrap();
        assert!(
            matches!(&s.credentials, Some(CredentialSource::Process(c)) if c.starts_with("get-keys"))
        );
        assert!(s
            .credentials
            .as_ref()
            .unwrap()
            .provider()
            .unwrap()
            .is_some());
        // Keys in the environment beat a profile's provider.
        let s = resolve(
            profile("cmd"),
            &[("OSS_ACCESS_KEY_ID", "e"), ("OSS_ACCESS_KEY_SECRET", "s")],
        )
        .unwrap();
        assert_eq!(keys(&s).access_key_id, "e");
        // A role in the environment beats the file's keys.
        let s = resolve(
            GlobalArgs::default(),
            &[("ALIBABA_CLOUD_ECS_METADATA", "r")],
        )
        .unwrap();
        assert!(
            matches!(&s.credentials, Some(CredentialSource::EcsRamRole { role, endpoint })
            if role == "r" && endpoint == ECS_METADATA_ENDPOINT)
        );
        let err = resolve(profile("both"), &[]).unwrap_err();
        assert!(err.to_string().contains("keep one"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets_and_tokens() {
        let file = ConfigFile::parse(FILE).unwrap();
        let s = resolve(GlobalArgs::default(), &[]).unwrap();
        let cmd = resolve(
            GlobalArgs {
                profile: Some("cmd".into()),
                ..GlobalArgs::default()
            },
            &[],
        )
        .unwrap();
        for shown in [format!("{file:?}"), format!("{s:#?}"), format!("{cmd:?}")] {
            for secret in ["top-secret", "top-token", "dev-secret", "hunter2"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert!(format!("{file:?}").contains("dev-id"));
        assert!(format!("{s:?}").contains("top-id"));
        let masked = toml::to_string(&file.masked()).unwrap();
        assert!(!masked.contains("top-secret") && !masked.contains("top-token"));
        assert!(!masked.contains("dev-secret") && masked.contains("dev-id"));
        assert!(ConfigFile::parse("[profile.a.profile.b]\nregion = \"x\"\n").is_err());
    }
}
