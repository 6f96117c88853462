//! XML bodies of the OSS API: the one place where their element names, element order and
//! required-but-empty elements are written down.
//!
//! Invariant: what the server writes with [`to_xml`] the client reads back with [`from_xml`]
//! into an equal value, and [`from_xml`] only ever hands a body to the deserializer after it
//! has been checked to be small, UTF-8, free of DTDs (no entity expansion), well formed,
//! shallow, and rooted at the element the target type names.
//!
//! Conventions shared by every type here:
//! * timestamps are `String`s the caller formats with [`crate::time_fmt::xml_timestamp`];
//! * ETag fields hold the ETag *without* quotes; they are written quoted (`"…"`) and read with
//!   or without quotes (a value that already carries quotes is not quoted twice);
//! * strings are written as given: `encoding-type=url` encoding is the caller's job.

pub mod bucket;
pub mod cors;
pub mod error;
pub mod multipart;
pub mod object;

pub use bucket::{
    AccessControlList, BucketDetail, BucketEntry, BucketInfo, CreateBucketConfiguration,
    ListAllMyBucketsResult, LocationConstraint, Owner,
};
pub use cors::{CorsConfiguration, CorsRule};
pub use error::ErrorBody;
pub use multipart::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart, CopyPartResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, Part, Upload,
};
pub use object::{
    CommonPrefix, CopyObjectResult, DeleteMultipleObjects, DeleteResult, DeletedObject,
    ListBucketResult, ListBucketResultV2, ObjectEntry, ObjectToDelete, ObjectType,
};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::limits::MAX_XML_BODY;

/// The declaration every XML body we write starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Deepest element nesting [`from_xml`] accepts. Our deepest documents nest 4 levels
/// (`ListBucketResult/Contents/Owner/ID`); the margin tolerates extensions real OSS adds.
pub const MAX_XML_DEPTH: usize = 16;

/// Why an XML body was refused. The server answers all of them with `MalformedXML`.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlError {
    /// The body is larger than [`MAX_XML_BODY`].
    #[error("XML body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not valid UTF-8.
    #[error("XML body is not valid UTF-8")]
    NotUtf8,
    /// The body carries a document type declaration or an entity declaration; refused so that
    /// no entity is ever expanded.
    #[error("XML body contains a DOCTYPE or ENTITY declaration")]
    Dtd,
    /// The body is not well-formed XML (includes an empty body or several root elements).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Elements nest deeper than [`MAX_XML_DEPTH`].
    #[error("XML elements nest deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The root element is not the one the expected document has.
    #[error("expected root element <{expected}>, found <{found}>")]
    WrongRoot {
        /// The root element the target type has.
        expected: String,
        /// The root element the body has.
        found: String,
    },
    /// Well-formed XML that does not fit the document: a required element is missing, a number
    /// does not parse, an element repeats where it may not.
    #[error("XML body does not match the expected document: {0}")]
    Schema(String),
}

/// Serializes `value` as a complete XML document: the UTF-8 declaration, a newline, then the
/// root element (named after the type's serde name), compact, no namespace, with empty
/// elements written as `<A></A>`.
///
/// # Panics
///
/// If `value` is not a struct-like type (a bare string or number has no element name), or
/// serializes an element name that is not a valid XML name. Neither happens with the types of
/// this module.
#[allow(clippy::expect_used)] // only this module's types are serialized, all named structs
pub fn to_xml<T: Serialize>(value: &T) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(XML_DECLARATION);
    out.push('\n');
    let mut ser = quick_xml::se::Serializer::new(&mut out);
    ser.expand_empty_elements(true);
    value
        .serialize(ser)
        .expect("XML body types serialize to a named root element");
    out
}

