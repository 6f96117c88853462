//! `osspart rm oss://bucket/key`.

use clap::Args;
use serde_json::json;

use super::print_json;
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// Flags of `osspart rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// oss://bucket/key
    target: String,
}

/// Deletes one object.
pub async fn run(args: RmArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = OssUrl::require_object(&args.target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let result = client.delete_object(&url.key).await;
    service.close().await;
    result?;
    if settings.json {
        print_json(&json!({"deleted": format!("oss://{}/{}", url.bucket, url.key)}));
    } else {
        println!("deleted oss://{}/{}", url.bucket, url.key);
    }
    Ok(())
}
