//! Requests of the bucket-level APIs: listings and the CORS preflight.

/// One listing of objects (v1 and v2 share the fields they have in common).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectListing {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to this delimiter ("" = none).
    pub delimiter: String,
    /// Exclusive start key (v1 `marker`, v2 `start-after` or the continuation token).
    pub marker: String,
    /// Page size.
    pub max_keys: u32,
    /// `encoding-type=url`.
    pub url_encoding: bool,
}

/// ListObjectsV2: a listing plus its v2 paging fields.
#[derive(Debug, Clone)]
pub struct ListObjectsV2Request {
    /// Bucket.
    pub bucket: String,
    /// Filters and page of the listing.
    pub listing: ObjectListing,
    /// Continuation token as sent ("" when none).
    pub continuation_token: String,
    /// `start-after` as sent.
    pub start_after: String,
    /// Whether entries carry `Owner`.
    pub fetch_owner: bool,
}

/// A CORS preflight: origin, method and headers asked for.
#[derive(Debug, Clone)]
pub struct PreflightRequest {
    /// Bucket.
    pub bucket: String,
    /// `Origin`.
    pub origin: String,
    /// `Access-Control-Request-Method`.
    pub method: String,
    /// `Access-Control-Request-Headers`, lower-cased.
    pub headers: Vec<String>,
}
