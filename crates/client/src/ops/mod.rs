//! Typed calls, one module per API group. Each builds a [`crate::client::Request`], sends it
//! and parses the answer into plain result types.

pub mod access;
pub mod append;
pub mod bucket;
pub mod multipart;
pub mod object;

use osspart_protocol::encoding::decode_path;

use crate::error::{Error, Result};

/// Decodes a listing value that the service URL-encoded (listings always ask for
/// `encoding-type=url`, so keys with leading or trailing spaces survive XML whitespace rules).
pub(crate) fn url_decoded(value: &str, encoded: bool) -> Result<String> {
    if !encoded {
        return Ok(value.to_owned());
    }
    decode_path(value)
        .map_err(|e| Error::Protocol(format!("listing holds a badly encoded value: {e}")))
}

/// An ETag with its quotes, as Complete expects.
pub(crate) fn quoted(etag: &str) -> String {
    osspart_protocol::etag::quote(osspart_protocol::etag::unquote(etag))
}

/// Refuses a next-page marker that does not move past the current one: listings come in key
/// order, so a service answering `IsTruncated` with the same (or an earlier) marker would
/// otherwise be asked for the same page forever.
pub(crate) fn check_advance(op: &str, current: Option<&str>, next: &str) -> Result<()> {
    match current {
        Some(c) if next <= c => Err(Error::Protocol(format!(
            "{op} answered a truncated page whose next marker {next:?} does not move past {c:?}"
        ))),
        _ => Ok(()),
    }
}
