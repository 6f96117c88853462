//! The bucket CORS configuration (PutBucketCors request, GetBucketCors answer; spec 4.8).
//!
//! A browser upload needs `ETag` and `x-oss-request-id` among the exposed headers; checking
//! that, and the rule count limit, is left to the caller.

use serde::{Deserialize, Serialize};

/// `<CORSConfiguration>`: the rules of a bucket, tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CORSConfiguration", rename_all = "PascalCase")]
pub struct CorsConfiguration {
    /// The rules, as `<CORSRule>` elements.
    #[serde(rename = "CORSRule", default)]
    pub rules: Vec<CorsRule>,
    /// Whether responses carry `Vary: Origin`; absent means unspecified (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_vary: Option<bool>,
}

/// One `<CORSRule>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CorsRule {
    /// Allowed `Origin` values; each may hold one `*` wildcard.
    #[serde(rename = "AllowedOrigin", default)]
    pub allowed_origins: Vec<String>,
    /// Allowed methods (`GET`, `PUT`, ...).
    #[serde(rename = "AllowedMethod", default)]
    pub allowed_methods: Vec<String>,
    /// Allowed request headers; `*` allows any.
    #[serde(rename = "AllowedHeader", default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may read.
    #[serde(rename = "ExposeHeader", default)]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache the preflight answer, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u32>,
}
