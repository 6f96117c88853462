//! `osspart parts ls oss://bucket/key --upload-id ID`.

use clap::Subcommand;
use futures_util::TryStreamExt;
use osspart::PartInfo;
use serde_json::json;

use super::{human_bytes, print_json};
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// `osspart parts ...`
#[derive(Debug, Subcommand)]
pub enum PartsCommand {
    /// List the parts of an upload (all pages): number, size, etag, crc64, last modified.
    Ls {
        /// oss://bucket/key
        target: String,
        /// The upload.
        #[arg(long)]
        upload_id: String,
    },
}

/// Runs a `parts` subcommand.
pub async fn run(cmd: PartsCommand, settings: &Settings) -> anyhow::Result<()> {
    let PartsCommand::Ls { target, upload_id } = cmd;
    let url = OssUrl::require_object(&target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let parts: Result<Vec<PartInfo>, _> = client
        .list_all_parts(&url.key, &upload_id)
        .try_collect()
        .await;
    service.close().await;
    let parts = parts?;
    let total: u64 = parts.iter().map(|p| p.size).sum();
    for p in &parts {
        if settings.json {
            print_json(
                &json!({"number": p.number, "size": p.size, "etag": p.etag, "crc64": p.crc64.map(|c| c.to_string()), "last_modified": p.last_modified}),
            );
        } else {
            println!(
                "{:>5}  {:>12}  {}  {:>20}  {}",
                p.number,
                p.size,
                p.etag,
                p.crc64.map(|c| c.to_string()).unwrap_or_default(),
                p.last_modified
            );
        }
    }
    if settings.json {
        print_json(&json!({"parts": parts.len(), "total_bytes": total}));
    } else {
        println!(
            "{}, {} ({total} bytes)",
            super::count(parts.len(), "part"),
            human_bytes(total)
        );
    }
    Ok(())
}
