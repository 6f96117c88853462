//! `osspart ls oss://bucket[/prefix]` (and `osspart ls` for buckets).

use clap::Args;
use osspart::ListObjectsQuery;
use serde_json::json;

use super::{human_bytes, print_json};
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// Flags of `osspart ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// oss://bucket[/prefix]; without it, lists buckets.
    target: Option<String>,
    /// List everything under the prefix, not only one level.
    #[arg(short, long)]
    recursive: bool,
}

/// Lists objects (all pages) or buckets.
pub async fn run(args: LsArgs, settings: &Settings) -> anyhow::Result<()> {
    let service = Service::connect(settings).await?;
    let result = list(&args, settings, &service).await;
    service.close().await;
    result
}

async fn list(args: &LsArgs, settings: &Settings, service: &Service) -> anyhow::Result<()> {
    let Some(target) = &args.target else {
        let names = service.client("")?.list_buckets().await?;
        for name in &names {
            if settings.json {
                print_json(&json!({"bucket": name}));
            } else {
                println!("oss://{name}");
            }
        }
        return Ok(());
    };
    let url = OssUrl::require(target)?;
    let client = service.client(&url.bucket)?;
    let mut q = ListObjectsQuery::default().with_max_keys(1000);
    q.prefix = (!url.key.is_empty()).then(|| url.key.clone());
    q.delimiter = (!args.recursive).then(|| "/".to_owned());
    // Walk the pages, printing prefixes and objects as they come.
    let (mut count, mut bytes) = (0u64, 0u64);
    loop {
        let page = client.list_objects(&q).await?;
        for p in &page.common_prefixes {
            if settings.json {
                print_json(&json!({"prefix": format!("oss://{}/{p}", url.bucket)}));
            } else {
                println!("{:>28}  {:>12}  oss://{}/{p}", "", "DIR", url.bucket);
            }
        }
        for o in &page.objects {
            count += 1;
            bytes += o.size;
            if settings.json {
                print_json(
                    &json!({"key": o.key, "size": o.size, "etag": o.etag, "type": o.object_type, "last_modified": o.last_modified}),
                );
            } else {
                println!(
                    "{:>28}  {:>12}  oss://{}/{}",
                    o.last_modified, o.size, url.bucket, o.key
                );
            }
        }
        match (page.is_truncated, page.next_marker) {
            (true, Some(m)) => q.marker = Some(m),
            _ => break,
        }
    }
    if !settings.json {
        println!(
            "{}, {}",
            super::count(count as usize, "object"),
            human_bytes(bytes)
        );
    }
    Ok(())
}
