//! One `multipart_upload` and nothing else, so the client benchmark (`client_bench`) can measure
//! osspart's own CPU time and peak RSS as a separate process, like it does for the other SDKs.
//!
//! Usage: `osspart_upload BUCKET KEY FILE|- PARALLEL PART_SIZE`
//! (`-` reads standard input as a stream of unknown size). Environment: `OSSPART_ENDPOINT`,
//! `OSSPART_REGION` (default cn-hangzhou), `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`.
//! Prints one JSON line: the upload's own wall time, parts sent and the object's CRC-64.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use osspart::{Client, Config, Credentials, Source, UploadOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bucket, key, file, parallel, part_size] = args.as_slice() else {
        bail!("usage: osspart_upload BUCKET KEY FILE|- PARALLEL PART_SIZE");
    };
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let credentials = Credentials {
        access_key_id: env("OSS_ACCESS_KEY_ID")?,
        access_key_secret: env("OSS_ACCESS_KEY_SECRET")?,
        security_token: None,
    };
    let region = std::env::var("OSSPART_REGION").unwrap_or_else(|_| "cn-hangzhou".into());
    let client = Client::new(Config::new(
        env("OSSPART_ENDPOINT")?,
        region,
        bucket.as_str(),
        credentials,
    ))?;
    let options = UploadOptions::default()
        .with_parallel(parallel.parse().context("PARALLEL")?)
        .with_part_size(part_size.parse().context("PART_SIZE")?);
    // The runtime a typical program would use: one worker per core.
    let runtime = tokio::runtime::Runtime::new()?;
    let started = Instant::now();
    let out = runtime.block_on(async {
        let source = if file == "-" {
            Source::blocking_reader(std::io::stdin())
        } else {
            Source::File(PathBuf::from(file))
        };
        client.multipart_upload(key, source, options).await
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"sdk\":\"osspart\",\"seconds\":{seconds},\"size\":{},\"parts_sent\":{},\"crc64\":\"{}\"}}",
        out.size, out.parts_sent, out.crc64
    );
    Ok(())
}
