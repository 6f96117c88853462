//! Request signing and verification: V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256), header and
//! presigned-URL forms.
//!
//! Invariant: a signature is computed by exactly one function per scheme
//! ([`Auth::expected`]), which the client calls to sign and the server calls to verify, so what
//! one end signs is by construction what the other end checks.

pub mod canonical;
pub mod v1;
pub mod v4;

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::ErrorCode;
use canonical::{header, query_param};

/// The request as both ends see it: decoded bucket/key, decoded query in original order,
/// headers as sent.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    /// HTTP method; upper-cased when signed.
    pub method: &'a str,
    /// Decoded bucket name; `None` for service-level requests (ListBuckets).
    pub bucket: Option<&'a str>,
    /// Decoded object key; `None` (or empty) for bucket-level requests.
    pub key: Option<&'a str>,
    /// Decoded query parameters in the order they were sent; `?a` gives `("a", "")`.
    pub query: &'a [(String, String)],
    /// Headers as sent; names in any case, looked up case-insensitively.
    pub headers: &'a [(String, String)],
}

/// How the resource of a bucket-level request (no key) is spelled in what is signed. Object
/// requests are signed the same way under both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BucketResource {
    /// `/<bucket>/`, as the spec and the official SDKs sign it.
    #[default]
    Slash,
    /// `/<bucket>`, as Apache OpenDAL's OSS service signs path-style bucket requests (the
    /// request path it sends has no trailing slash).
    Bare,
}

/// A key pair, plus the STS token for temporary credentials. `Debug` shows the AccessKeyId
/// only: the secret and the token never reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKeyId (`STS.…` for temporary credentials).
    pub access_key_id: String,
    /// AccessKeySecret; the HMAC key.
    pub access_key_secret: String,
    /// STS security token, when the key pair is temporary.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &REDACTED)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}

/// What `Debug` output shows in place of a secret.
pub const REDACTED: Redacted = Redacted;

/// Stands in for a secret in `Debug` output (prints `<redacted>`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Authentication material found in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: OSS <id>:<signature>`.
    V1Header {
        /// AccessKeyId the request claims.
        access_key_id: String,
        /// Base64 HMAC-SHA1 signature.
        signature: String,
    },
    /// `?OSSAccessKeyId=…&Expires=…&Signature=…`.
    V1Presigned {
        /// AccessKeyId the URL claims.
        access_key_id: String,
        /// Base64 HMAC-SHA1 signature.
        signature: String,
        /// Absolute expiry, unix seconds.
        expires: i64,
    },
    /// `Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…`.
    V4Header {
        /// The parsed `Credential` (key id and scope).
        credential: Credential,
        /// Extra signed headers, lower-cased, in the order the client stated them.
        additional_headers: Vec<String>,
        /// Lower-case hex HMAC-SHA256 signature.
        signature: String,
    },
    /// `?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=…&x-oss-signature=…`.
    V4Presigned {
        /// The parsed `x-oss-credential`.
        credential: Credential,
        /// Extra signed headers from `x-oss-additional-headers`, lower-cased, in stated order.
        additional_headers: Vec<String>,
        /// Lower-case hex HMAC-SHA256 signature.
        signature: String,
        /// `x-oss-date`: when the URL was signed.
        date: OffsetDateTime,
        /// `x-oss-expires`: validity in seconds, relative to `date`.
        expires_secs: i64,
    },
}

/// The V4 credential: AccessKeyId and scope `<date>/<region>/<product>/aliyun_v4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// AccessKeyId.
    pub access_key_id: String,
    /// Scope date, `yyyymmdd`.
    pub date: String,
    /// Bare region id (`cn-hangzhou`, no `oss-` prefix).
    pub region: String,
    /// Product, `oss` (or `oss-cloudbox`).
    pub product: String,
}