/// Parses an XML body into `T`, after checking that the body is at most [`MAX_XML_BODY`]
/// bytes, UTF-8 (an initial byte-order mark is skipped), free of `<!DOCTYPE`/`<!ENTITY`,
/// well formed, at most [`MAX_XML_DEPTH`] levels deep, and that its root element is the one `T`
/// is named after. The XML declaration is optional and whitespace between elements is ignored.
/// Unknown elements are ignored.
pub fn from_xml<T: DeserializeOwned>(body: &[u8]) -> Result<T, XmlError> {
    if body.len() > MAX_XML_BODY {
        return Err(XmlError::TooLarge {
            size: body.len(),
            limit: MAX_XML_BODY,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if contains_dtd(text) {
        return Err(XmlError::Dtd);
    }
    if let Some(c) = text.chars().find(|c| !is_xml_char(*c)) {
        return Err(XmlError::Malformed(format!(
            "character U+{:04X} is not allowed in XML",
            u32::from(c)
        )));
    }
    let root = check_structure(text)?;
    if let Some(expected) = root_probe::expected_root::<T>() {
        if root != expected {
            return Err(XmlError::WrongRoot {
                expected: expected.to_owned(),
                found: root,
            });
        }
    }
    let text = protect_edge_whitespace(text);
    quick_xml::de::from_str(&text).map_err(|e| XmlError::Schema(e.to_string()))
}

/// Elements whose text is a key or part of one: their leading and trailing whitespace is data
/// (a key may be `" a "`), not formatting.
const WHITESPACE_SIGNIFICANT: &[&str] = &[
    "Key",
    "Prefix",
    "Delimiter",
    "Marker",
    "NextMarker",
    "KeyMarker",
    "NextKeyMarker",
    "StartAfter",
];

/// quick-xml trims whitespace at the edges of element text before decoding it. For the
/// elements in [`WHITESPACE_SIGNIFICANT`] the edge whitespace is rewritten as character
/// references, which survive the trim and decode back to the same characters. Runs on a
/// document that already passed the structure check.
fn protect_edge_whitespace(text: &str) -> std::borrow::Cow<'_, str> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut open: Option<&str> = None; // name of the start tag just passed
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = if rest.starts_with("<!--") {
                rest.find("-->").map(|i| i + 3)
            } else if rest.starts_with("<![CDATA[") {
                rest.find("]]>").map(|i| i + 3)
            } else if rest.starts_with("<?") {
                rest.find("?>").map(|i| i + 2)
            } else {
                rest.find('>').map(|i| i + 1)
            };
            let end = end.unwrap_or(rest.len());
            let tag = &rest[..end];
            open = match tag.strip_prefix('<') {
                Some(inner) if !inner.starts_with(['/', '!', '?']) && !tag.ends_with("/>") => {
                    let name_end = inner
                        .find(|c: char| is_ws(c) || c == '>' || c == '/')
                        .unwrap_or(inner.len());
                    Some(&inner[..name_end])
                }
                _ => None,
            };
            out.push_str(tag);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find('<').unwrap_or(rest.len());
        let segment = &rest[..end];
        let closes_leaf = open.is_some_and(|name| {
            WHITESPACE_SIGNIFICANT.contains(&name)
                && rest[end..]
                    .strip_prefix("</")
                    .is_some_and(|r| r.starts_with(name))
        });
        let (lead, body, trail) = {
            let body_start = segment.find(|c: char| !is_ws(c)).unwrap_or(segment.len());
            let body_end = segment
                .char_indices()
                .rev()
                .find(|(_, c)| !is_ws(*c))
                .map_or(body_start, |(i, c)| i + c.len_utf8());
            (
                &segment[..body_start],
                &segment[body_start..body_end],
                &segment[body_end..],
            )
        };
        if closes_leaf && !(lead.is_empty() && trail.is_empty()) {
            let escape = |ws: &str, out: &mut String| {
                for c in ws.chars() {
                    out.push_str(&format!("&#x{:X};", u32::from(c)));
                }
            };
            escape(lead, &mut out);
            out.push_str(body);
            escape(trail, &mut out);
            changed = true;
        } else {
            out.push_str(segment);
        }
        open = None;
        rest = &rest[end..];
    }
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Whether `c` is a `Char` of XML 1.0: no control characters other than tab, line feed and
/// carriage return, and neither U+FFFE nor U+FFFF (surrogates cannot occur in a `str`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `name` is an XML element name: a letter, `_`, `:` or non-ASCII character first, then
/// also digits, `-` and `.`. quick-xml takes any bytes up to whitespace, `/` or `>` as a name,
/// so `<<<<` would otherwise be an element.
fn is_xml_name(name: &[u8]) -> bool {
    let start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80;
    match name.split_first() {
        None => false,
        Some((&first, rest)) => {
            start(first)
                && rest
                    .iter()
                    .all(|&b| start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
        }
    }
}

/// Whether the text holds a DTD or entity declaration, in any letter case. Legitimate bodies
/// never contain either, even inside text (where `<` must be escaped).
fn contains_dtd(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(9).any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
        || b.windows(8).any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"))
}

/// Walks the whole document once: well-formedness, a single root, nesting depth, nothing but
/// whitespace and comments outside the root. Returns the root element's name.
fn check_structure(text: &str) -> Result<String, XmlError> {
    use quick_xml::events::Event;

    let malformed = |msg: String| XmlError::Malformed(msg);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0usize;
    let mut root: Option<String> = None;
    let mut seen_anything = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name: &str = e.name().0;
                if !is_xml_name(name.as_bytes()) {
                    return Err(malformed(format!("invalid element name {name:?}")));
                }
                if depth == 0 {
                    if root.is_some() {
                        return Err(malformed("more than one root element".into()));
                    }
                    root = Some(name.to_owned());
                }
                if !is_empty {
                    depth += 1;
                    if depth > MAX_XML_DEPTH {
                        return Err(XmlError::TooDeep {
                            limit: MAX_XML_DEPTH,
                        });
                    }
                }
            }
            Event::End(_) => {
                // The reader matches end tags with start tags; this only guards the count.
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| malformed("end tag without a start tag".into()))?;
            }
            Event::Text(ref t) => {
                let text: &str = t;
                if depth == 0 && !text.bytes().all(|b| b.is_ascii_whitespace()) {
                    return Err(malformed("text outside the root element".into()));
                }
            }
            Event::GeneralRef(ref r) => {
                if depth == 0 {
                    return Err(malformed("text outside the root element".into()));
                }
                // Only the five predefined entities and valid character references exist
                // here (no DTD is accepted), wherever they stand, even in ignored elements.
                let name: &str = r;
                let known = matches!(name, "lt" | "gt" | "amp" | "apos" | "quot")
                    || r.resolve_char_ref().ok().flatten().is_some_and(is_xml_char);
                if !known {
                    return Err(malformed(format!("undefined entity &{name};")));
                }
            }
            Event::CData(_) => {
                if depth == 0 {
                    return Err(malformed("CDATA outside the root element".into()));
                }
            }
            Event::Decl(_) => {
                if seen_anything {
                    return Err(malformed("XML declaration not at the start".into()));
                }
            }
            Event::Comment(_) => {}
            Event::PI(_) => {
                return Err(malformed("processing instructions are not accepted".into()))
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Eof => break,
        }
        seen_anything = true;
    }
    if depth != 0 {
        return Err(malformed("unclosed element at end of body".into()));
    }
    root.ok_or_else(|| malformed("no root element".into()))
}

