//! `osspart sync`: make a destination tree match a source tree, in either direction,
//! transferring only what differs (see [`crate::tree`]).

use clap::Args;

use crate::settings::Settings;
use crate::tree::TreeArgs;
use crate::upload_flags::UploadArgs;

/// Flags of `osspart sync`.
#[derive(Debug, Args)]
#[command(
    after_help = crate::tree::MEMORY_HELP,
    after_long_help = concat!(
        "Examples:\n",
        "  osspart sync ./site oss://web/site/ --delete          mirror a directory\n",
        "  osspart sync oss://backups/db/ ./restore --checksum   fetch what differs by CRC-64\n",
        "  osspart sync ./data oss://lake/raw/ --exclude '*.tmp' --dry-run\n",
    )
)]
pub struct SyncArgs {
    /// Source: a directory, or oss://bucket/prefix/.
    source: String,
    /// Destination: oss://bucket/prefix/, or a directory.
    destination: String,
    /// Delete what the destination has and the source lacks (never excluded paths).
    #[arg(long)]
    delete: bool,
    #[command(flatten)]
    upload: UploadArgs,
    #[command(flatten)]
    pub tree: TreeArgs,
}

/// Runs the sync.
pub async fn run(args: SyncArgs, settings: &Settings) -> anyhow::Result<()> {
    crate::tree::run(
        &args.source,
        &args.destination,
        &args.upload,
        &args.tree,
        args.delete,
        settings,
    )
    .await
}
