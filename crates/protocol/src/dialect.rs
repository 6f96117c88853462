//! The two wire dialects osspart speaks: OSS itself and S3-compatible stores.

/// Which family of header names and auth schemes a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Alibaba Cloud OSS: `x-oss-` headers, `OSS`/`OSS4-HMAC-SHA256` auth.
    #[default]
    Oss,
    /// S3-compatible: `x-amz-` headers, `AWS4-HMAC-SHA256` auth.
    S3,
}

impl Dialect {
    /// Prefix of the vendor headers (`x-oss-` or `x-amz-`).
    pub fn header_prefix(self) -> &'static str {
        match self {
            Dialect::Oss => "x-oss-",
            Dialect::S3 => "x-amz-",
        }
    }

    /// Prefix of user metadata headers.
    pub fn meta_prefix(self) -> &'static str {
        match self {
            Dialect::Oss => "x-oss-meta-",
            Dialect::S3 => "x-amz-meta-",
        }
    }

    /// Name of the V4 auth scheme in the Authorization header.
    pub fn v4_scheme(self) -> &'static str {
        match self {
            Dialect::Oss => "OSS4-HMAC-SHA256",
            Dialect::S3 => "AWS4-HMAC-SHA256",
        }
    }
}
