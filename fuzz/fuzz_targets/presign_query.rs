//! Presigned URLs (V1 and V4) through the protocol crate's parse and verify paths and the
//! server's `auth::authenticate`, which also checks dates and lifetimes.
//!
//! Input: a raw (percent-encoded) query string on the first line; the rest is ignored.
//! Checks:
//! - as sent, nothing panics: `parse_auth`, `request_time`, `expires_at`, `verify` and the
//!   server's `authenticate`, whatever dates, lifetimes or key ids the query holds;
//! - re-signed: the fuzzed `x-oss-date` / `x-oss-expires` (V4) and `Expires` (V1) are signed
//!   correctly with a key the server knows, and the server accepts the URL exactly when the
//!   rules say so: V4 lifetime 1..=604800 s, signed no later than now plus the 15-minute skew,
//!   not yet expired; V1 not yet expired.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use osspart_protocol::encoding::parse_query;
use osspart_protocol::sign::{parse_auth, v1, v4, Credentials, RequestParts};
use osspart_protocol::time_fmt::parse_v4_date;
use osspart_server::http::auth::authenticate;
use osspart_server::ServerConfig;
use time::{Duration, OffsetDateTime};

/// Query parameters that carry presign auth; removed before re-signing.
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

fn creds() -> Credentials {
    Credentials {
        access_key_id: "fuzz-id".into(),
        access_key_secret: "fuzz-secret".into(),
        security_token: None,
    }
}

fn config() -> &'static ServerConfig {
    static CONFIG: OnceLock<ServerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut c = ServerConfig::new("/nonexistent", "127.0.0.1:0".parse().unwrap());
        c.credentials.push(creds());
        c
    })
}

/// The server's clock for every input, so that a verdict depends on the input alone.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_704_164_645).unwrap()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let raw = text.split('\n').next().unwrap_or_default();
    let Ok(query) = parse_query(raw) else {
        return;
    };
    let req = RequestParts {
        method: "GET",
        bucket: Some("bucket"),
        key: Some("dir/key.txt"),
        query: &query,
        headers: &[],
    };

    // As sent: arbitrary presign material is refused or accepted, never a panic.
    if let Ok(Some(auth)) = parse_auth(&req) {
        let _ = auth.request_time(&req);
        let _ = auth.expires_at();
        let _ = auth.verify(&req, "fuzz-secret");
    }
    let _ = authenticate(config(), &req, now());

    // Re-signed with a known key: the verdict follows the date and lifetime rules.
    let plain: Vec<(String, String)> = query
        .iter()
        .filter(|(n, _)| !SIGNING_PARAMS.contains(&n.as_str()))
        .cloned()
        .collect();
    let plain_req = RequestParts {
        query: &plain,
        ..req
    };
    let verdict = |added: Vec<(String, String)>| {
        let mut q = plain.clone();
        q.extend(added);
        let signed = RequestParts {
            query: &q,
            ..plain_req
        };
        authenticate(config(), &signed, now())
    };

    if let Some(signed_at) = param(&query, "x-oss-date").and_then(parse_v4_date) {
        let expires = param(&query, "x-oss-expires")
            .and_then(|e| e.parse::<i64>().ok())
            .unwrap_or(600);
        let added = v4::presign_query(
            &plain_req,
            &creds(),
            &config().region,
            signed_at,
            expires,
            &[],
        );
        let not_from_the_future = signed_at <= now() + Duration::minutes(15);
        let lifetime_ok = (1..=604_800).contains(&expires);
        let not_expired = lifetime_ok
            && signed_at
                .checked_add(Duration::seconds(expires))
                .is_some_and(|until| now() <= until);
        let valid = lifetime_ok && not_from_the_future && not_expired;
        let got = verdict(added);
        assert_eq!(
            got.is_ok(),
            valid,
            "v4 signed at {signed_at} for {expires} s: {got:?}"
        );
    }

    if let Some(expires) = param(&query, "Expires").and_then(|e| e.trim().parse::<i64>().ok()) {
        let added = v1::presign_query(&plain_req, &creds(), expires);
        let got = verdict(added);
        assert_eq!(
            got.is_ok(),
            now().unix_timestamp() <= expires,
            "v1 expiring at {expires}: {got:?}"
        );
    }
});