/// The last element of every V4 scope.
pub const V4_SCOPE_TERMINATOR: &str = "aliyun_v4_request";
/// The V4 algorithm name, in the Authorization header and `x-oss-signature-version`.
pub const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The payload hash every SDK sends in `x-oss-content-sha256`.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Longest validity of a V4 presigned URL, seconds (7 days).
pub const V4_MAX_PRESIGN_SECS: i64 = crate::limits::MAX_PRESIGN_V4_SECS;

impl Credential {
    /// `<date>/<region>/<product>/aliyun_v4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{V4_SCOPE_TERMINATOR}",
            self.date, self.region, self.product
        )
    }

    /// `<id>/<scope>`, as in `Credential=` and `x-oss-credential`.
    pub fn to_wire(&self) -> String {
        format!("{}/{}", self.access_key_id, self.scope())
    }

    /// Parses `<id>/<yyyymmdd>/<region>/<product>/aliyun_v4_request`.
    pub fn parse(s: &str) -> Result<Credential, AuthError> {
        let bad = || AuthError::InvalidCredential(s.to_owned());
        let parts: Vec<&str> = s.split('/').collect();
        let [id, date, region, product, terminator] = parts[..] else {
            return Err(bad());
        };
        let date_ok = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
        if id.is_empty()
            || !date_ok
            || region.is_empty()
            || product.is_empty()
            || terminator != V4_SCOPE_TERMINATOR
        {
            return Err(bad());
        }
        Ok(Credential {
            access_key_id: id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            product: product.to_owned(),
        })
    }
}

/// What went wrong reading the authentication material of a request.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The Authorization header is not one of the accepted forms.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(String),
    /// The request carries more than one kind of signature (an Authorization header and
    /// presign parameters, or V1 and V4 presign parameters together).
    #[error("the request carries more than one kind of signature")]
    AmbiguousAuthentication,
    /// `x-oss-content-sha256` is neither `UNSIGNED-PAYLOAD` nor 64 hex digits.
    #[error("invalid x-oss-content-sha256 {0:?}")]
    InvalidPayloadHash(String),
    /// A presigned URL lacks one of its required parameters.
    #[error("presigned URL is missing the {0} parameter")]
    MissingPresignParameter(&'static str),
    /// A presigned URL names a signature version we do not know.
    #[error("unsupported signature version {0:?}")]
    UnsupportedSignatureVersion(String),
    /// The V4 credential is not `<id>/<yyyymmdd>/<region>/<product>/aliyun_v4_request`.
    #[error("invalid credential {0:?}")]
    InvalidCredential(String),
    /// The V4 scope date differs from the date of `x-oss-date`.
    #[error("credential scope date {scope} does not match x-oss-date {date}")]
    ScopeDateMismatch {
        /// The scope's `yyyymmdd`.
        scope: String,
        /// The request's `x-oss-date`.
        date: String,
    },
    /// `Expires` / `x-oss-expires` is not an integer in range.
    #[error("invalid expiry {0:?}")]
    InvalidExpires(String),
    /// Neither `x-oss-date` nor `Date` (V1), or no `x-oss-date` (V4).
    #[error("the request carries no date")]
    MissingDate,
    /// The request date cannot be parsed.
    #[error("invalid date {0:?}")]
    InvalidDate(String),
}

impl AuthError {
    /// The OSS error code a server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::MissingDate | AuthError::InvalidDate(_) => ErrorCode::AccessDenied,
            AuthError::MalformedAuthorization(_)
            | AuthError::AmbiguousAuthentication
            | AuthError::InvalidPayloadHash(_)
            | AuthError::MissingPresignParameter(_)
            | AuthError::UnsupportedSignatureVersion(_)
            | AuthError::InvalidCredential(_)
            | AuthError::ScopeDateMismatch { .. }
            | AuthError::InvalidExpires(_) => ErrorCode::InvalidArgument,
        }
    }
}

/// The recomputed signature differs from the one the request carries. Holds what the server
/// signed so it can report it (`StringToSign`, `CanonicalRequest`).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("the request signature does not match")]
pub struct SignatureMismatch {
    /// The string-to-sign the server computed.
    pub string_to_sign: String,
    /// The V4 canonical request; `None` for V1.
    pub canonical_request: Option<String>,
}

