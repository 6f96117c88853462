//! AppendObject: bytes added at the end of an appendable object.

use bytes::Bytes;
use reqwest::Method;

use crate::client::{Client, Request};
use crate::error::{Error, Result};

impl Client {
    /// AppendObject: appends `body` to the appendable object `key` at `position`, which must
    /// be the object's current length (0 creates the object; the service answers
    /// `PositionNotEqualToLength` otherwise, and `ObjectNotAppendable` for an object written
    /// another way). Returns the position of the next append (the new length). The body is
    /// sent with its Content-MD5, and the object's CRC-64 in the answer is not checked here:
    /// it covers every byte appended so far. The request is sent once, never retried: after a
    /// lost answer only the object's length (HEAD) tells whether the bytes were appended.
    pub async fn append_object(&self, key: &str, position: u64, body: Bytes) -> Result<u64> {
        let req = Request::new("AppendObject", Method::POST, Some(key))
            .query("append", "")
            .query("position", position.to_string())
            .body(body)
            .with_content_md5();
        let r = self.send_once(req).await?;
        r.header("x-oss-next-append-position")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                Error::Protocol("AppendObject answered without x-oss-next-append-position".into())
            })
    }
}
