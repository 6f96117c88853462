//! `osspart presign oss://bucket/key`: a URL that lets a browser or curl GET (or PUT, HEAD,
//! DELETE) one object without keys, until it expires.

use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{parse_age, print_json};
use crate::exit::BadArguments;
use crate::settings::Settings;
use crate::target::{OssUrl, Service};

/// The longest a V4-signed URL may live (OSS's limit).
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// Flags of `osspart presign`.
#[derive(Debug, Args)]
#[command(after_long_help = "Examples:\n  \
    osspart presign oss://demo/report.pdf --expires 1d\n  \
    url=$(osspart presign oss://demo/upload.bin --method PUT --expires 15m)\n  \
    curl -T upload.bin \"$url\"")]
pub struct PresignArgs {
    /// oss://bucket/key
    target: String,
    /// The HTTP method the URL allows.
    #[arg(long, value_enum, default_value = "GET")]
    method: PresignMethod,
    /// How long the URL works: 30s, 15m, 1h, 7d (at most 7 days).
    #[arg(long, default_value = "1h", value_parser = parse_age)]
    expires: Duration,
}

/// Methods a presigned URL can allow.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum PresignMethod {
    Get,
    Put,
    Head,
    Delete,
}

/// Prints the presigned URL.
pub async fn run(args: PresignArgs, settings: &Settings) -> anyhow::Result<()> {
    let url = OssUrl::require_object(&args.target)?;
    if args.expires.is_zero() || args.expires > MAX_LIFETIME {
        return Err(BadArguments("--expires must be between 1s and 7d".into()).into());
    }
    if settings.endpoint.is_none() {
        return Err(BadArguments(
            "the embedded local server stops when the command ends, so a URL to it would not \
             work: run `osspart serve` and pass its --endpoint, or configure OSS"
                .into(),
        )
        .into());
    }
    let service = Service::connect(settings).await?;
    let client = service.client(&url.bucket)?;
    let method = match args.method {
        PresignMethod::Get => osspart::Method::GET,
        PresignMethod::Put => osspart::Method::PUT,
        PresignMethod::Head => osspart::Method::HEAD,
        PresignMethod::Delete => osspart::Method::DELETE,
    };
    // Signed with the keys in use now (a credential process or RAM role's, when configured).
    let signed = client
        .presign_current(method.clone(), &url.key, args.expires)
        .await?;
    service.close().await;
    if settings.json {
        print_json(&json!({
            "url": signed, "method": method.as_str(), "expires_in_seconds": args.expires.as_secs(),
        }));
    } else {
        println!("{signed}");
    }
    Ok(())
}