/// Text as upper-case hex bytes separated by spaces, as OSS error bodies show signed strings.
pub fn hex_bytes(text: &str) -> String {
    text.bytes()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl SignatureMismatch {
    /// `StringToSignBytes` of the OSS error body: upper-case hex bytes separated by spaces.
    pub fn string_to_sign_bytes(&self) -> String {
        hex_bytes(&self.string_to_sign)
    }
}

/// What a signer produces for a request: the strings it hashed and the resulting signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The string-to-sign.
    pub string_to_sign: String,
    /// The V4 canonical request; `None` for V1.
    pub canonical_request: Option<String>,
    /// Base64 (V1) or lower-case hex (V4) signature.
    pub signature: String,
}

/// Finds auth in the Authorization header or the presign query parameters.
/// `Ok(None)` means anonymous. A request may use only one of the header, the V1 presign
/// parameters and the V4 presign parameters: with two, which one the server checks would be a
/// guess, so that is [`AuthError::AmbiguousAuthentication`].
///
/// For V4 headers `x-oss-date` is required here (it is part of what is signed) and its date
/// must equal the credential scope date; V1 date checks are left to [`Auth::request_time`].
pub fn parse_auth(req: &RequestParts) -> Result<Option<Auth>, AuthError> {
    let has_header = header(req, "authorization").is_some();
    let has_v1_query = ["OSSAccessKeyId", "Signature"]
        .iter()
        .any(|n| query_param(req, n).is_some());
    let has_v4_query = [
        "x-oss-signature-version",
        "x-oss-signature",
        "x-oss-credential",
    ]
    .iter()
    .any(|n| query_param(req, n).is_some());
    if usize::from(has_header) + usize::from(has_v1_query) + usize::from(has_v4_query) > 1 {
        return Err(AuthError::AmbiguousAuthentication);
    }
    if let Some(value) = header(req, "authorization") {
        let value = value.trim();
        if let Some(rest) = value.strip_prefix(V4_ALGORITHM) {
            return v4::parse_authorization(req, rest).map(Some);
        }
        if let Some(rest) = value.strip_prefix("OSS ") {
            return v1::parse_authorization(rest).map(Some);
        }
        return Err(AuthError::MalformedAuthorization(value.to_owned()));
    }
    if query_param(req, "OSSAccessKeyId").is_some() {
        return v1::parse_presigned(req).map(Some);
    }
    if let Some(version) = query_param(req, "x-oss-signature-version") {
        if version != V4_ALGORITHM {
            return Err(AuthError::UnsupportedSignatureVersion(version.to_owned()));
        }
        return v4::parse_presigned(req).map(Some);
    }
    Ok(None)
}

impl Auth {
    /// The AccessKeyId the request claims.
    pub fn access_key_id(&self) -> &str {
        match self {
            Auth::V1Header { access_key_id, .. } | Auth::V1Presigned { access_key_id, .. } => {
                access_key_id
            }
            Auth::V4Header { credential, .. } | Auth::V4Presigned { credential, .. } => {
                &credential.access_key_id
            }
        }
    }

    /// The signature the request carries.
    pub fn signature(&self) -> &str {
        match self {
            Auth::V1Header { signature, .. }
            | Auth::V1Presigned { signature, .. }
            | Auth::V4Header { signature, .. }
            | Auth::V4Presigned { signature, .. } => signature,
        }
    }

    /// The V4 credential, if this is V4.
    pub fn credential(&self) -> Option<&Credential> {
        match self {
            Auth::V4Header { credential, .. } | Auth::V4Presigned { credential, .. } => {
                Some(credential)
            }
            Auth::V1Header { .. } | Auth::V1Presigned { .. } => None,
        }
    }

