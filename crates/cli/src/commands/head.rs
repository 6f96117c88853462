//! `osspart head oss://bucket/key`.

use clap::Args;
use serde_json::json;

use super::{human_bytes, print_json};
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// Flags of `osspart head`.
#[derive(Debug, Args)]
pub struct HeadArgs {
    /// oss://bucket/key
    target: String,
}

/// Prints size, ETag, CRC-64, type, content type and metadata.
pub async fn run(args: HeadArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = OssUrl::require_object(&args.target)?;
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let info = client.head_object(&url.key).await;
    // The ACL takes its own request; a service that refuses it only leaves it out.
    let acl = match &info {
        Ok(_) => client.get_object_acl(&url.key).await.ok(),
        Err(_) => None,
    };
    service.close().await;
    let info = info?;
    let h = |name: &str| info.response.header(name).map(str::to_owned);
    if settings.json {
        print_json(&json!({
            "bucket": url.bucket, "key": url.key, "size": info.size, "etag": info.etag,
            "crc64": info.crc64.map(|c| c.to_string()), "type": info.object_type,
            "content_type": info.content_type,
            "last_modified": info.response.header("last-modified"),
            "storage_class": h("x-oss-storage-class"),
            "acl": acl,
            "server_side_encryption": h("x-oss-server-side-encryption"),
            "tagging_count": h("x-oss-tagging-count").and_then(|n| n.parse::<u64>().ok()),
            "cache_control": h("cache-control"),
            "content_disposition": h("content-disposition"),
            "expires": h("expires"),
            "meta": info.meta.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        }));
    } else {
        println!("key:           oss://{}/{}", url.bucket, url.key);
        println!("size:          {} ({})", info.size, human_bytes(info.size));
        println!("etag:          {}", info.etag);
        println!(
            "crc64:         {}",
            info.crc64.map(|c| c.to_string()).unwrap_or_default()
        );
        println!("type:          {}", info.object_type);
        println!("content-type:  {}", info.content_type.unwrap_or_default());
        println!(
            "last-modified: {}",
            info.response.header("last-modified").unwrap_or_default()
        );
        if let Some(acl) = &acl {
            println!("acl:           {acl}");
        }
        for (label, name) in [
            ("storage-class", "x-oss-storage-class"),
            ("encryption", "x-oss-server-side-encryption"),
            ("tags", "x-oss-tagging-count"),
            ("cache-control", "cache-control"),
            ("disposition", "content-disposition"),
            ("expires", "expires"),
        ] {
            if let Some(v) = h(name) {
                println!("{:15}{v}", format!("{label}:"));
            }
        }
        for (k, v) in &info.meta {
            println!("meta:          {k}={v}");
        }
    }
    Ok(())
}
