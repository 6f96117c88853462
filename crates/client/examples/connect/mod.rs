//! How the examples reach OSS: endpoint, region and keys from the environment
//! (OSS_ENDPOINT, OSS_REGION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN), the
//! bucket from OSSPART_BUCKET, created when missing.

use anyhow::Context;
use osspart::{Client, Config};

/// A client for the bucket named by OSSPART_BUCKET; the bucket exists when this returns.
pub async fn client_from_env() -> anyhow::Result<Client> {
    let bucket = std::env::var("OSSPART_BUCKET").context("OSSPART_BUCKET is not set")?;
    let client = Client::new(Config::from_env(bucket)?)?;
    if client
        .create_bucket_if_missing()
        .await
        .context("cannot create the bucket")?
    {
        println!("created bucket {}", client.bucket());
    }
    Ok(client)
}
