//! Percent-encoding as OSS uses it: one strict unreserved set, `/` kept or not.
//!
//! Paths decode `+` as a plus sign; query strings decode `+` as a space (python-requests sends
//! spaces that way, every SDK sends a real plus as `%2B`).

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but `A-Z a-z 0-9 - _ . ~` is escaped.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`STRICT`] but `/` stays literal.
const STRICT_KEEP_SLASH: &AsciiSet = &STRICT.remove(b'/');

/// Encodes with the strict set, escaping `/` too (query names and values, `encoding-type=url`).
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, STRICT).to_string()
}

/// Encodes with the strict set, keeping `/` (object keys in request paths, V4 canonical URI).
pub fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, STRICT_KEEP_SLASH).to_string()
}

/// A percent-escape or its decoded bytes were not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid percent-encoding in {0:?}")]
pub struct DecodeError(pub String);

fn decode_bytes(bytes: &[u8], original: &str) -> Result<String, DecodeError> {
    // Reject malformed escapes instead of passing them through literally.
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        let escape = rest.get(at + 1..at + 3);
        if !matches!(escape, Some([hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit()) {
            return Err(DecodeError(original.to_owned()));
        }
        rest = rest.get(at + 3..).unwrap_or_default();
    }
    String::from_utf8(percent_decode(bytes).collect()).map_err(|_| DecodeError(original.to_owned()))
}

/// Decodes a request path: every `%XX` (including `%2F`), `+` stays a plus.
pub fn decode_path(s: &str) -> Result<String, DecodeError> {
    decode_bytes(s.as_bytes(), s)
}

/// Decodes a query name or value: every `%XX`, and `+` as a space.
pub fn decode_query_component(s: &str) -> Result<String, DecodeError> {
    if s.contains('+') {
        decode_bytes(s.replace('+', " ").as_bytes(), s)
    } else {
        decode_bytes(s.as_bytes(), s)
    }
}

/// Renders decoded `(name, value)` pairs as a query string (no leading `?`), each side encoded
/// with the strict set; an empty value gives a bare `name`.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    let rendered: Vec<String> = pairs
        .iter()
        .map(|(n, v)| {
            if v.is_empty() {
                encode_component(n)
            } else {
                format!("{}={}", encode_component(n), encode_component(v))
            }
        })
        .collect();
    rendered.join("&")
}

/// Splits a raw query string into decoded `(name, value)` pairs in their original order.
/// `a` and `a=` both give `("a", "")`.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, DecodeError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_query_component(n)?, decode_query_component(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_strictly() {
        assert_eq!(encode_path("dir/a b+c.txt"), "dir/a%20b%2Bc.txt");
        assert_eq!(encode_component("dir/a b+c.txt"), "dir%2Fa%20b%2Bc.txt");
        assert_eq!(
            encode_path("ü€-文件.txt"),
            "%C3%BC%E2%82%AC-%E6%96%87%E4%BB%B6.txt"
        );
        assert_eq!(encode_component("a~b_c.d-e"), "a~b_c.d-e");
    }

    #[test]
    fn decodes_path_and_query_differently() {
        assert_eq!(decode_path("/b/dir%2Fa%20b+c").unwrap(), "/b/dir/a b+c");
        assert_eq!(
            decode_query_component("dir%2Fa+b%2Bc").unwrap(),
            "dir/a b+c"
        );
        assert!(decode_path("/b/%zz").is_err());
        assert!(decode_path("/b/%4").is_err());
        assert!(decode_path("/b/%FF").is_err());
    }

    #[test]
    fn parses_queries() {
        let q = parse_query("uploads=&prefix=a%2F&delimiter=&max-uploads=1000&x").unwrap();
        assert_eq!(q[0], ("uploads".into(), "".into()));
        assert_eq!(q[1], ("prefix".into(), "a/".into()));
        assert_eq!(q[4], ("x".into(), "".into()));
        assert_eq!(
            encode_query(&q),
            "uploads&prefix=a%2F&delimiter&max-uploads=1000&x"
        );
    }
}
