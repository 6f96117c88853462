//! Modification times carried by objects: an upload stores the file's mtime as user metadata
//! `mtime` (Unix seconds with nanoseconds, `1733270000.123456789`), and a download sets it
//! back on the file; objects without it fall back to their Last-Modified.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The user-metadata name (`x-oss-meta-mtime`).
pub const META_NAME: &str = "mtime";

/// Times closer than this are the same (file systems keep different precisions).
const SAME_WITHIN: Duration = Duration::from_millis(1);

/// `t` as the metadata value.
pub fn format(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:09}", d.as_secs(), d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            format!("-{}.{:09}", d.as_secs(), d.subsec_nanos())
        }
    }
}

/// Parses a metadata value written by [`format`] (or plain whole seconds).
pub fn parse(s: &str) -> Option<SystemTime> {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = secs.parse().ok()?;
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{frac:0<9}").parse::<u32>().ok()?
    };
    let d = Duration::new(secs, nanos);
    if negative {
        UNIX_EPOCH.checked_sub(d)
    } else {
        UNIX_EPOCH.checked_add(d)
    }
}

/// Whether two times are the same up to file-system precision.
pub fn same(a: SystemTime, b: SystemTime) -> bool {
    let diff = a.duration_since(b).unwrap_or_else(|e| e.duration());
    diff < SAME_WITHIN
}

/// The mtime an object carries, from what HEAD or GET told about it.
pub fn of_info(info: &osspart::ObjectInfo) -> Option<SystemTime> {
    of_object(&info.meta, info.last_modified.map(SystemTime::from))
}

/// Gives a downloaded file its object's modification time.
pub fn set_on_file(path: &std::path::Path, info: &osspart::ObjectInfo) -> std::io::Result<()> {
    match of_info(info) {
        Some(t) => std::fs::File::options()
            .write(true)
            .open(path)?
            .set_modified(t),
        None => Ok(()),
    }
}

/// The mtime an object carries: its `mtime` metadata, else its Last-Modified.
pub fn of_object(
    meta: &[(String, String)],
    last_modified: Option<SystemTime>,
) -> Option<SystemTime> {
    meta.iter()
        .find(|(k, _)| k == META_NAME)
        .and_then(|(_, v)| parse(v))
        .or(last_modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for t in [
            UNIX_EPOCH + Duration::new(1_733_270_000, 123_456_789),
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::new(5, 500),
        ] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(parse("12"), Some(UNIX_EPOCH + Duration::from_secs(12)));
        assert_eq!(
            parse("12.5"),
            Some(UNIX_EPOCH + Duration::from_millis(12_500))
        );
        for bad in ["", "x", "1.2.3", "1.1234567890", "1.-5"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let t = UNIX_EPOCH + Duration::from_secs(100);
        assert!(same(t, t + Duration::from_micros(999)));
        assert!(!same(t, t + Duration::from_millis(2)));
    }
}
