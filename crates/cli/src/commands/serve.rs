//! `osspart serve`: run the local OSS server until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use osspart_protocol::sign::Credentials;
use osspart_server::{RunningServer, ServerConfig};

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
    /// Accept unsigned requests (local experiments only; never the default).
    #[arg(long)]
    anonymous: bool,
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
    if config.credentials.is_empty() && !config.anonymous {
        bail!("no credentials configured: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, pass --config, or use --anonymous");
    }
    let keys: Vec<String> = config
        .credentials
        .iter()
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
