//! The request-target path and query: `encoding::decode_path` and `parse_query`, then the
//! server's own `addressing::resolve` and the protocol's `operation::parse` (the one the server
//! runs) over a fuzzed Host, method and headers.
//!
//! Input: lines `host`, `method`, `target` (path and query), then `name: value` header lines.
//! Checks: nothing panics; what decodes re-encodes to something that decodes to the same text
//! (`decode_path(encode_path(s)) == s`, and the same for query pairs); a resolved key is
//! never empty; a parsed operation names the resolved bucket.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use osspart_protocol::encoding::{decode_path, encode_component, encode_path, parse_query};
use osspart_server::http::{addressing, operation};
use osspart_server::ServerConfig;
use std::sync::OnceLock;

fn config() -> &'static ServerConfig {
    static CONFIG: OnceLock<ServerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut c = ServerConfig::new("/nonexistent", "127.0.0.1:0".parse().unwrap());
        c.cnames.insert("files.example.com".into(), "cnamed".into());
        c
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let host = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default();
    let target = lines.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    if let Ok(decoded) = decode_path(path) {
        assert_eq!(decode_path(&encode_path(&decoded)).unwrap(), decoded);
    }
    let parsed_query = parse_query(query);
    if let Ok(pairs) = &parsed_query {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect();
        let again = parse_query(&encoded.join("&")).unwrap();
        let kept: Vec<_> = pairs
            .iter()
            .filter(|(n, v)| !n.is_empty() || !v.is_empty())
            .cloned()
            .collect();
        let again: Vec<_> = again
            .into_iter()
            .filter(|(n, v)| !n.is_empty() || !v.is_empty())
            .collect();
        assert_eq!(again, kept);
    }

    let host = (!host.is_empty()).then_some(host);
    let Ok(resolved) = addressing::resolve(host, path, config()) else {
        return;
    };
    assert!(resolved.key.as_deref() != Some(""));
    assert!(resolved.bucket.as_deref() != Some(""));
    let Ok(pairs) = parsed_query else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    let query = operation::Query(pairs);
    if let Ok(op) = osspart_protocol::operation::parse(&method, &resolved, &query, &headers) {
        let _ = op.name();
        assert!(resolved.bucket.is_some() || op.name() == "ListBuckets");
    }
});
