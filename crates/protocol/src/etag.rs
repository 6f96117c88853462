//! ETags as OSS writes them: upper-case hex in double quotes. Clients send them quoted or bare
//! and in any case, so every comparison goes through [`same`].

/// The ETag without surrounding whitespace and one pair of quotes.
pub fn unquote(raw: &str) -> &str {
    let t = raw.trim();
    if is_quoted(t) {
        &t[1..t.len() - 1]
    } else {
        t
    }
}

/// The ETag in quotes, unless it already carries them.
pub fn quote(etag: &str) -> String {
    if is_quoted(etag) {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// Whether two ETags name the same value (quotes and letter case aside).
pub fn same(a: &str, b: &str) -> bool {
    unquote(a).eq_ignore_ascii_case(unquote(b))
}

/// The ETag of a body with this MD5: `"<UPPER HEX>"`.
pub fn of_md5(md5: &[u8; 16]) -> String {
    format!("\"{}\"", hex::encode_upper(md5))
}

fn is_quoted(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_comparison() {
        assert_eq!(unquote(" \"AB\" "), "AB");
        assert_eq!(unquote("AB"), "AB");
        assert_eq!(quote("AB"), "\"AB\"");
        assert_eq!(quote("\"AB\""), "\"AB\"");
        assert!(same("\"ab\"", "AB"));
        assert!(!same("\"ab\"", "AC"));
        assert_eq!(of_md5(&[0xAB; 16]), format!("\"{}\"", "AB".repeat(16)));
    }
}
