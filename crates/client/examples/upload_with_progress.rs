//! The OSS multipart documentation's first flow: `multipartUpload` of a file with a progress
//! callback and user metadata `{year: 2020, people: 'test'}`, then `head` to read it back.
//!
//! ```text
//! OSS_ENDPOINT=http://127.0.0.1:9000 OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... \
//! OSSPART_BUCKET=demo cargo run -p osspart --example upload_with_progress [FILE]
//! ```
//! Without FILE a 3.5 MiB file is generated. Exits non-zero when any step fails.

pub mod connect;

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{ensure, Context};
use osspart::{Client, ObjectOptions, ProgressCallback, ProgressEvent, UploadOptions};

/// What the flow observed.
#[derive(Debug)]
pub struct Report {
    /// Every progress fraction reported, in order.
    pub fractions: Vec<f64>,
    /// Parts the upload sent.
    pub parts: u32,
    /// The object's ETag (multipart form).
    pub etag: String,
    /// User metadata read back by HEAD.
    pub meta: Vec<(String, String)>,
    /// Size read back by HEAD.
    pub size: u64,
}

/// Uploads `file` as `key` with progress and meta, then checks it with HEAD.
pub async fn run(client: &Client, key: &str, file: &Path) -> anyhow::Result<Report> {
    let fractions = Arc::new(Mutex::new(Vec::new()));
    let seen = fractions.clone();
    let progress = ProgressCallback::new(move |p| {
        seen.lock().unwrap().push(p.fraction);
        match &p.event {
            ProgressEvent::Initiated { upload_id } => println!("initiated upload {upload_id}"),
            ProgressEvent::PartDone { number, .. } => {
                println!("part {number} done: {:.0}%", p.fraction * 100.0)
            }
            ProgressEvent::Completed { etag } => println!("completed: {etag} (100%)"),
            _ => {}
        }
    });
    let options = UploadOptions::default()
        .with_progress(progress)
        .with_object(ObjectOptions::default().with_meta(vec![
            ("year".into(), "2020".into()),
            ("people".into(), "test".into()),
        ]));
    let out = client
        .multipart_upload(key, file, options)
        .await
        .context("multipart upload")?;
    let info = client.head_object(key).await.context("head")?;
    println!(
        "head {key}: {} bytes, etag {}, meta {:?}",
        info.size, info.etag, info.meta
    );
    ensure!(info.etag == out.etag, "HEAD shows another ETag");
    ensure!(
        info.meta.contains(&("year".into(), "2020".into()))
            && info.meta.contains(&("people".into(), "test".into())),
        "metadata did not arrive: {:?}",
        info.meta
    );
    let fractions = fractions.lock().unwrap().clone();
    Ok(Report {
        fractions,
        parts: out.parts_sent,
        etag: info.etag,
        meta: info.meta,
        size: info.size,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = connect::client_from_env().await?;
    let (file, generated) = match std::env::args_os().nth(1) {
        Some(f) => (std::path::PathBuf::from(f), false),
        None => {
            let f =
                std::env::temp_dir().join(format!("osspart-example-{}.bin", std::process::id()));
            let data: Vec<u8> = (0..3_670_016u32).map(|i| (i % 251) as u8).collect();
            std::fs::write(&f, data)?;
            (f, true)
        }
    };
    let result = run(&client, "examples/upload_with_progress.bin", &file).await;
    if generated {
        let _ = std::fs::remove_file(&file);
    }
    let report = result?;
    println!("uploaded {} bytes in {} parts", report.size, report.parts);
    Ok(())
}
