//! `osspart serve`: run the local OSS server until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use osspart_protocol::sign::Credentials;
use osspart_server::config::Limits;
use osspart_server::{RunningServer, ServerConfig};

use super::{parse_age, parse_size};

/// Flags of `osspart serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// TOML file with region, credentials (including STS) and cname bindings.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Region the server claims (V4 scopes must name it).
    #[arg(long)]
    region: Option<String>,
    /// AccessKeyId to accept.
    #[arg(long, env = "OSS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
    /// AccessKeySecret of that key.
    #[arg(long, env = "OSS_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: Option<String>,
    /// Accept unsigned requests as the default account (local experiments only; never the
    /// default). Refused together with any configured key.
    #[arg(long)]
    anonymous: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Connection limits and timeouts; each overrides the config file's `[limits]` key of the
/// same name (with `_` for `-`).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Connections served at once; at the limit the longest-idle one is closed for a new one,
    /// and when none is idle new connections get 503 SlowDown [default: 4096]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Time a client has from the first byte of a request head to its end [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    header_read_timeout: Option<Duration>,
    /// Time a connection may wait for its next request [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    idle_timeout: Option<Duration>,
    /// Time a client may stop reading an answer before its connection is dropped [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    write_stall_timeout: Option<Duration>,
    /// Time an upload body may go without a byte before the request fails [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    body_stall_timeout: Option<Duration>,
    /// Largest request head (request line and headers) [default: 64KiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_header_bytes: Option<u64>,
    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    shutdown_grace: Option<Duration>,
}

impl LimitArgs {
    /// Applies the limits given on the command line.
    fn apply(&self, limits: &mut Limits) {
        if let Some(n) = self.max_connections {
            limits.max_connections = n.max(1);
        }
        let set = |v: Option<Duration>, d: &mut Duration| {
            if let Some(v) = v.filter(|v| !v.is_zero()) {
                *d = v;
            }
        };
        set(self.header_read_timeout, &mut limits.header_read_timeout);
        set(self.idle_timeout, &mut limits.idle_timeout);
        set(self.write_stall_timeout, &mut limits.write_stall_timeout);
        set(self.body_stall_timeout, &mut limits.body_stall_timeout);
        set(self.shutdown_grace, &mut limits.shutdown_grace);
        if let Some(n) = self.max_header_bytes {
            limits.max_header_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
    }
}

/// Starts the server, prints how to reach it, and serves until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(&args.data, args.addr);
    if let Some(file) = &args.config {
        config.merge_file(file)?;
    }
    // The flag/environment pair counts when no file configured any credential.
    if config.credentials.is_empty() {
        match (args.access_key_id, args.access_key_secret) {
            (Some(id), Some(secret)) => config.credentials.push(Credentials {
                access_key_id: id,
                access_key_secret: secret,
                security_token: None,
            }),
            (None, None) => {}
            _ => bail!("give both an AccessKeyId and an AccessKeySecret (flags or OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET)"),
        }
    }
    if let Some(region) = args.region {
        config.region = osspart_protocol::sign::v4::scope_region(&region).to_owned();
    }
    config.anonymous = args.anonymous;
    args.limits.apply(&mut config.limits);
    config.validate()?;
    if config.credentials.is_empty() && config.accounts.is_empty() && !config.anonymous {
        bail!("no credentials configured: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, pass --config, or use --anonymous");
    }
    let keys: Vec<String> = config
        .credentials
        .iter()
        .chain(config.accounts.iter().flat_map(|a| a.credentials.iter()))
        .map(|c| c.access_key_id.clone())
        .collect();
    let region = config.region.clone();
    let data = config.data_dir.clone();
    let server = RunningServer::start(config)
        .await
        .with_context(|| format!("cannot start the server on {}", data.display()))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.endpoint())?;
        writeln!(out, "data directory: {}", data.display())?;
        writeln!(out, "region: {region}")?;
        if keys.is_empty() {
            writeln!(out, "auth: off (--anonymous)")?;
        } else {
            writeln!(out, "accepting AccessKeyId: {}", keys.join(", "))?;
        }
        out.flush()?;
    }
    server.run_until_signal().await;
    Ok(())
}
