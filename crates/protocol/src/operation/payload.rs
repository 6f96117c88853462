//! What a request's headers promise about its body: declared length, Content-MD5, payload
//! hash and chunked transfer, read once with the operation.
//!
//! A malformed promise is kept, not raised at parse time: the receiver refuses it when it
//! comes to read the body, so that errors OSS reports first (a missing bucket, a stale append
//! position) keep their precedence.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;

use super::OperationError;
use crate::ErrorCode;

/// The body description of an operation that carries one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    /// Declared `Content-Length` in bytes; `None` when absent or malformed.
    pub content_length: Option<u64>,
    /// Decoded `Content-MD5`.
    pub content_md5: Option<[u8; 16]>,
    /// Decoded `x-oss-content-sha256`; `None` when absent or `UNSIGNED-PAYLOAD`.
    pub content_sha256: Option<[u8; 32]>,
    /// `Transfer-Encoding: chunked`: the body's length is known only at its end.
    pub chunked: bool,
    /// The refusal of the first malformed body header (Content-Length, then Content-MD5, then
    /// the payload hash), raised when the body is about to be read.
    pub malformed: Option<OperationError>,
}

impl Payload {
    /// Reads the body headers; never fails (see [`Payload::malformed`]).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut malformed = None;
        let mut refuse = |e: OperationError| {
            malformed.get_or_insert(e);
        };
        let content_length = headers.get(http::header::CONTENT_LENGTH).and_then(|v| {
            let n = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
            if n.is_none() {
                refuse(OperationError::invalid_argument(
                    "Content-Length",
                    &String::from_utf8_lossy(v.as_bytes()),
                ));
            }
            n
        });
        let content_md5 = headers.get("content-md5").and_then(|v| {
            let text = String::from_utf8_lossy(v.as_bytes()).trim().to_owned();
            let md5 = STANDARD
                .decode(text.as_bytes())
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok());
            if md5.is_none() {
                refuse(
                    OperationError::new(ErrorCode::InvalidDigest)
                        .with_message("The Content-MD5 you specified is not valid.")
                        .with("Content-MD5", text),
                );
            }
            md5
        });
        let content_sha256 = headers
            .get("x-oss-content-sha256")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
            .filter(|v| v != "UNSIGNED-PAYLOAD")
            .and_then(|v| {
                let hash = hex::decode(&v)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                if hash.is_none() {
                    refuse(OperationError::invalid_argument("x-oss-content-sha256", &v));
                }
                hash
            });
        let chunked = headers
            .get(http::header::TRANSFER_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        Payload {
            content_length,
            content_md5,
            content_sha256,
            chunked,
            malformed,
        }
    }

    /// Whether the body's length is known before it is read, or will be by its end (chunked);
    /// a body-carrying write without either is refused with `MissingContentLength`.
    pub fn has_length(&self) -> bool {
        self.content_length.is_some() || self.chunked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn reads_every_promise() {
        let p = Payload::from_headers(&headers(&[
            ("content-length", " 5 "),
            ("content-md5", "XUFAKrxLKna5cZ2REBfFkg=="),
            ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ]));
        assert_eq!(p.content_length, Some(5));
        assert!(p.content_md5.is_some());
        assert_eq!(p.content_sha256, None);
        assert!(!p.chunked && p.malformed.is_none() && p.has_length());
        let p = Payload::from_headers(&headers(&[("transfer-encoding", "Chunked")]));
        assert!(p.chunked && p.has_length());
        assert!(!Payload::from_headers(&HeaderMap::new()).has_length());
    }

    #[test]
    fn the_first_malformed_header_is_kept() {
        let p = Payload::from_headers(&headers(&[
            ("content-length", "+x"),
            ("content-md5", "short"),
        ]));
        assert_eq!(p.content_length, None);
        let err = p.malformed.unwrap();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let p = Payload::from_headers(&headers(&[("content-md5", "short")]));
        assert_eq!(p.malformed.unwrap().code, ErrorCode::InvalidDigest);
        let p = Payload::from_headers(&headers(&[("x-oss-content-sha256", "abc")]));
        assert_eq!(p.malformed.unwrap().code, ErrorCode::InvalidArgument);
    }
}