/// Finds the root element name a type expects by letting its `Deserialize` impl announce
/// itself: derived structs call `deserialize_struct` with their serde name, which this
/// deserializer records and then stops. quick-xml does not check the root name itself.
mod root_probe {
    use serde::de::{self, Deserialize, Visitor};
    use std::fmt;

    /// Stops the probed `Deserialize` impl as soon as it has said what it is.
    #[derive(Debug)]
    pub(super) struct Stop;

    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("root probe finished")
        }
    }

    impl std::error::Error for Stop {}

    impl de::Error for Stop {
        fn custom<T: fmt::Display>(_msg: T) -> Self {
            Stop
        }
    }

    struct Probe {
        name: Option<&'static str>,
    }

    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Stop;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            _fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.name = Some(name);
            Err(Stop)
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.name = Some(name);
            Err(Stop)
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            self.name = Some(name);
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    /// The root element `T` is named after, or `None` for types that are not struct-like.
    pub(super) fn expected_root<T: for<'de> Deserialize<'de>>() -> Option<&'static str> {
        let mut probe = Probe { name: None };
        let _ = T::deserialize(&mut probe);
        probe.name
    }
}

/// Serde adapters for ETag elements: written quoted, read with or without quotes.
pub(crate) mod etag {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `"<etag>"`, unless the value already carries its quotes.
    pub(crate) fn serialize<S: Serializer>(etag: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::etag::quote(etag))
    }

    /// Reads an ETag and drops one pair of surrounding quotes, if present.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(crate::etag::unquote(&raw).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_whitespace_is_data_but_formatting_is_not() {
        let body = "<Delete>\n  <Quiet>false</Quiet>\n  <Object><Key> a </Key></Object>\n  <Object><Key>\t</Key></Object>\n  <Object><Key>b&amp; </Key></Object>\n</Delete>";
        let d: DeleteMultipleObjects = from_xml(body.as_bytes()).unwrap();
        let keys: Vec<&str> = d.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, [" a ", "\t", "b& "]);
        // Numbers keep XML Schema's whitespace collapsing; formatting between elements is not data.
        let complete = "<CompleteMultipartUpload>\n<Part>\n<PartNumber> 1 </PartNumber>\n<ETag> \"E\" </ETag>\n</Part>\n</CompleteMultipartUpload>";
        let c: CompleteMultipartUpload = from_xml(complete.as_bytes()).unwrap();
        assert_eq!(c.parts[0].part_number, 1);
        assert_eq!(
            protect_edge_whitespace("<A><Key>k</Key></A>"),
            "<A><Key>k</Key></A>"
        );
    }

    #[test]
    fn control_characters_are_not_xml() {
        // A NUL byte between elements once let a Complete body through (hostile corpus).
        let body = "<CompleteMultipartUpload>\0<Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>";
        assert!(matches!(
            from_xml::<CompleteMultipartUpload>(body.as_bytes()),
            Err(XmlError::Malformed(_))
        ));
        for bad in ["\u{1}", "\u{1f}", "\u{fffe}", "\u{ffff}"] {
            let body = format!("<Delete><Object><Key>a{bad}</Key></Object></Delete>");
            assert!(
                from_xml::<DeleteMultipleObjects>(body.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        let ok = "<Delete>\r\n\t<Object><Key>a\u{10000}\u{fffd}</Key></Object></Delete>";
        assert!(from_xml::<DeleteMultipleObjects>(ok.as_bytes()).is_ok());
    }

    #[test]
    fn element_names_must_be_xml_names() {
        // Found by the xml_bodies fuzz target: `<<<<\n\n/>` was read as an element named `<<<`,
        // kept as an ErrorBody extra that could not be written back.
        let body = "<Error><Code>X</Code><Message>m</Message><RequesA/>*d\t0<<<<\n\n/></Error>";
        assert!(matches!(
            from_xml::<ErrorBody>(body.as_bytes()),
            Err(XmlError::Malformed(_))
        ));
        for bad in ["<1a/>", "<-a/>", "<a*b/>", "<.a/>"] {
            let body = format!("<Delete>{bad}<Object><Key>k</Key></Object></Delete>");
            assert!(
                from_xml::<DeleteMultipleObjects>(body.as_bytes()).is_err(),
                "{bad}"
            );
        }
        let ok = "<Delete><x:a-b.c_1/><ü/><Object><Key>k</Key></Object></Delete>";
        assert!(from_xml::<DeleteMultipleObjects>(ok.as_bytes()).is_ok());
    }

    #[test]
    fn tagging_and_acl_bodies_round_trip() {
        let t = object::Tagging {
            tag_set: object::TagSetXml {
                tags: vec![object::Tag {
                    key: "a b".into(),
                    value: String::new(),
                }],
            },
        };
        let text = to_xml(&t);
        assert!(
            text.contains("<Tagging><TagSet><Tag><Key>a b</Key>"),
            "{text}"
        );
        assert_eq!(from_xml::<object::Tagging>(text.as_bytes()).unwrap(), t);
        let empty: object::Tagging = from_xml(b"<Tagging><TagSet/></Tagging>").unwrap();
        assert!(empty.tag_set.tags.is_empty());
    }

    #[test]
    fn error_extras_are_only_names_that_can_be_written_back() {
        // Found by the xml_bodies fuzz target: an extra named `::a` was read but never written.
        let body =
            "<Error><Code>X</Code><::a>1</::a><xmlns>2</xmlns><ü>3</ü><Kept>4</Kept></Error>";
        let parsed: ErrorBody = from_xml(body.as_bytes()).unwrap();
        assert_eq!(parsed.extra, vec![("Kept".to_owned(), "4".to_owned())]);
        assert_eq!(
            from_xml::<ErrorBody>(to_xml(&parsed).as_bytes()).unwrap(),
            parsed
        );
    }
}
