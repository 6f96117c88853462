//! V4 signing (`OSS4-HMAC-SHA256`): a canonical request hashed into a scoped string-to-sign,
//! signed with a key derived from the secret, the date, the region and the product.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::canonical::{self, header, query_param};
use super::{
    Auth, AuthError, BucketResource, Credential, Credentials, RequestParts, Signed,
    UNSIGNED_PAYLOAD, V4_ALGORITHM, V4_MAX_PRESIGN_SECS,
};
use crate::time_fmt::{parse_v4_date, v4_date};

/// The product every OSS endpoint signs for.
pub const PRODUCT_OSS: &str = "oss";

/// The region id a V4 scope names: `oss-cn-hangzhou` and `cn-hangzhou` both give `cn-hangzhou`.
pub fn scope_region(region: &str) -> &str {
    region.strip_prefix("oss-").unwrap_or(region)
}

/// The canonical request: method, URI, query, headers, additional-header names and the payload
/// hash, one per line. For a presigned URL (`presigned`) `x-oss-signature` is left out of the
/// query.
pub fn canonical_request(
    req: &RequestParts,
    additional_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> String {
    canonical_request_in(
        req,
        additional_headers,
        payload_hash,
        presigned,
        BucketResource::Slash,
    )
}

/// [`canonical_request`] with the bucket-level URI spelled as `form` says.
fn canonical_request_in(
    req: &RequestParts,
    additional_headers: &[String],
    payload_hash: &str,
    presigned: bool,
    form: BucketResource,
) -> String {
    let skip = presigned.then_some("x-oss-signature");
    let additional = additional_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(";");
    format!(
        "{}\n{}\n{}\n{}\n{additional}\n{payload_hash}",
        req.method.to_ascii_uppercase(),
        canonical::v4_uri_in(req, form),
        canonical::v4_query(req, skip),
        canonical::v4_headers(req, additional_headers),
    )
}

/// `OSS4-HMAC-SHA256 \n <x-oss-date> \n <scope> \n hex(SHA-256(canonical_request))`.
pub fn string_to_sign(x_oss_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{V4_ALGORITHM}\n{x_oss_date}\n{scope}\n{hash}")
}

#[allow(clippy::expect_used)] // HMAC takes keys of any length; the error is never returned
fn hmac_sha256(key: &[u8], message: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The signing key: HMAC-SHA256 chained over the date (`yyyymmdd`), region, product and
/// `aliyun_v4_request`, starting from `"aliyun_v4" + secret`.
pub fn signing_key(secret: &str, date: &str, region: &str, product: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), date);
    let k_region = hmac_sha256(&k_date, region);
    let k_product = hmac_sha256(&k_region, product);
    hmac_sha256(&k_product, super::V4_SCOPE_TERMINATOR)
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign` keyed with a [`signing_key`].
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign))
}

/// The V4 computation shared by signing and [`Auth::expected`].
#[allow(clippy::too_many_arguments)] // one private step; each argument is a separate input of V4
pub(super) fn sign_parts(
    req: &RequestParts,
    secret: &str,
    credential: &Credential,
    additional_headers: &[String],
    x_oss_date: &str,
    payload_hash: &str,
    presigned: bool,
    form: BucketResource,
) -> Signed {
    let canonical_request =
        canonical_request_in(req, additional_headers, payload_hash, presigned, form);
    let string_to_sign = string_to_sign(x_oss_date, &credential.scope(), &canonical_request);
    let key = signing_key(
        secret,
        &credential.date,
        &credential.region,
        &credential.product,
    );
    let signature = signature(&key, &string_to_sign);
    Signed {
        string_to_sign,
        canonical_request: Some(canonical_request),
        signature,
    }
}

fn credential_at(creds: &Credentials, region: &str, x_oss_date: &str) -> Credential {
    Credential {
        access_key_id: creds.access_key_id.clone(),
        date: x_oss_date.get(..8).unwrap_or(x_oss_date).to_owned(),
        region: region.to_owned(),
        product: PRODUCT_OSS.to_owned(),
    }
}

fn lowercase_all(names: &[String]) -> Vec<String> {
    names.iter().map(|h| h.to_ascii_lowercase()).collect()
}

/// Headers to set on the request, each replacing any header of the same name: `x-oss-date`
/// (from `now`), `x-oss-content-sha256` (the request's own value if it has one, else
/// `UNSIGNED-PAYLOAD`) and `Authorization`
/// (`OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…`, no spaces).
/// `region` is the bare region id (`cn-hangzhou`). With STS credentials the caller must already
/// have put `x-oss-security-token` in the request headers.
pub fn sign_headers(
    req: &RequestParts,
    creds: &Credentials,
    region: &str,
    now: OffsetDateTime,
    additional_headers: &[String],
) -> Vec<(String, String)> {
    let date = v4_date(now);
    let payload_hash = header(req, "x-oss-content-sha256")
        .map(str::trim)
        .unwrap_or(UNSIGNED_PAYLOAD);
    let mut added = vec![
        ("x-oss-date".to_owned(), date.clone()),
        ("x-oss-content-sha256".to_owned(), payload_hash.to_owned()),
    ];
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("x-oss-date") && !n.eq_ignore_ascii_case("x-oss-content-sha256")
        })
        .chain(&added)
        .cloned()
        .collect();
    let signed_req = RequestParts {
        headers: &headers,
        ..*req
    };
    let credential = credential_at(creds, region, &date);
    let additional_headers = lowercase_all(additional_headers);
    let mut value = format!("{V4_ALGORITHM} Credential={}", credential.to_wire());
    if !additional_headers.is_empty() {
        value.push_str(",AdditionalHeaders=");
        value.push_str(&additional_headers.join(";"));
    }
    let auth = Auth::V4Header {
        credential,
        additional_headers,
        signature: String::new(),
    };
    let signed = auth.expected(&signed_req, &creds.access_key_secret);
    value.push_str(",Signature=");
    value.push_str(&signed.signature);
    added.push(("Authorization".to_owned(), value));
    added
}

/// Query parameters to append for a presigned URL signed at `now`, valid for `expires_secs`
/// (at most 7 days): `x-oss-signature-version`, `x-oss-date`, `x-oss-expires`,
/// `x-oss-credential`, `x-oss-additional-headers` (if any), `x-oss-security-token` (STS) and
/// `x-oss-signature`.
pub fn presign_query(
    req: &RequestParts,
    creds: &Credentials,
    region: &str,
    now: OffsetDateTime,
    expires_secs: i64,
    additional_headers: &[String],
) -> Vec<(String, String)> {
    let date = v4_date(now);
    let credential = credential_at(creds, region, &date);
    let additional_headers = lowercase_all(additional_headers);
    let mut added = vec![
        (
            "x-oss-signature-version".to_owned(),
            V4_ALGORITHM.to_owned(),
        ),
        ("x-oss-date".to_owned(), date),
        ("x-oss-expires".to_owned(), expires_secs.to_string()),
        ("x-oss-credential".to_owned(), credential.to_wire()),
    ];
    if !additional_headers.is_empty() {
        added.push((
            "x-oss-additional-headers".to_owned(),
            additional_headers.join(";"),
        ));
    }
    if let Some(token) = &creds.security_token {
        added.push(("x-oss-security-token".to_owned(), token.clone()));
    }
    let query: Vec<(String, String)> = req.query.iter().chain(&added).cloned().collect();
    let signed_req = RequestParts {
        query: &query,
        ..*req
    };
    let auth = Auth::V4Presigned {
        credential,
        additional_headers,
        signature: String::new(),
        date: now,
        expires_secs,
    };
    let signed = auth.expected(&signed_req, &creds.access_key_secret);
    added.push(("x-oss-signature".to_owned(), signed.signature));
    added
}

fn parse_additional_headers(list: &str) -> Vec<String> {
    list.split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Checks that the scope date is the date of `x_oss_date` and parses the latter.
fn check_date(credential: &Credential, x_oss_date: &str) -> Result<OffsetDateTime, AuthError> {
    let parsed =
        parse_v4_date(x_oss_date).ok_or_else(|| AuthError::InvalidDate(x_oss_date.to_owned()))?;
    if !x_oss_date.starts_with(credential.date.as_str()) {
        return Err(AuthError::ScopeDateMismatch {
            scope: credential.date.clone(),
            date: x_oss_date.to_owned(),
        });
    }
    Ok(parsed)
}

/// Parses what follows `OSS4-HMAC-SHA256` in the Authorization header. Accepts `,` or `, `
/// separators and `AdditionalHeaders` before or after `Signature`.
pub(super) fn parse_authorization(req: &RequestParts, rest: &str) -> Result<Auth, AuthError> {
    let malformed = || AuthError::MalformedAuthorization(format!("{V4_ALGORITHM}{rest}"));
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(malformed());
    }
    let (mut credential, mut additional, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let (name, value) = field.trim().split_once('=').ok_or_else(malformed)?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "AdditionalHeaders" => &mut additional,
            "Signature" => &mut signature,
            _ => return Err(malformed()),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(malformed());
        }
    }
    let credential = Credential::parse(credential.ok_or_else(malformed)?)?;
    let signature = signature.filter(|s| !s.is_empty()).ok_or_else(malformed)?;
    let x_oss_date = header(req, "x-oss-date").ok_or(AuthError::MissingDate)?;
    check_date(&credential, x_oss_date.trim())?;
    if let Some(hash) = header(req, "x-oss-content-sha256").map(str::trim) {
        let hex_digest = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if hash != UNSIGNED_PAYLOAD && !hex_digest {
            return Err(AuthError::InvalidPayloadHash(hash.to_owned()));
        }
    }
    Ok(Auth::V4Header {
        credential,
        additional_headers: additional.map(parse_additional_headers).unwrap_or_default(),
        signature: signature.to_owned(),
    })
}

/// Reads the `x-oss-*` presign parameters from the query.
pub(super) fn parse_presigned(req: &RequestParts) -> Result<Auth, AuthError> {
    let required = |name: &'static str| {
        query_param(req, name)
            .filter(|v| !v.is_empty())
            .ok_or(AuthError::MissingPresignParameter(name))
    };
    let credential = Credential::parse(required("x-oss-credential")?)?;
    let date = check_date(&credential, required("x-oss-date")?)?;
    let expires_raw = required("x-oss-expires")?;
    let expires_secs = expires_raw
        .parse::<i64>()
        .ok()
        .filter(|s| (1..=V4_MAX_PRESIGN_SECS).contains(s))
        .ok_or_else(|| AuthError::InvalidExpires(expires_raw.to_owned()))?;
    let signature = required("x-oss-signature")?;
    Ok(Auth::V4Presigned {
        credential,
        additional_headers: query_param(req, "x-oss-additional-headers")
            .map(parse_additional_headers)
            .unwrap_or_default(),
        signature: signature.to_owned(),
        date,
        expires_secs,
    })
}