    /// The security token the request carries: the `x-oss-security-token` header for the header
    /// forms, the `security-token` (V1) or `x-oss-security-token` (V4) query parameter for
    /// presigned URLs.
    pub fn security_token<'a>(&self, req: &RequestParts<'a>) -> Option<&'a str> {
        match self {
            Auth::V1Header { .. } | Auth::V4Header { .. } => header(req, "x-oss-security-token"),
            Auth::V1Presigned { .. } => query_param(req, "security-token"),
            Auth::V4Presigned { .. } => query_param(req, "x-oss-security-token"),
        }
    }

    /// When the request claims to have been made (V1 header: `x-oss-date`, else `Date`; V4
    /// header: `x-oss-date`); `None` for presigned URLs, which carry an expiry instead.
    pub fn request_time(&self, req: &RequestParts) -> Result<Option<OffsetDateTime>, AuthError> {
        match self {
            Auth::V1Header { .. } => {
                let raw = v1::date_line(req).ok_or(AuthError::MissingDate)?;
                crate::time_fmt::parse_http_date(raw)
                    .map(Some)
                    .ok_or_else(|| AuthError::InvalidDate(raw.to_owned()))
            }
            Auth::V4Header { .. } => {
                let raw = header(req, "x-oss-date").ok_or(AuthError::MissingDate)?;
                crate::time_fmt::parse_v4_date(raw.trim())
                    .map(Some)
                    .ok_or_else(|| AuthError::InvalidDate(raw.to_owned()))
            }
            Auth::V1Presigned { .. } | Auth::V4Presigned { .. } => Ok(None),
        }
    }

    /// When a presigned URL stops being valid (V1 `Expires`; V4 `x-oss-date + x-oss-expires`);
    /// `None` for the header forms.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        match self {
            Auth::V1Presigned { expires, .. } => OffsetDateTime::from_unix_timestamp(*expires).ok(),
            Auth::V4Presigned {
                date, expires_secs, ..
            } => date.checked_add(time::Duration::seconds(*expires_secs)),
            Auth::V1Header { .. } | Auth::V4Header { .. } => None,
        }
    }

    /// Computes what the signature of `req` must be under `secret`. The signers build an `Auth`
    /// and call this too, so signing and verifying share every step.
    pub fn expected(&self, req: &RequestParts, secret: &str) -> Signed {
        self.expected_as(req, secret, BucketResource::Slash)
    }

    /// [`expected`](Auth::expected) with a bucket-level resource spelled as `form` says.
    pub fn expected_as(&self, req: &RequestParts, secret: &str, form: BucketResource) -> Signed {
        match self {
            Auth::V1Header { .. } => {
                v1::sign_with_date_line(req, secret, v1::date_line(req).unwrap_or(""), form)
            }
            Auth::V1Presigned { expires, .. } => match query_param(req, "Expires") {
                // Sign the value exactly as sent.
                Some(raw) => v1::sign_with_date_line(req, secret, raw, form),
                None => v1::sign_with_date_line(req, secret, &expires.to_string(), form),
            },
            Auth::V4Header {
                credential,
                additional_headers,
                ..
            } => {
                let date = header(req, "x-oss-date").unwrap_or("").trim();
                let payload_hash = header(req, "x-oss-content-sha256")
                    .map(str::trim)
                    .unwrap_or(UNSIGNED_PAYLOAD);
                v4::sign_parts(
                    req,
                    secret,
                    credential,
                    additional_headers,
                    date,
                    payload_hash,
                    false,
                    form,
                )
            }
            Auth::V4Presigned {
                credential,
                additional_headers,
                date,
                ..
            } => {
                let date = query_param(req, "x-oss-date")
                    .map(str::to_owned)
                    .unwrap_or_else(|| crate::time_fmt::v4_date(*date));
                v4::sign_parts(
                    req,
                    secret,
                    credential,
                    additional_headers,
                    &date,
                    UNSIGNED_PAYLOAD,
                    true,
                    form,
                )
            }
        }
    }

    /// Recomputes the signature with `secret` and compares in constant time. On mismatch returns
    /// the string-to-sign (and V4 canonical request) so the server can report them. Time checks
    /// (skew, expiry) are separate: see [`Auth::request_time`] and [`Auth::expires_at`].
    pub fn verify(&self, req: &RequestParts, secret: &str) -> Result<(), SignatureMismatch> {
        self.verify_as(req, secret, BucketResource::Slash)
    }

    /// [`verify`](Auth::verify) against a bucket-level resource spelled as `form` says.
    pub fn verify_as(
        &self,
        req: &RequestParts,
        secret: &str,
        form: BucketResource,
    ) -> Result<(), SignatureMismatch> {
        let expected = self.expected_as(req, secret, form);
        if bool::from(
            expected
                .signature
                .as_bytes()
                .ct_eq(self.signature().as_bytes()),
        ) {
            Ok(())
        } else {
            Err(SignatureMismatch {
                string_to_sign: expected.string_to_sign,
                canonical_request: expected.canonical_request,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(headers: &'a [(String, String)], query: &'a [(String, String)]) -> RequestParts<'a> {
        RequestParts {
            method: "GET",
            bucket: Some("b"),
            key: Some("k"),
            query,
            headers,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn anonymous_and_malformed() {
        assert_eq!(parse_auth(&req(&[], &[])).unwrap(), None);
        let bad = h(&[("Authorization", "Bearer x")]);
        assert_eq!(
            parse_auth(&req(&bad, &[])).unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
        for value in ["OSS nocolon", "OSS :sig", "OSS id:"] {
            let bad = h(&[("authorization", value)]);
            assert!(matches!(
                parse_auth(&req(&bad, &[])),
                Err(AuthError::MalformedAuthorization(_))
            ));
        }
    }

    #[test]
    fn one_kind_of_signature_per_request() {
        let auth = h(&[("Authorization", "OSS id:c2ln")]);
        let v1q = h(&[
            ("OSSAccessKeyId", "id"),
            ("Expires", "1"),
            ("Signature", "x"),
        ]);
        let v4q = h(&[("x-oss-signature-version", "OSS4-HMAC-SHA256")]);
        for (headers, query) in [
            (&auth, &v1q),
            (&auth, &v4q),
            (&vec![], &[v1q.clone(), v4q.clone()].concat()),
        ] {
            let err = parse_auth(&req(headers, query)).unwrap_err();
            assert_eq!(err, AuthError::AmbiguousAuthentication);
            assert_eq!(err.code(), ErrorCode::InvalidArgument);
        }
    }

    #[test]
    fn v4_payload_hash_must_be_unsigned_or_hex() {
        let auth = "OSS4-HMAC-SHA256 Credential=id/20240102/cn-hangzhou/oss/aliyun_v4_request,Signature=ab";
        let with_hash = |hash: &str| {
            h(&[
                ("Authorization", auth),
                ("x-oss-date", "20240102T030405Z"),
                ("x-oss-content-sha256", hash),
            ])
        };
        for good in ["UNSIGNED-PAYLOAD", &"a".repeat(64)] {
            assert!(parse_auth(&req(&with_hash(good), &[])).is_ok(), "{good}");
        }
        for bad in ["nope", "", &"g".repeat(64), &"a".repeat(63)] {
            let err = parse_auth(&req(&with_hash(bad), &[])).unwrap_err();
            assert!(matches!(err, AuthError::InvalidPayloadHash(_)), "{bad}");
        }
    }

    #[test]
    fn v1_missing_date_is_access_denied() {
        let headers = h(&[("Authorization", "OSS id:c2ln")]);
        let r = req(&headers, &[]);
        let auth = parse_auth(&r).unwrap().unwrap();
        let err = auth.request_time(&r).unwrap_err();
        assert_eq!(err, AuthError::MissingDate);
        assert_eq!(err.code(), ErrorCode::AccessDenied);

        let headers = h(&[("Authorization", "OSS id:c2ln"), ("Date", "yesterday")]);
        let r = req(&headers, &[]);
        assert!(matches!(
            auth.request_time(&r),
            Err(AuthError::InvalidDate(_))
        ));
    }

    #[test]
    fn v4_header_errors() {
        let cred = "Credential=id/20240102/cn-hangzhou/oss/aliyun_v4_request";
        let cases = [
            (format!("OSS4-HMAC-SHA256 {cred}"), "missing signature"),
            (format!("OSS4-HMAC-SHA256 {cred},Signature=ab,Foo=1"), "unknown"),
            (format!("OSS4-HMAC-SHA256 {cred},Signature=ab,Signature=cd"), "dup"),
            (format!("OSS4-HMAC-SHA256x{cred},Signature=ab"), "no space"),
            (
                "OSS4-HMAC-SHA256 Credential=id/2024010/cn-hangzhou/oss/aliyun_v4_request,Signature=ab"
                    .to_owned(),
                "short date",
            ),
            (
                "OSS4-HMAC-SHA256 Credential=id/20240102/cn-hangzhou/oss/aws4_request,Signature=ab"
                    .to_owned(),
                "terminator",
            ),
        ];
        for (value, why) in cases {
            let headers = h(&[
                ("Authorization", &value),
                ("x-oss-date", "20240102T030405Z"),
            ]);
            let err = parse_auth(&req(&headers, &[])).expect_err(why);
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{why}");
        }

        let ok = format!("OSS4-HMAC-SHA256 {cred},Signature=ab");
        let headers = h(&[("Authorization", &ok)]);
        assert_eq!(
            parse_auth(&req(&headers, &[])).unwrap_err(),
            AuthError::MissingDate
        );
        let headers = h(&[("Authorization", &ok), ("x-oss-date", "20240103T000000Z")]);
        assert!(matches!(
            parse_auth(&req(&headers, &[])),
            Err(AuthError::ScopeDateMismatch { .. })
        ));
    }

    #[test]
    fn presign_errors() {
        let q = h(&[("OSSAccessKeyId", "id"), ("Expires", "10")]);
        assert_eq!(
            parse_auth(&req(&[], &q)).unwrap_err(),
            AuthError::MissingPresignParameter("Signature")
        );
        let q = h(&[
            ("OSSAccessKeyId", "id"),
            ("Expires", "soon"),
            ("Signature", "x"),
        ]);
        assert!(matches!(
            parse_auth(&req(&[], &q)),
            Err(AuthError::InvalidExpires(_))
        ));
        let q = h(&[("x-oss-signature-version", "OSS5")]);
        assert!(matches!(
            parse_auth(&req(&[], &q)),
            Err(AuthError::UnsupportedSignatureVersion(_))
        ));
        let q = h(&[
            ("x-oss-signature-version", V4_ALGORITHM),
            ("x-oss-credential", "id/20240102/r/oss/aliyun_v4_request"),
            ("x-oss-date", "20240102T030405Z"),
            ("x-oss-expires", "604801"),
            ("x-oss-signature", "ab"),
        ]);
        assert!(matches!(
            parse_auth(&req(&[], &q)),
            Err(AuthError::InvalidExpires(_))
        ));
    }

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "id".into(),
            access_key_secret: "secret".into(),
            security_token: None,
        }
    }

    #[test]
    fn v4_presign_at_the_end_of_the_calendar_parses_verifies_and_has_no_expiry() {
        let end = time::macros::datetime!(9999-12-31 23:59:59 UTC);
        for secs in [1, 604_800] {
            let q = v4::presign_query(&req(&[], &[]), &creds(), "cn-hangzhou", end, secs, &[]);
            let r = req(&[], &q);
            let auth = parse_auth(&r).unwrap().unwrap();
            // The end of the lifetime is past what a date can hold: no expiry, no panic.
            assert_eq!(auth.expires_at(), None, "{secs}");
            assert_eq!(auth.request_time(&r), Ok(None));
            assert!(auth.verify(&r, "secret").is_ok());
            assert!(auth.verify(&r, "other").is_err());
        }
        let q = v4::presign_query(&req(&[], &[]), &creds(), "cn-hangzhou", end, 0, &[]);
        assert!(matches!(
            parse_auth(&req(&[], &q)),
            Err(AuthError::InvalidExpires(_))
        ));
    }

    #[test]
    fn v4_presign_lifetime_is_one_second_to_seven_days() {
        let now = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        for (secs, ok) in [
            (1, true),
            (V4_MAX_PRESIGN_SECS, true),
            (0, false),
            (-1, false),
            (V4_MAX_PRESIGN_SECS + 1, false),
            (i64::MAX, false),
            (i64::MIN, false),
        ] {
            let q = v4::presign_query(&req(&[], &[]), &creds(), "cn-hangzhou", now, secs, &[]);
            let r = req(&[], &q);
            match parse_auth(&r) {
                Ok(Some(auth)) => {
                    assert!(ok, "{secs} accepted");
                    assert_eq!(auth.expires_at(), Some(now + time::Duration::seconds(secs)));
                    assert!(auth.verify(&r, "secret").is_ok());
                }
                Err(AuthError::InvalidExpires(_)) => assert!(!ok, "{secs} refused"),
                other => panic!("{secs}: {other:?}"),
            }
        }
    }

    #[test]
    fn v4_presign_dates_out_of_the_calendar_are_refused() {
        let q = |date: &str| {
            h(&[
                ("x-oss-signature-version", V4_ALGORITHM),
                (
                    "x-oss-credential",
                    &format!(
                        "id/{}/r/oss/aliyun_v4_request",
                        date.get(..8).unwrap_or(date)
                    ),
                ),
                ("x-oss-date", date),
                ("x-oss-expires", "60"),
                ("x-oss-signature", "ab"),
            ])
        };
        for bad in [
            "99991332T000000Z",
            "00000000T000000Z",
            "20240230T000000Z",
            "20240101T246060Z",
            "+99991231T235959Z",
            "2024010",
        ] {
            let query = q(bad);
            let err = parse_auth(&req(&[], &query)).unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::InvalidDate(_) | AuthError::InvalidCredential(_)
                ),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn v1_presign_expiry_is_any_i64_and_never_overflows() {
        for expires in [
            i64::MIN,
            -1,
            0,
            1_704_168_245,
            253_402_300_799,
            253_402_300_800,
            i64::MAX,
        ] {
            let q = v1::presign_query(&req(&[], &[]), &creds(), expires);
            let r = req(&[], &q);
            let auth = parse_auth(&r).unwrap().unwrap();
            assert_eq!(
                auth,
                Auth::V1Presigned {
                    access_key_id: "id".into(),
                    signature: auth.signature().to_owned(),
                    expires,
                }
            );
            assert!(auth.verify(&r, "secret").is_ok(), "{expires}");
            // Only dates the calendar holds have an instant.
            assert_eq!(
                auth.expires_at().is_some(),
                time::OffsetDateTime::from_unix_timestamp(expires).is_ok()
            );
        }
        let q = h(&[
            ("OSSAccessKeyId", "id"),
            ("Expires", "9223372036854775808"),
            ("Signature", "x"),
        ]);
        assert!(matches!(
            parse_auth(&req(&[], &q)),
            Err(AuthError::InvalidExpires(_))
        ));
    }

    #[test]
    fn debug_shows_the_key_id_and_hides_secret_and_token() {
        let c = Credentials {
            access_key_id: "LTAI-visible".into(),
            access_key_secret: "very-secret".into(),
            security_token: Some("token-value".into()),
        };
        let shown = format!("{c:?} {c:#?}");
        assert!(shown.contains("LTAI-visible"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("token-value"),
            "{shown}"
        );
        let none = format!(
            "{:?}",
            Credentials {
                security_token: None,
                ..c
            }
        );
        assert!(none.contains("security_token: None"), "{none}");
    }

    #[test]
    fn mismatch_bytes() {
        let m = SignatureMismatch {
            string_to_sign: "GET\n/".to_owned(),
            canonical_request: None,
        };
        assert_eq!(m.string_to_sign_bytes(), "47 45 54 0A 2F");
    }
}
