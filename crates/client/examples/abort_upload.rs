//! The OSS multipart documentation's abort flow: initiate an upload, upload a part, abort it,
//! and show that ListParts then answers NoSuchUpload.
//!
//! ```text
//! OSS_ENDPOINT=http://127.0.0.1:9000 OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... \
//! OSSPART_BUCKET=demo cargo run -p osspart --example abort_upload
//! ```
//! Exits non-zero when any step fails or the upload survives the abort.

pub mod connect;

use anyhow::{bail, Context};
use bytes::Bytes;
use osspart::{Client, ObjectOptions};

/// What the flow observed.
#[derive(Debug)]
pub struct Report {
    /// The aborted upload.
    pub upload_id: String,
    /// ETag of the part uploaded before the abort.
    pub part_etag: String,
    /// The error code ListParts gave after the abort.
    pub list_parts_code: String,
}

/// Initiates an upload of `key`, uploads one part, aborts, and checks the upload is gone.
pub async fn run(client: &Client, key: &str) -> anyhow::Result<Report> {
    let upload_id = client
        .init_multipart_upload(key, &ObjectOptions::default())
        .await
        .context("initiate")?;
    println!("initiated upload {upload_id}");
    let part = client
        .upload_part(
            key,
            &upload_id,
            1,
            Bytes::from(vec![7u8; 100 * 1024]),
            false,
        )
        .await
        .context("upload part 1")?;
    println!("uploaded part 1: {}", part.etag);
    client
        .abort_multipart_upload(key, &upload_id)
        .await
        .context("abort")?;
    println!("aborted upload {upload_id}");
    let code = match client.list_parts(key, &upload_id, None, None).await {
        Ok(page) => bail!(
            "upload {upload_id} still lists {} parts after the abort",
            page.parts.len()
        ),
        Err(e) if e.code() == Some("NoSuchUpload") => e.code().unwrap_or_default().to_owned(),
        Err(e) => return Err(e).context("list parts after abort"),
    };
    println!("list parts after the abort: {code}");
    Ok(Report {
        upload_id,
        part_etag: part.etag,
        list_parts_code: code,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let client = connect::client_from_env().await?;
    run(&client, "examples/abort_upload.bin").await?;
    Ok(())
}
