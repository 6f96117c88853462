//! Bucket calls: create, delete, list.

use osspart_protocol::xml::bucket::ListAllMyBucketsResult;
use reqwest::Method;

use crate::client::{Client, Request};
use crate::error::Result;

impl Client {
    /// PutBucket for this client's bucket.
    pub async fn create_bucket(&self) -> Result<()> {
        self.send(Request::new("PutBucket", Method::PUT, None).body(bytes::Bytes::new()))
            .await?;
        Ok(())
    }

    /// PutBucket unless the bucket already exists; whether it was created.
    pub async fn create_bucket_if_missing(&self) -> Result<bool> {
        match self.create_bucket().await {
            Ok(()) => Ok(true),
            Err(e) if e.has_code(osspart_protocol::ErrorCode::BucketAlreadyExists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// DeleteBucket for this client's bucket (it must be empty).
    pub async fn delete_bucket(&self) -> Result<()> {
        self.send(Request::new("DeleteBucket", Method::DELETE, None))
            .await?;
        Ok(())
    }

    /// Names of every bucket the credentials can see.
    pub async fn list_buckets(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = Request::new("ListBuckets", Method::GET, None)
                .query_opt("marker", marker.clone())
                .query("max-keys", "1000");
            let doc: ListAllMyBucketsResult = self.send_service(req).await?.xml()?;
            names.extend(doc.buckets.into_iter().map(|b| b.name));
            match (doc.is_truncated, doc.next_marker) {
                (Some(true), Some(m)) if !m.is_empty() => {
                    super::check_advance("ListBuckets", marker.as_deref(), &m)?;
                    marker = Some(m);
                }
                _ => return Ok(names),
            }
        }
    }
}
