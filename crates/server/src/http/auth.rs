//! Authentication of incoming requests: finds the signature (header or presigned URL), checks
//! the key, the STS token, the clock and the signature itself with the protocol crate's signer.

use osspart_protocol::sign::{self, Auth, RequestParts};
use osspart_protocol::{limits, time_fmt, ErrorCode};
use time::OffsetDateTime;

use super::error::ApiError;
use crate::config::{ServerConfig, DEFAULT_ACCOUNT_ID};

/// Who sent a request, as far as its signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No signature: only what the ACLs make public is open to it.
    Anonymous,
    /// A configured key of this account signed the request (or the server runs with
    /// `--anonymous`, where every unsigned request acts as the default account).
    Account(String),
}

impl Caller {
    /// The account id, unless anonymous.
    pub fn account(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Account(id) => Some(id),
        }
    }
}

/// Checks the request's signature and says who sent it. An unsigned request is
/// [`Caller::Anonymous`] (what it may do is decided later, by the ACLs), except on a server
/// running with `--anonymous`, where it acts as the default account.
pub fn authenticate(
    config: &ServerConfig,
    req: &RequestParts,
    now: OffsetDateTime,
) -> Result<Caller, ApiError> {
    authenticate_addressed(config, req, now, false)
}

/// [`authenticate`], told whether the bucket came from the request path (path-style). A
/// path-style bucket-level request is also accepted when signed over `/<bucket>` instead of
/// `/<bucket>/`, the resource Apache OpenDAL's OSS service signs for it; object requests and
/// virtual-hosted ones have one spelling only.
pub fn authenticate_addressed(
    config: &ServerConfig,
    req: &RequestParts,
    now: OffsetDateTime,
    path_style: bool,
) -> Result<Caller, ApiError> {
    let auth = match sign::parse_auth(req) {
        Ok(Some(auth)) => auth,
        Ok(None) if config.anonymous => return Ok(Caller::Account(DEFAULT_ACCOUNT_ID.to_owned())),
        Ok(None) => return Ok(Caller::Anonymous),
        Err(e) => return Err(ApiError::new(e.code()).with_message(e.to_string())),
    };
    let key_id = auth.access_key_id();
    let Some(principal) = config.principal(key_id) else {
        return Err(ApiError::new(ErrorCode::InvalidAccessKeyId).with("OSSAccessKeyId", key_id));
    };
    let cred = principal.credentials;
    let token = auth.security_token(req);
    if token != cred.security_token.as_deref() {
        return Err(ApiError::new(ErrorCode::InvalidAccessKeyId)
            .with_message("The security token you provided is not valid for this AccessKeyId.")
            .with("OSSAccessKeyId", key_id));
    }
    check_time(config, &auth, req, now)?;
    let bare_bucket_allowed =
        path_style && req.bucket.is_some() && req.key.is_none_or(str::is_empty);
    let verified = match auth.verify(req, &cred.access_key_secret) {
        Err(_)
            if bare_bucket_allowed
                && auth
                    .verify_as(req, &cred.access_key_secret, sign::BucketResource::Bare)
                    .is_ok() =>
        {
            Ok(())
        }
        other => other,
    };
    verified.map_err(|m| {
        let mut e = ApiError::new(ErrorCode::SignatureDoesNotMatch)
            .with("OSSAccessKeyId", key_id)
            .with("SignatureProvided", auth.signature())
            .with("StringToSign", m.string_to_sign.clone())
            .with("StringToSignBytes", m.string_to_sign_bytes());
        if matches!(auth, Auth::V1Presigned { .. } | Auth::V4Presigned { .. }) {
            e = e.with_ec("0002-00000307");
        }
        if let Some(cr) = m.canonical_request {
            e = e
                .with("CanonicalRequest", cr.clone())
                .with("CanonicalRequestBytes", sign::hex_bytes(&cr));
        }
        e
    })?;
    // Checked once the signature proves the request came from the key's holder, so an
    // expired key is reported only to someone who has it.
    if let (Some(expires), Some(token)) = (principal.expires, token) {
        if now >= expires {
            return Err(ApiError::new(ErrorCode::SecurityTokenExpired)
                .with_ec("0002-00000007")
                .with("SecurityToken", token));
        }
    }
    Ok(Caller::Account(principal.account.to_owned()))
}

