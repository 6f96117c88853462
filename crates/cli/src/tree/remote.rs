//! The OSS side of a tree: every object under a prefix, listed page by page in key order
//! (never held whole), with the prefix cut off to give the same relative paths as the local
//! side.

use std::time::SystemTime;

use futures_util::{Stream, StreamExt};
use osspart::{Client, ListObjectsQuery};
use osspart_protocol::time_fmt;

/// One object of the tree.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    /// Key relative to the tree's prefix.
    pub rel: String,
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-Modified from the listing.
    pub last_modified: Option<SystemTime>,
}

/// A tree's prefix: empty, or ending in `/`.
pub fn tree_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    }
}

/// The objects under `prefix`, in key order. Directory markers (keys ending in `/`) are left
/// out: they hold no file.
pub fn list<'a>(
    client: &'a Client,
    prefix: &'a str,
) -> impl Stream<Item = osspart::Result<RemoteObject>> + 'a {
    let mut query = ListObjectsQuery::default().with_max_keys(1000);
    query.prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
    client.list_all_objects(query).filter_map(move |item| {
        let out = match item {
            Err(e) => Some(Err(e)),
            Ok(o) => {
                let rel = o.key.strip_prefix(prefix).unwrap_or(&o.key).to_owned();
                (!rel.is_empty() && !rel.ends_with('/')).then(|| {
                    Ok(RemoteObject {
                        rel,
                        size: o.size,
                        last_modified: time_fmt::parse_xml_timestamp(&o.last_modified)
                            .map(SystemTime::from),
                        key: o.key,
                    })
                })
            }
        };
        std::future::ready(out)
    })
}
