//! `osspart`: the command line over the osspart client and server crates. It parses
//! arguments, calls the libraries and prints; no upload logic lives here.
#![forbid(unsafe_code)]

mod commands;
mod exit;
mod ossutil_config;
mod settings;
mod target;
mod tree;
mod upload_flags;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Resumable, parallel multipart upload for Alibaba Cloud OSS, and a local OSS server.
#[derive(Debug, Parser)]
#[command(name = "osspart", version, about, after_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command accepts (flags > environment > the selected profile > the config
/// file's top level > ossutil's config file > defaults).
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Service endpoint (env OSS_ENDPOINT); default: the region's public OSS endpoint, or,
    /// when nothing at all is configured (or with `local`), the embedded local server.
    #[arg(long, global = true, help_heading = "Connection options")]
    pub endpoint: Option<String>,
    /// Region id, e.g. cn-hangzhou (env OSS_REGION).
    #[arg(long, global = true, help_heading = "Connection options")]
    pub region: Option<String>,
    /// AccessKeyId (env OSS_ACCESS_KEY_ID).
    #[arg(long, global = true, help_heading = "Connection options")]
    pub access_key_id: Option<String>,
    /// AccessKeySecret (env OSS_ACCESS_KEY_SECRET).
    #[arg(long, global = true, help_heading = "Connection options")]
    pub access_key_secret: Option<String>,
    /// Signature version: v1 or v4 (default v4).
    #[arg(
        long,
        global = true,
        value_name = "v1|v4",
        help_heading = "Connection options"
    )]
    pub sign: Option<String>,
    /// Use path-style URLs (<endpoint>/<bucket>/<key>).
    #[arg(long, global = true, help_heading = "Connection options")]
    pub path_style: bool,
    /// Per-request timeout in seconds (default 60; scaled up with body size).
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        help_heading = "Connection options"
    )]
    pub timeout: Option<f64>,
    /// Retries per request and per part (default 3).
    #[arg(long, global = true, help_heading = "Connection options")]
    pub retries: Option<u32>,
    /// Profile of the config file to use ([profile.NAME]; ossutil's [NAME]) (env OSS_PROFILE).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Connection options"
    )]
    pub profile: Option<String>,
    /// Config file (default $XDG_CONFIG_HOME/osspart/config.toml).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Connection options"
    )]
    pub config: Option<PathBuf>,
    /// Where cp keeps checkpoints (default $XDG_STATE_HOME/osspart/checkpoints).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Connection options"
    )]
    pub checkpoint_dir: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust beside the system's, e.g. a company proxy's.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Connection options"
    )]
    pub ca_bundle: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true, help_heading = "Output options")]
    pub json: bool,
    /// Say which endpoint, region, addressing style and signature version are used.
    #[arg(short, long, global = true, help_heading = "Output options")]
    pub verbose: bool,
    /// Print only errors and results asked for (no progress, notes, per-file lines or
    /// transfer summaries).
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Output options"
    )]
    pub quiet: bool,
}

