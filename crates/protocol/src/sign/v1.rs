//! V1 signing: `Base64(HMAC-SHA1(secret, StringToSign))`, in the Authorization header or in a
//! presigned URL (where the `Expires` value takes the place of the date).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

use super::canonical::{self, header, query_param};
use super::{Auth, AuthError, BucketResource, Credentials, RequestParts, Signed};

/// The date line of a V1 header-signed request: `x-oss-date` if present, else `Date`.
pub fn date_line<'a>(req: &RequestParts<'a>) -> Option<&'a str> {
    header(req, "x-oss-date")
        .or_else(|| header(req, "date"))
        .map(str::trim)
}

/// `VERB \n Content-MD5 \n Content-Type \n <date_line> \n CanonicalizedOSSHeaders
/// CanonicalizedResource`. `date_line` is the request date (header form) or the `Expires`
/// value (presigned form).
pub fn string_to_sign(req: &RequestParts, date_line: &str) -> String {
    string_to_sign_in(req, date_line, BucketResource::Slash)
}

/// [`string_to_sign`] with the bucket-level resource spelled as `form` says.
fn string_to_sign_in(req: &RequestParts, date_line: &str, form: BucketResource) -> String {
    let md5 = header(req, "content-md5").map_or("", str::trim);
    let content_type = header(req, "content-type").map_or("", str::trim);
    format!(
        "{}\n{md5}\n{content_type}\n{date_line}\n{}{}",
        req.method.to_ascii_uppercase(),
        canonical::v1_oss_headers(req),
        canonical::v1_resource_in(req, form),
    )
}

/// Base64 HMAC-SHA1 of `string_to_sign` keyed with `secret`.
#[allow(clippy::expect_used)] // HMAC takes keys of any length; the error is never returned
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The V1 computation shared by signing and [`Auth::expected`].
pub(super) fn sign_with_date_line(
    req: &RequestParts,
    secret: &str,
    date_line: &str,
    form: BucketResource,
) -> Signed {
    let string_to_sign = string_to_sign_in(req, date_line, form);
    let signature = signature(secret, &string_to_sign);
    Signed {
        string_to_sign,
        canonical_request: None,
        signature,
    }
}

/// Headers to set on the request: `Date` (only if neither `Date` nor `x-oss-date` is present)
/// and `Authorization`. With STS credentials the caller must already have put
/// `x-oss-security-token` in the request headers, so that it is signed.
pub fn sign_headers(
    req: &RequestParts,
    creds: &Credentials,
    now: OffsetDateTime,
) -> Vec<(String, String)> {
    let mut added = Vec::new();
    if date_line(req).is_none() {
        added.push(("Date".to_owned(), crate::time_fmt::http_date(now)));
    }
    let headers: Vec<(String, String)> = req.headers.iter().chain(&added).cloned().collect();
    let signed_req = RequestParts {
        headers: &headers,
        ..*req
    };
    let auth = Auth::V1Header {
        access_key_id: creds.access_key_id.clone(),
        signature: String::new(),
    };
    let signed = auth.expected(&signed_req, &creds.access_key_secret);
    added.push((
        "Authorization".to_owned(),
        format!("OSS {}:{}", creds.access_key_id, signed.signature),
    ));
    added
}

/// Query parameters to append for a presigned URL valid until `expires_unix`:
/// `security-token` (STS, unless already in the query), `OSSAccessKeyId`, `Expires`, `Signature`.
/// `req.headers` must hold the Content-Type, Content-MD5 and `x-oss-*` headers the eventual
/// request will send.
pub fn presign_query(
    req: &RequestParts,
    creds: &Credentials,
    expires_unix: i64,
) -> Vec<(String, String)> {
    let mut added = Vec::new();
    if let Some(token) = &creds.security_token {
        if query_param(req, "security-token").is_none() {
            added.push(("security-token".to_owned(), token.clone()));
        }
    }
    added.push(("OSSAccessKeyId".to_owned(), creds.access_key_id.clone()));
    added.push(("Expires".to_owned(), expires_unix.to_string()));
    let query: Vec<(String, String)> = req.query.iter().chain(&added).cloned().collect();
    let signed_req = RequestParts {
        query: &query,
        ..*req
    };
    let auth = Auth::V1Presigned {
        access_key_id: creds.access_key_id.clone(),
        signature: String::new(),
        expires: expires_unix,
    };
    let signed = auth.expected(&signed_req, &creds.access_key_secret);
    added.push(("Signature".to_owned(), signed.signature));
    added
}

/// Parses what follows `OSS ` in the Authorization header: `<AccessKeyId>:<Signature>`.
pub(super) fn parse_authorization(rest: &str) -> Result<Auth, AuthError> {
    let malformed = || AuthError::MalformedAuthorization(format!("OSS {rest}"));
    let (id, signature) = rest.trim().rsplit_once(':').ok_or_else(malformed)?;
    let (id, signature) = (id.trim(), signature.trim());
    if id.is_empty() || signature.is_empty() {
        return Err(malformed());
    }
    Ok(Auth::V1Header {
        access_key_id: id.to_owned(),
        signature: signature.to_owned(),
    })
}

/// Reads `OSSAccessKeyId`, `Expires` and `Signature` from the query.
pub(super) fn parse_presigned(req: &RequestParts) -> Result<Auth, AuthError> {
    let id = query_param(req, "OSSAccessKeyId")
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingPresignParameter("OSSAccessKeyId"))?;
    let signature = query_param(req, "Signature")
        .filter(|s| !s.is_empty())
        .ok_or(AuthError::MissingPresignParameter("Signature"))?;
    let expires =
        query_param(req, "Expires").ok_or(AuthError::MissingPresignParameter("Expires"))?;
    let expires = expires
        .trim()
        .parse::<i64>()
        .map_err(|_| AuthError::InvalidExpires(expires.to_owned()))?;
    Ok(Auth::V1Presigned {
        access_key_id: id.to_owned(),
        // Base64 has no spaces: a space here is a `+` someone forgot to escape, which query
        // decoding turned into a space.
        signature: signature.replace(' ', "+"),
        expires,
    })
}
