//! Authentication parsing and verification (`sign::parse_auth`, `Auth::request_time`,
//! `Auth::expires_at`, `Auth::verify`) over a fuzzed request, plus a sign-then-verify
//! property: whatever request the fuzzer builds, a signature our signer makes (V1 and V4
//! headers, V1 and V4 presigned URLs) is found by `parse_auth` and accepted by `verify`.
//!
//! Input: lines `method`, `bucket`, `key`, `query` (raw, percent-encoded), then `name: value`
//! header lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osspart_protocol::encoding::parse_query;
use osspart_protocol::sign::{parse_auth, v1, v4, Credentials, RequestParts};
use time::OffsetDateTime;

/// Headers the signers set themselves, or that carry auth: left out of the signed requests so
/// that a fuzzed copy does not compete with the signer's.
const SIGNING_HEADERS: &[&str] = &[
    "authorization",
    "date",
    "x-oss-date",
    "x-oss-content-sha256",
    "x-oss-security-token",
];

/// Query parameters that carry presign auth.
const SIGNING_PARAMS: &[&str] = &[
    "OSSAccessKeyId",
    "Expires",
    "Signature",
    "security-token",
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-signature",
    "x-oss-additional-headers",
    "x-oss-security-token",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or_default();
    let bucket = lines.next().filter(|b| !b.is_empty());
    let key = lines.next().filter(|k| !k.is_empty());
    let Ok(query) = parse_query(lines.next().unwrap_or_default()) else {
        return;
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let req = RequestParts {
        method,
        bucket,
        key,
        query: &query,
        headers: &headers,
    };
    // Arbitrary auth material: parse and check, never panic.
    if let Ok(Some(auth)) = parse_auth(&req) {
        let _ = auth.request_time(&req);
        let _ = auth.expires_at();
        let _ = auth.security_token(&req);
        let _ = auth.verify(&req, "secret");
    }

    // Sign-then-verify over the same request minus any auth of its own.
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            !SIGNING_HEADERS
                .iter()
                .any(|s| n.trim().eq_ignore_ascii_case(s))
        })
        .filter(|(n, _)| !n.trim().is_empty() && n.trim() == n)
        .cloned()
        .collect();
    let query: Vec<(String, String)> = query
        .iter()
        .filter(|(n, _)| !SIGNING_PARAMS.contains(&n.as_str()))
        .cloned()
        .collect();
    let req = RequestParts {
        query: &query,
        headers: &headers,
        ..req
    };
    let creds = Credentials {
        access_key_id: "fuzz-id".into(),
        access_key_secret: "fuzz-secret".into(),
        security_token: None,
    };
    let now = OffsetDateTime::from_unix_timestamp(1_704_164_645).unwrap();
    let check = |headers: &[(String, String)], query: &[(String, String)], form: &str| {
        let signed = RequestParts {
            headers,
            query,
            ..req
        };
        let auth = parse_auth(&signed)
            .unwrap_or_else(|e| panic!("{form}: our own signature does not parse: {e}"))
            .unwrap_or_else(|| panic!("{form}: our own signature is not found"));
        if let Err(m) = auth.verify(&signed, &creds.access_key_secret) {
            panic!("{form}: our own signature does not verify: {m:?}");
        }
    };
    let with = |added: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = headers.clone();
        for (n, v) in added {
            h.retain(|(hn, _)| !hn.eq_ignore_ascii_case(&n));
            h.push((n, v));
        }
        h
    };
    check(
        &with(v1::sign_headers(&req, &creds, now)),
        &query,
        "v1 header",
    );
    check(
        &with(v4::sign_headers(&req, &creds, "cn-hangzhou", now, &[])),
        &query,
        "v4 header",
    );
    let mut q = query.clone();
    q.extend(v1::presign_query(&req, &creds, 1_704_168_245));
    check(&headers, &q, "v1 presign");
    let mut q = query.clone();
    q.extend(v4::presign_query(
        &req,
        &creds,
        "cn-hangzhou",
        now,
        600,
        &[],
    ));
    check(&headers, &q, "v4 presign");
});