/// The global flags that only make sense for commands that talk to a service (hidden from
/// `serve --help`).
const CLIENT_ONLY: [&str; 15] = [
    "endpoint",
    "region",
    "access_key_id",
    "access_key_secret",
    "sign",
    "path_style",
    "timeout",
    "retries",
    "profile",
    "config",
    "checkpoint_dir",
    "ca_bundle",
    "json",
    "quiet",
    "verbose",
];

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload a file (or - for stdin) to oss://bucket/key, download an object to a file, or
    /// copy a whole directory tree either way with -r.
    Cp(commands::cp::CpArgs),
    /// Make a destination tree match a source tree (either direction), transferring only
    /// what differs.
    Sync(commands::sync::SyncArgs),
    /// List objects under oss://bucket[/prefix].
    Ls(commands::ls::LsArgs),
    /// Show an object's size, ETag, CRC-64, type and metadata.
    Head(commands::head::HeadArgs),
    /// Delete an object.
    Rm(commands::rm::RmArgs),
    /// Create a bucket.
    Mb(commands::bucket::BucketArgs),
    /// Delete an empty bucket.
    Rb(commands::bucket::BucketArgs),
    /// In-progress multipart uploads: list, abort, clean up orphans.
    #[command(
        subcommand,
        after_long_help = concat!(
            "Examples:\n",
            "  osspart uploads ls oss://demo                      uploads in progress\n",
            "  osspart uploads clean oss://demo --older-than 7d --dry-run\n",
            "  osspart uploads abort oss://demo/disk.img --upload-id ID",
        )
    )]
    Uploads(commands::uploads::UploadsCommand),
    /// Parts of an in-progress upload.
    #[command(subcommand)]
    Parts(commands::parts::PartsCommand),
    /// Abort one multipart upload (same as `uploads abort`).
    Abort(commands::uploads::AbortArgs),
    /// A URL that allows one GET or PUT (HEAD, DELETE) of an object without keys.
    Presign(commands::presign::PresignArgs),
    /// Write the config file (endpoint, region, credentials; mode 0600).
    Config(commands::config::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `osspart man > osspart.1`.
    Man,
    /// Run a durable, single-node OSS-compatible server.
    Serve(commands::serve::ServeArgs),
}

/// The command line definition; when the command is `serve`, the client-only flags are hidden
/// from its help (they are global, so clap would list them under every command).
fn command() -> clap::Command {
    let serving = std::env::args_os()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .is_some_and(|a| a == "serve");
    let cmd = Cli::command();
    if !serving {
        return cmd;
    }
    CLIENT_ONLY
        .iter()
        .fold(cmd, |cmd, id| cmd.mut_arg(*id, |a| a.hide(true)))
}

fn main() -> std::process::ExitCode {
    let matches = command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Include/exclude rules apply in the order given, across both flags.
    if let Some((_, sub)) = matches.subcommand() {
        match &mut cli.command {
            Command::Cp(args) => args.tree.take_rule_order(sub),
            Command::Sync(args) => args.tree.take_rule_order(sub),
            _ => {}
        }
    }
    let json = cli.global.json;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OSSPART_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    let env = |name: &str| std::env::var(name).ok();
    // The command runs as a task on the runtime's workers, beside the connection tasks it
    // wakes, rather than on this thread: each request answer would otherwise cross threads.
    let command = runtime.spawn(async move {
        let settings = || {
            let s = settings::Settings::resolve(&cli.global, &env)?;
            if s.verbose {
                eprintln!("using {}", s.describe());
            }
            anyhow::Ok(s)
        };
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Completions { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut command(), "osspart", &mut script);
                Ok(std::io::Write::write_all(&mut std::io::stdout(), &script)?)
            }
            Command::Man => Ok(clap_mangen::Man::new(command()).render(&mut std::io::stdout())?),
            Command::Config(args) => commands::config::run(args, &cli.global, &env),
            Command::Cp(args) => commands::cp::run(args, &settings()?).await,
            Command::Sync(args) => commands::sync::run(args, &settings()?).await,
            Command::Ls(args) => commands::ls::run(args, &settings()?).await,
            Command::Head(args) => commands::head::run(args, &settings()?).await,
            Command::Rm(args) => commands::rm::run(args, &settings()?).await,
            Command::Mb(args) => commands::bucket::make(args, &settings()?).await,
            Command::Rb(args) => commands::bucket::remove(args, &settings()?).await,
            Command::Uploads(cmd) => commands::uploads::run(cmd, &settings()?).await,
            Command::Parts(cmd) => commands::parts::run(cmd, &settings()?).await,
            Command::Abort(args) => commands::uploads::abort(args, &settings()?).await,
            Command::Presign(args) => commands::presign::run(args, &settings()?).await,
        }
    });
    let result = runtime
        .block_on(command)
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the command failed: {e}")));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let code = exit::code_for(&e);
            if json {
                eprintln!(
                    "{}",
                    serde_json::json!({"error": format!("{e:#}"), "exit_code": code})
                );
            } else {
                eprintln!("osspart: {e:#}");
            }
            std::process::ExitCode::from(code)
        }
    }
}
