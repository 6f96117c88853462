//! Handlers, one module per API group. Each turns a typed operation into store calls and an
//! XML or empty response; none reads raw headers or query strings except through
//! [`crate::http::service::RequestContext`].

pub mod append;
pub mod bucket;
pub mod cors;
pub mod listing;
pub mod multipart;
pub mod object;
pub mod object_headers;
pub mod read;

/// The default account's id: the owner shown where no other is known (listings, anonymous
/// mode).
pub const OWNER_ID: &str = crate::config::DEFAULT_ACCOUNT_ID;

/// `s` percent-encoded when the request asked for `encoding-type=url`, else unchanged.
pub fn maybe_encode(s: &str, url_encoding: bool) -> String {
    if url_encoding {
        osspart_protocol::encoding::encode_component(s)
    } else {
        s.to_owned()
    }
}

/// `Some("url")` when url encoding was asked for (the `<EncodingType>` element).
pub fn encoding_type(url_encoding: bool) -> Option<String> {
    url_encoding.then(|| "url".to_owned())
}
