//! The `<Error>` body of every failed request (spec 5.2).
//!
//! Besides the four standard children, `EC` and `RecommendDoc`, OSS adds operation-specific children
//! (`UploadId`, `PartNumber`, `StringToSign`, `ServerTime`, ...) whose names are not known in
//! advance, so [`ErrorBody`] keeps them as an ordered list of name/value pairs. The serde impls
//! are written by hand for that reason; they still go through [`super::to_xml`] and
//! [`super::from_xml`] like every other body.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::ErrorCode;

/// The root element name of an error body.
const ROOT: &str = "Error";

/// An OSS error body.
///
/// Written as `Code`, `Message`, `RequestId`, `HostId`, then the extras in order, then `EC` and
/// `RecommendDoc` (the order real OSS uses). When read, every other child becomes an extra, in
/// document order; children holding elements rather than text are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error code (`NoSuchUpload`, ...): what clients branch on.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Request id; the same as the `x-oss-request-id` header.
    pub request_id: String,
    /// Host the request was addressed to (`<bucket>.<endpoint>`).
    pub host_id: String,
    /// Opaque diagnostic code (`0002-00000040`), when given.
    pub ec: Option<String>,
    /// Troubleshooting link real OSS appends after `EC`, when given.
    pub recommend_doc: Option<String>,
    /// Operation-specific children, as (element name, text) in document order.
    pub extra: Vec<(String, String)>,
}

impl ErrorBody {
    /// A body for `code` with its usual message and no EC or extras.
    pub fn new(code: ErrorCode, request_id: impl Into<String>, host_id: impl Into<String>) -> Self {
        ErrorBody {
            code: code.as_str().to_owned(),
            message: code.default_message().to_owned(),
            request_id: request_id.into(),
            host_id: host_id.into(),
            ec: None,
            recommend_doc: None,
            extra: Vec::new(),
        }
    }

    /// Appends an extra child element. `name` must be an XML name (letters, digits, `_`, `-`,
    /// `.`, not starting with a digit, `-` or `.`); children with other names are not written.
    pub fn with_extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The text of the first extra child called `name`.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The code as a known [`ErrorCode`], if it is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

/// Whether `name` can be written as an element name. Deliberately narrower than XML allows:
/// OSS only uses ASCII names.
fn is_element_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

impl Serialize for ErrorBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A newtype struct named `Error` around a map: quick-xml turns the newtype name into
        // the root element and map keys into child elements, which lets extras have names
        // decided at run time (struct field names must be `&'static str`). Other formats see a
        // plain map.
        s.serialize_newtype_struct(ROOT, &Children(self))
    }
}

/// The children of an error body, serialized as a map of element name to text.
struct Children<'a>(&'a ErrorBody);

impl Serialize for Children<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("Code", &body.code)?;
        map.serialize_entry("Message", &body.message)?;
        map.serialize_entry("RequestId", &body.request_id)?;
        map.serialize_entry("HostId", &body.host_id)?;
        for (name, value) in &body.extra {
            if is_element_name(name) && !is_standard(name) {
                map.serialize_entry(name, value)?;
            }
        }
        if let Some(ec) = &body.ec {
            map.serialize_entry("EC", ec)?;
        }
        if let Some(doc) = &body.recommend_doc {
            map.serialize_entry("RecommendDoc", doc)?;
        }
        map.end()
    }
}

/// Whether `name` is one of the children [`ErrorBody`] has a field for.
fn is_standard(name: &str) -> bool {
    matches!(
        name,
        "Code" | "Message" | "RequestId" | "HostId" | "EC" | "RecommendDoc"
    )
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // No field list: every child then arrives as a map key under its own name.
        d.deserialize_struct(ROOT, &[], BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = ErrorBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OSS <Error> element")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorBody, A::Error> {
        let mut code = None;
        let mut message = None;
        let mut request_id = None;
        let mut host_id = None;
        let mut ec = None;
        let mut recommend_doc = None;
        let mut extra = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            // quick-xml reports attributes as `@name` and loose text as `$text`/`$value`.
            if name.starts_with('@') || name.starts_with('$') {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let Some(text) = map.next_value::<ChildText>()?.0 else {
                continue;
            };
            match name.as_str() {
                "Code" => code = Some(text),
                "Message" => message = Some(text),
                "RequestId" => request_id = Some(text),
                "HostId" => host_id = Some(text),
                "EC" => ec = Some(text),
                "RecommendDoc" => recommend_doc = Some(text),
                // Only names the writer can write back are kept (`x:a`, `xmlFoo`, `ü` are not).
                _ if is_element_name(&name) => extra.push((name, text)),
                _ => {}
            }
        }
        Ok(ErrorBody {
            code: code.ok_or_else(|| de::Error::missing_field("Code"))?,
            message: message.unwrap_or_default(),
            request_id: request_id.unwrap_or_default(),
            host_id: host_id.unwrap_or_default(),
            ec,
            recommend_doc,
            extra,
        })
    }
}

/// The text of a child element; `None` when the child holds elements instead.
struct ChildText(Option<String>);

impl<'de> Deserialize<'de> for ChildText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = ChildText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("element text")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ChildText, E> {
                Ok(ChildText(Some(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<ChildText, E> {
                Ok(ChildText(Some(v)))
            }

            fn visit_unit<E: de::Error>(self) -> Result<ChildText, E> {
                Ok(ChildText(Some(String::new())))
            }

            // quick-xml hands an element to `deserialize_any` as a map whose text content is
            // under `$text`; any other key is a nested element.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChildText, A::Error> {
                let mut text = String::new();
                let mut nested = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "$text" || key == "$value" {
                        text.push_str(&map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        nested |= !key.starts_with('@');
                    }
                }
                Ok(ChildText((!nested).then_some(text)))
            }
        }

        d.deserialize_any(TextVisitor)
    }
}
