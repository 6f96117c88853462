//! Building responses: bodies, the headers every response carries, and OSS error bodies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use osspart_protocol::xml::{self, ErrorBody};
use serde::Serialize;

use super::error::ApiError;

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body fed by a channel of chunks (used to stream blob files).
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Body {
    let s = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    BodyExt::boxed(StreamBody::new(s.map(|r| r.map(Frame::data))))
}

/// An empty response with this status.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// A `200` XML response.
pub fn xml_ok<T: Serialize>(value: &T) -> Response<Body> {
    xml_response(StatusCode::OK, xml::to_xml(value))
}

fn xml_response(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// Sets a header from any string; values that are not valid header text are dropped.
pub fn set_header(r: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// The EC diagnostic code sent with an error (opaque to clients).
fn ec_of(err: &ApiError) -> &'static str {
    use osspart_protocol::ErrorCode as C;
    err.ec.unwrap_or(match err.code {
        C::SignatureDoesNotMatch => "0002-00000040",
        _ => "0000-00000000",
    })
}

/// The OSS error response: XML body (or, for HEAD, an empty body and the XML in `x-oss-err`).
pub fn error(err: &ApiError, request_id: &str, host_id: &str, head: bool) -> Response<Body> {
    let ec = ec_of(err);
    let body = ErrorBody {
        code: err.code.as_str().to_owned(),
        message: err.message().to_owned(),
        request_id: request_id.to_owned(),
        host_id: host_id.to_owned(),
        ec: Some(ec.to_owned()),
        recommend_doc: None,
        extra: err.extra.clone(),
    };
    let text = xml::to_xml(&body);
    let status =
        StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if head {
        let mut r = empty(status);
        set_header(&mut r, "x-oss-err", &STANDARD.encode(text.as_bytes()));
        r
    } else {
        xml_response(status, text)
    };
    set_header(&mut r, "x-oss-ec", ec);
    for (name, value) in &err.headers {
        set_header(&mut r, name, value);
    }
    r
}
