//! The OSS multipart documentation's listing flows: `listUploads` page by page (following
//! key-marker and upload-id-marker), and `listParts` page by page over an upload of more than
//! 1000 parts (following part-number-marker). The uploads it creates are aborted at the end.
//!
//! ```text
//! OSS_ENDPOINT=http://127.0.0.1:9000 OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... \
//! OSSPART_BUCKET=demo cargo run -p osspart --example list_uploads_and_parts
//! ```
//! Exits non-zero when any step fails or a listing misses an upload or part.

pub mod connect;

use anyhow::{ensure, Context};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use osspart::{Client, ListUploadsQuery, ObjectOptions};

/// Uploads created under the prefix.
const UPLOADS: usize = 5;
/// Parts of the big upload: more than one ListParts page of 1000.
const PARTS: u32 = 1005;

/// What the flow observed.
#[derive(Debug)]
pub struct Report {
    /// Uploads on each ListMultipartUploads page (pages of 2).
    pub upload_pages: Vec<usize>,
    /// Parts on each ListParts page (service default page of 1000).
    pub part_pages: Vec<usize>,
    /// Parts the paginator yielded.
    pub parts_streamed: usize,
}

/// Creates uploads under `prefix`, lists them in pages, fills one with 1005 tiny parts, lists
/// those in pages, and aborts everything it created.
pub async fn run(client: &Client, prefix: &str) -> anyhow::Result<Report> {
    let mut created = Vec::new();
    for i in 0..UPLOADS {
        let key = format!("{prefix}object-{i}");
        let id = client
            .init_multipart_upload(&key, &ObjectOptions::default())
            .await?;
        created.push((key, id));
    }
    let result = list_both(client, prefix, &created).await;
    for (key, id) in &created {
        client.abort_multipart_upload(key, id).await?;
    }
    println!("aborted the {} uploads", created.len());
    result
}

async fn list_both(
    client: &Client,
    prefix: &str,
    created: &[(String, String)],
) -> anyhow::Result<Report> {
    // listUploads, two per page, following the markers by hand.
    let mut query = ListUploadsQuery::default()
        .with_prefix(prefix.to_owned())
        .with_max_uploads(2);
    let mut upload_pages = Vec::new();
    let mut listed = Vec::new();
    loop {
        let page = client.list_uploads(&query).await.context("list uploads")?;
        println!("uploads page {}:", upload_pages.len() + 1);
        for u in &page.uploads {
            println!("  {} {} (initiated {})", u.key, u.upload_id, u.initiated);
            listed.push((u.key.clone(), u.upload_id.clone()));
        }
        upload_pages.push(page.uploads.len());
        if !page.is_truncated {
            break;
        }
        query.key_marker = Some(page.next_key_marker);
        query.upload_id_marker = Some(page.next_upload_id_marker);
    }
    listed.sort();
    let mut expected = created.to_vec();
    expected.sort();
    ensure!(listed == expected, "listUploads missed or repeated uploads");

    // listParts over more than 1000 parts.
    let (key, id) = &created[0];
    futures_util::stream::iter(1..=PARTS)
        .map(|n| async move {
            client
                .upload_part(key, id, n, Bytes::from(vec![n as u8]), false)
                .await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .context("upload parts")?;
    println!("uploaded {PARTS} one-byte parts to {key}");
    let mut marker = None;
    let mut part_pages = Vec::new();
    let mut next_number = 1;
    loop {
        let page = client
            .list_parts(key, id, marker, None)
            .await
            .context("list parts")?;
        let (first, last) = (page.parts.first(), page.parts.last());
        println!(
            "parts page {}: {} parts ({:?}..={:?})",
            part_pages.len() + 1,
            page.parts.len(),
            first.map(|p| p.number),
            last.map(|p| p.number)
        );
        for p in &page.parts {
            ensure!(p.number == next_number, "part {next_number} is missing");
            next_number += 1;
        }
        part_pages.push(page.parts.len());
        if !page.is_truncated {
            break;
        }
        marker = Some(page.next_part_number_marker);
    }
    ensure!(
        next_number == PARTS + 1,
        "listParts stopped at {next_number}"
    );
    let streamed = client
        .list_all_parts(key, id)
        .try_collect::<Vec<_>>()
        .await?;
    println!("the paginator yielded {} parts", streamed.len());
    ensure!(
        streamed.len() == PARTS as usize,
        "paginator yielded {}",
        streamed.len()
    );
    Ok(Report {
        upload_pages,
        part_pages,
        parts_streamed: streamed.len(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = connect::client_from_env().await?;
    let prefix = format!("examples/list-{}/", std::process::id());
    let report = run(&client, &prefix).await?;
    println!(
        "{} upload pages, {} part pages",
        report.upload_pages.len(),
        report.part_pages.len()
    );
    Ok(())
}
