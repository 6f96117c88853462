//! Uploads one file with Apache OpenDAL's OSS writer, as an application would: the file is read
//! in part-sized buffers that are handed to `Writer::write` without a copy, and the writer runs
//! a multipart upload of `--chunk` parts with `--concurrent` of them in flight.
//!
//! Usage: `osspart-bench-opendal FILE BUCKET KEY [--chunk BYTES] [--concurrent N]` (defaults
//! 8 MiB and 5), with `OSSPART_ENDPOINT` (`http://127.0.0.1:PORT`), `OSS_ACCESS_KEY_ID` and
//! `OSS_ACCESS_KEY_SECRET` in the environment. Path-style addressing, as the other peers use.
//! Prints the uploaded byte count on success.

use std::process::ExitCode;

use opendal::services::Oss;
use opendal::{HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use tokio::io::AsyncReadExt;

struct Args {
    file: String,
    bucket: String,
    key: String,
    chunk: usize,
    concurrent: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut chunk = 8 << 20;
    let mut concurrent = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--chunk" => chunk = value("--chunk")?,
            "--concurrent" => concurrent = value("--concurrent")?,
            _ => positional.push(a),
        }
    }
    let [file, bucket, key] = <[String; 3]>::try_from(positional).map_err(|_| {
        "usage: osspart-bench-opendal FILE BUCKET KEY [--chunk BYTES] [--concurrent N]"
    })?;
    Ok(Args {
        file,
        bucket,
        key,
        chunk,
        concurrent,
    })
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn operator(bucket: &str) -> Result<Operator, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let builder = Oss::default()
        .bucket(bucket)
        .endpoint(&env("OSSPART_ENDPOINT")?)
        .addressing_style("path")
        .access_key_id(&env("OSS_ACCESS_KEY_ID")?)
        .access_key_secret(&env("OSS_ACCESS_KEY_SECRET")?);
    let op = Operator::new(builder).map_err(|e| format!("operator: {e}"))?;
    let transport = HttpTransporter::new(ReqwestTransport::new(client));
    Ok(op.with_context(OperationContext::new().with_http_transport(transport)))
}

async fn upload(args: &Args) -> Result<u64, String> {
    let op = operator(&args.bucket)?;
    let mut file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|e| format!("open {}: {e}", args.file))?;
    let mut writer = op
        .writer_with(&args.key)
        .chunk(args.chunk)
        .concurrent(args.concurrent)
        .await
        .map_err(|e| format!("writer: {e}"))?;
    let mut sent = 0u64;
    loop {
        // A fresh part-sized buffer each time: the writer keeps it until its part is sent.
        let mut buf = Vec::with_capacity(args.chunk);
        while buf.len() < args.chunk {
            let n = (&mut file)
                .take((args.chunk - buf.len()) as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| format!("read {}: {e}", args.file))?;
            if n == 0 {
                break;
            }
        }
        if buf.is_empty() {
            break;
        }
        sent += buf.len() as u64;
        writer.write(buf).await.map_err(|e| format!("write: {e}"))?;
    }
    writer.close().await.map_err(|e| format!("close: {e}"))?;
    Ok(sent)
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match parse_args() {
        Ok(args) => upload(&args).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(n) => {
            println!("uploaded {n} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("osspart-bench-opendal: {e}");
            ExitCode::FAILURE
        }
    }
}
