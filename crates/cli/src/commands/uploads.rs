//! `osspart uploads ls|abort|clean` and `osspart abort`.

use clap::{Args, Subcommand};
use futures_util::TryStreamExt;
use osspart::{ListUploadsQuery, UploadInfo};
use osspart_protocol::time_fmt;
use serde_json::json;
use time::OffsetDateTime;

use super::{parse_age, print_json};
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// `osspart uploads ...`
#[derive(Debug, Subcommand)]
pub enum UploadsCommand {
    /// List in-progress uploads (all pages): id, key, initiated, age.
    Ls {
        /// oss://bucket[/prefix]
        target: String,
    },
    /// Abort one upload.
    Abort(AbortArgs),
    /// Abort uploads older than an age (orphans).
    Clean {
        /// oss://bucket[/prefix]
        target: String,
        /// Minimum age, e.g. 7d, 12h, 30m.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: std::time::Duration,
        /// Only show what would be aborted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Flags of `uploads abort` / `abort`.
#[derive(Debug, Args)]
pub struct AbortArgs {
    /// oss://bucket/key
    target: String,
    /// The upload to abort.
    #[arg(long)]
    upload_id: String,
}

/// Runs an `uploads` subcommand.
pub async fn run(cmd: UploadsCommand, settings: &Settings) -> anyhow::Result<()> {
    match cmd {
        UploadsCommand::Ls { target } => list(&target, settings).await,
        UploadsCommand::Abort(args) => abort(args, settings).await,
        UploadsCommand::Clean {
            target,
            older_than,
            dry_run,
        } => clean(&target, older_than, dry_run, settings).await,
    }
}

async fn all_uploads(
    target: &str,
    settings: &Settings,
) -> anyhow::Result<(Service, osspart::Client, Vec<UploadInfo>)> {
    let url = OssUrl::require(target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let mut q = ListUploadsQuery::default();
    q.prefix = (!url.key.is_empty()).then(|| url.key.clone());
    let uploads = client.list_all_uploads(q).try_collect().await;
    match uploads {
        Ok(u) => Ok((service, client, u)),
        Err(e) => {
            service.close().await;
            Err(e.into())
        }
    }
}

fn age_secs(u: &UploadInfo, now: OffsetDateTime) -> Option<i64> {
    time_fmt::parse_xml_timestamp(&u.initiated).map(|t| (now - t).whole_seconds().max(0))
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

async fn list(target: &str, settings: &Settings) -> anyhow::Result<()> {
    let (service, client, uploads) = all_uploads(target, settings).await?;
    let now = OffsetDateTime::now_utc();
    for u in &uploads {
        let age = age_secs(u, now).unwrap_or(0);
        if settings.json {
            print_json(
                &json!({"bucket": client.bucket(), "key": u.key, "upload_id": u.upload_id, "initiated": u.initiated, "age_seconds": age}),
            );
        } else {
            println!(
                "{}  {}  {:>5}  oss://{}/{}",
                u.upload_id,
                u.initiated,
                human_age(age),
                client.bucket(),
                u.key
            );
        }
    }
    if !settings.json {
        println!("{} in progress", super::count(uploads.len(), "upload"));
    }
    service.close().await;
    Ok(())
}

/// Aborts one upload.
pub async fn abort(args: AbortArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = OssUrl::require_object(&args.target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let result = client
        .abort_multipart_upload(&url.key, &args.upload_id)
        .await;
    service.close().await;
    result?;
    if settings.json {
        print_json(&json!({"aborted": args.upload_id, "key": url.key}));
    } else {
        println!(
            "aborted {} (oss://{}/{})",
            args.upload_id, url.bucket, url.key
        );
    }
    Ok(())
}

async fn clean(
    target: &str,
    older_than: std::time::Duration,
    dry_run: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let (service, client, uploads) = all_uploads(target, settings).await?;
    let now = OffsetDateTime::now_utc();
    let mut aborted = 0;
    let mut result = Ok(());
    for u in uploads
        .iter()
        .filter(|u| age_secs(u, now).is_some_and(|a| a as u64 >= older_than.as_secs()))
    {
        if !dry_run {
            if let Err(e) = client.abort_multipart_upload(&u.key, &u.upload_id).await {
                if !e.is_not_found() {
                    result = Err(e);
                    break;
                }
            }
        }
        aborted += 1;
        if settings.json {
            print_json(
                &json!({"key": u.key, "upload_id": u.upload_id, "initiated": u.initiated, "aborted": !dry_run}),
            );
        } else {
            println!(
                "{} {}  oss://{}/{}",
                if dry_run { "would abort" } else { "aborted" },
                u.upload_id,
                client.bucket(),
                u.key
            );
        }
    }
    service.close().await;
    result?;
    if !settings.json {
        println!(
            "{} {}",
            super::count(aborted, "upload"),
            if dry_run {
                "would be aborted"
            } else {
                "aborted"
            }
        );
    }
    Ok(())
}
