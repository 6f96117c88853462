//! ACL and tagging calls: the canned ACL of a bucket or an object, and an object's tags.

use bytes::Bytes;
use osspart_protocol::attributes::{Acl, TagSet};
use osspart_protocol::xml::object::{AccessControlPolicy, Tagging};
use reqwest::Method;

use crate::client::{Client, Request};
use crate::error::{Error, Result};

/// Reads a canned ACL the service reported.
fn parse_acl(grant: &str) -> Result<Acl> {
    Acl::parse(grant).ok_or_else(|| Error::Protocol(format!("unknown ACL {grant:?} in the answer")))
}

impl Client {
    /// PutObjectAcl: sets the object's own ACL; [`Acl::Default`] hands the decision back to
    /// the bucket's ACL.
    pub async fn put_object_acl(&self, key: &str, acl: Acl) -> Result<()> {
        let req = Request::new("PutObjectAcl", Method::PUT, Some(key))
            .query("acl", "")
            .header("x-oss-object-acl", acl.as_str())
            .body(Bytes::new());
        self.send(req).await?;
        Ok(())
    }

    /// PutBucketAcl: sets this client's bucket's ACL (`private`, `public-read` or
    /// `public-read-write`; [`Acl::Default`] is not a bucket ACL and is refused by the
    /// service).
    pub async fn put_bucket_acl(&self, acl: Acl) -> Result<()> {
        let req = Request::new("PutBucketAcl", Method::PUT, None)
            .query("acl", "")
            .header("x-oss-acl", acl.as_str())
            .body(Bytes::new());
        self.send(req).await?;
        Ok(())
    }

    /// GetBucketAcl: this client's bucket's ACL.
    pub async fn get_bucket_acl(&self) -> Result<Acl> {
        let req = Request::new("GetBucketAcl", Method::GET, None).query("acl", "");
        let doc: AccessControlPolicy = self.send(req).await?.xml()?;
        parse_acl(&doc.access_control_list.grant)
    }

    /// PutObjectTagging: replaces every tag of the object with `tags` (an empty set removes
    /// them all, like [`Client::delete_object_tagging`]).
    pub async fn put_object_tagging(&self, key: &str, tags: &TagSet) -> Result<()> {
        let doc = Tagging::of(tags);
        let body = osspart_protocol::xml::to_xml(&doc);
        let req = Request::new("PutObjectTagging", Method::PUT, Some(key))
            .query("tagging", "")
            .header("Content-Type", "application/xml")
            .body(Bytes::from(body))
            .with_content_md5();
        self.send(req).await?;
        Ok(())
    }

    /// GetObjectTagging: the object's tags, in the order the service lists them.
    pub async fn get_object_tagging(&self, key: &str) -> Result<TagSet> {
        let req = Request::new("GetObjectTagging", Method::GET, Some(key)).query("tagging", "");
        let doc: Tagging = self.send(req).await?.xml()?;
        doc.into_tag_set()
            .map_err(|e| Error::Protocol(format!("the service's tags: {e}")))
    }

    /// DeleteObjectTagging: removes every tag of the object.
    pub async fn delete_object_tagging(&self, key: &str) -> Result<()> {
        let req =
            Request::new("DeleteObjectTagging", Method::DELETE, Some(key)).query("tagging", "");
        self.send(req).await?;
        Ok(())
    }
}
