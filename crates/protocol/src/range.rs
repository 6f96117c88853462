//! The `Range` header of GetObject, with OSS's lenient rules.
//!
//! OSS ignores a malformed, multi-range or unsatisfiable range and sends the whole object
//! (`200`), unless the request asks for standard behaviour (`x-oss-range-behavior: standard`),
//! in which case an unsatisfiable range is an `InvalidRange` error.

/// A single byte range as written in the header, before knowing the object size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (inclusive).
    FromTo(u64, u64),
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n`. `None` for anything else (including several
/// ranges, negative or overflowing numbers, or `a > b`).
pub fn parse(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRange::Suffix(num(b)?)),
        (false, true) => Some(ByteRange::From(num(a)?)),
        (false, false) => {
            let (first, last) = (num(a)?, num(b)?);
            (first <= last).then_some(ByteRange::FromTo(first, last))
        }
    }
}

impl ByteRange {
    /// The inclusive `(first, last)` this range selects in an object of `size` bytes, or `None`
    /// when it cannot be satisfied. A last byte past the end is clipped to the end.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        if size == 0 {
            return None;
        }
        match self {
            ByteRange::FromTo(first, last) => (first < size).then(|| (first, last.min(size - 1))),
            ByteRange::From(first) => (first < size).then(|| (first, size - 1)),
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
        }
    }

    /// The header value that asks for this range.
    pub fn to_header(self) -> String {
        match self {
            ByteRange::FromTo(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(parse("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
        assert_eq!(parse("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(parse("bytes=-3"), Some(ByteRange::Suffix(3)));
        for bad in [
            "bytes=9-0",
            "bytes=-",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=-1-2",
            "bytes=a-b",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn resolves_against_size() {
        assert_eq!(ByteRange::FromTo(0, 9).resolve(5), Some((0, 4)));
        assert_eq!(ByteRange::FromTo(5, 9).resolve(5), None);
        assert_eq!(ByteRange::From(4).resolve(5), Some((4, 4)));
        assert_eq!(ByteRange::Suffix(10).resolve(5), Some((0, 4)));
        assert_eq!(ByteRange::Suffix(0).resolve(5), None);
        assert_eq!(ByteRange::From(0).resolve(0), None);
        assert_eq!(ByteRange::FromTo(2, 3).to_header(), "bytes=2-3");
    }
}
