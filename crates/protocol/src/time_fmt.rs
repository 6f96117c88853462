//! The three time formats of the protocol: XML timestamps, HTTP dates and V4 compact dates.

use time::format_description::well_known::Rfc2822;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// `2024-01-02T03:04:05.000Z`: the only XML form oss2's parser accepts.
#[allow(clippy::expect_used)] // every OffsetDateTime has a four-digit year and numeric fields
pub fn xml_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    t.format(&f).expect("formatting a UTC time cannot fail")
}

/// Parses an XML timestamp such as `2024-01-02T03:04:05.000Z` (any fraction, `Z` only).
pub fn parse_xml_timestamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// `Tue, 02 Jan 2024 03:04:05 GMT` (RFC 1123).
pub fn http_date(t: OffsetDateTime) -> String {
    httpdate::fmt_http_date(t.into())
}

/// Parses an RFC 1123 (or RFC 850 / asctime) HTTP date.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    httpdate::parse_http_date(s.trim())
        .ok()
        .map(OffsetDateTime::from)
        .or_else(|| OffsetDateTime::parse(s.trim(), &Rfc2822).ok())
}

/// `20240102T030405Z`: the V4 `x-oss-date` form.
#[allow(clippy::expect_used)] // every OffsetDateTime has a four-digit year and numeric fields
pub fn v4_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&f).expect("formatting a UTC time cannot fail")
}

/// Parses the V4 compact form `20240102T030405Z`.
pub fn parse_v4_date(s: &str) -> Option<OffsetDateTime> {
    let f = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, &f).ok().map(|p| p.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp(1_704_164_645).unwrap();
        assert_eq!(xml_timestamp(t), "2024-01-02T03:04:05.000Z");
        assert_eq!(http_date(t), "Tue, 02 Jan 2024 03:04:05 GMT");
        assert_eq!(v4_date(t), "20240102T030405Z");
        assert_eq!(parse_xml_timestamp("2024-01-02T03:04:05.000Z"), Some(t));
        assert_eq!(parse_http_date("Tue, 02 Jan 2024 03:04:05 GMT"), Some(t));
        assert_eq!(parse_v4_date("20240102T030405Z"), Some(t));
        assert_eq!(parse_v4_date("2024-01-02"), None);
    }
}
