//! `osspart mb` and `osspart rb`.

use clap::Args;
use serde_json::json;

use super::print_json;
use crate::exit::BadArguments;
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// Flags of `osspart mb` / `rb`.
#[derive(Debug, Args)]
pub struct BucketArgs {
    /// oss://bucket
    target: String,
}

fn bucket_of(target: &str) -> anyhow::Result<String> {
    let url = OssUrl::require(target)?;
    if !url.key.is_empty() {
        return Err(BadArguments(format!("{target:?} names an object; give oss://bucket")).into());
    }
    Ok(url.bucket)
}

/// Creates a bucket.
pub async fn make(args: BucketArgs, settings: &Settings) -> anyhow::Result<()> {
    let bucket = bucket_of(&args.target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&bucket)?;
    let result = client.create_bucket().await;
    service.close().await;
    result?;
    if settings.json {
        print_json(&json!({"created": bucket}));
    } else {
        println!("created oss://{bucket}");
    }
    Ok(())
}

/// Deletes an empty bucket.
pub async fn remove(args: BucketArgs, settings: &Settings) -> anyhow::Result<()> {
    let bucket = bucket_of(&args.target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&bucket)?;
    let result = client.delete_bucket().await;
    service.close().await;
    result?;
    if settings.json {
        print_json(&json!({"removed": bucket}));
    } else {
        println!("removed oss://{bucket}");
    }
    Ok(())
}
