//! `osspart`: the command line over the osspart client and server crates.
#![forbid(unsafe_code)]

mod commands;

use clap::{Parser, Subcommand};

/// Resumable, parallel multipart upload for Alibaba Cloud OSS, and a local OSS server.
#[derive(Debug, Parser)]
#[command(name = "osspart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a durable, single-node OSS-compatible server.
    Serve(commands::serve::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osspart: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