fn check_time(
    config: &ServerConfig,
    auth: &Auth,
    req: &RequestParts,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let expired = |expires: String| {
        ApiError::new(ErrorCode::AccessDenied)
            .with_message("Request has expired.")
            .with("Expires", expires)
            .with("ServerTime", time_fmt::xml_timestamp(now))
    };
    match auth {
        Auth::V1Presigned { expires, .. } => {
            // `Expires` is any i64 the client sent; only compare it, never do arithmetic on it.
            if now.unix_timestamp() > *expires {
                let at = OffsetDateTime::from_unix_timestamp(*expires)
                    .map(time_fmt::xml_timestamp)
                    .unwrap_or_else(|_| expires.to_string());
                return Err(expired(at));
            }
            Ok(())
        }
        Auth::V4Presigned {
            credential,
            date,
            expires_secs,
            ..
        } => {
            // The protocol parser already bounds x-oss-expires to 7 days and ties the scope
            // date to x-oss-date; the scope's region and product are the server's to check.
            check_scope(config, credential)?;
            // A URL signed in the future would stay valid up to its date plus 7 days, and a
            // date near the end of the calendar would overflow that sum: refuse it first.
            if skew_secs(now, *date) > limits::MAX_CLOCK_SKEW_SECS && *date > now {
                return Err(ApiError::new(ErrorCode::AccessDenied)
                    .with_message("Request is not valid yet: x-oss-date is in the future.")
                    .with("RequestTime", time_fmt::xml_timestamp(*date))
                    .with("ServerTime", time_fmt::xml_timestamp(now)));
            }
            let until = auth.expires_at().ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidArgument)
                    .with_message("x-oss-date plus x-oss-expires is out of range.")
                    .with("ArgumentName", "x-oss-expires")
                    .with("ArgumentValue", expires_secs.to_string())
            })?;
            if now > until {
                return Err(expired(time_fmt::xml_timestamp(until)));
            }
            Ok(())
        }
        Auth::V1Header { .. } | Auth::V4Header { .. } => {
            let when = auth
                .request_time(req)
                .map_err(|e| ApiError::new(e.code()).with_message(e.to_string()))?
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::AccessDenied)
                        .with_message("The request carries no Date or x-oss-date header.")
                })?;
            if let Auth::V4Header { credential, .. } = auth {
                check_scope(config, credential)?;
            }
            if skew_secs(now, when) > limits::MAX_CLOCK_SKEW_SECS {
                return Err(ApiError::new(ErrorCode::RequestTimeTooSkewed)
                    .with("RequestTime", time_fmt::xml_timestamp(when))
                    .with("ServerTime", time_fmt::xml_timestamp(now))
                    .with(
                        "MaxAllowedSkewMilliseconds",
                        (limits::MAX_CLOCK_SKEW_SECS * 1000).to_string(),
                    ));
            }
            Ok(())
        }
    }
}

/// Seconds between two instants, either way round, saturating instead of overflowing.
fn skew_secs(a: OffsetDateTime, b: OffsetDateTime) -> i64 {
    a.unix_timestamp()
        .abs_diff(b.unix_timestamp())
        .try_into()
        .unwrap_or(i64::MAX)
}

/// A V4 scope must name this server's region and the `oss` product.
fn check_scope(config: &ServerConfig, credential: &sign::Credential) -> Result<(), ApiError> {
    let bad = |what: &str, value: &str| {
        ApiError::new(ErrorCode::SignatureDoesNotMatch).with_message(format!(
            "Invalid signing {what} in the credential scope: {value}."
        ))
    };
    if credential.region != config.region {
        return Err(bad("region", &credential.region));
    }
    if credential.product != sign::v4::PRODUCT_OSS {
        return Err(bad("product", &credential.product));
    }
    Ok(())
}
