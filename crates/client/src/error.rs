//! The client's error type, classified by methods rather than by string matching. An error
//! that wraps another (a broken connection's `reqwest::Error`, a file's `std::io::Error`) keeps
//! it as its [`std::error::Error::source`], so callers can walk the chain or downcast it.

use std::time::Duration;

use osspart_protocol::ErrorCode;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting or waiting for a response took longer than allowed.
    #[error("timed out after {after:?} while {during}")]
    Timeout {
        /// The limit that was hit.
        after: Duration,
        /// What was under way ("connecting", "waiting for the response to UploadPart", ...).
        during: String,
    },
    /// The service answered with an OSS error.
    #[error("{code} (HTTP {status}): {message} [request id {request_id}]")]
    Service {
        /// HTTP status.
        status: u16,
        /// OSS error code, e.g. `NoSuchUpload`.
        code: String,
        /// Message from the error body.
        message: String,
        /// `x-oss-request-id` of the failed request.
        request_id: String,
        /// Extra fields of the error body (e.g. `PartNumber`, `ServerTime`).
        extra: Vec<(String, String)>,
    },
    /// The connection failed or broke (reset, refused, closed early). Build it with
    /// [`Error::transport`] or [`Error::transport_from`].
    #[error("transport error: {message}")]
    Transport {
        /// What failed, and while doing what; the cause's own text is in `source`.
        message: String,
        /// The error underneath (usually a `reqwest::Error`), when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A local file could not be read or written.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Data did not match its checksum.
    #[error("checksum mismatch for {what}: expected {expected}, got {actual}")]
    Checksum {
        /// What was checked ("part 3", "object").
        what: String,
        /// The value computed locally.
        expected: u64,
        /// The value the service reported.
        actual: u64,
    },
    /// The object changed while it was being read (its ETag no longer matches).
    #[error("source changed: {0}")]
    SourceChanged(String),
    /// The operation was cancelled through its handle.
    #[error("cancelled")]
    Cancelled,
    /// A caller-supplied value is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A checkpoint cannot be used for this upload.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The service's answer could not be understood.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// No credentials to sign with: the provider failed (metadata service unreachable,
    /// credential process failed) or the keys it had expired.
    #[error("credentials: {0}")]
    Credentials(String),
}

/// A cause kept inside an [`Error`]: any error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// A transport error with no underlying error to keep (e.g. a body shorter than its
    /// declared length).
    pub fn transport(message: impl Into<String>) -> Error {
        Error::Transport {
            message: message.into(),
            source: None,
        }
    }

    /// A transport error caused by `source`, which [`std::error::Error::source`] returns.
    pub fn transport_from(message: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Transport {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same request may succeed: timeouts, broken connections, 5xx,
    /// throttling (429, SlowDown) and checksum mismatches.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Transport { .. } | Error::Checksum { .. } => true,
            Error::Service { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || code == ErrorCode::SlowDown.as_str()
                    || code == ErrorCode::RequestTimeout.as_str()
            }
            _ => false,
        }
    }

    /// Whether this is a timeout (the equivalent of ali-oss's ConnectionTimeoutError).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the thing asked for does not exist: the service answered 404 or with
    /// `NoSuchKey`, `NoSuchBucket` or `NoSuchUpload` (a HEAD's 404 carries no code, hence the
    /// status).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Service { status, code, .. } => {
                *status == 404
                    || [
                        ErrorCode::NoSuchKey,
                        ErrorCode::NoSuchBucket,
                        ErrorCode::NoSuchUpload,
                    ]
                    .iter()
                    .any(|c| code == c.as_str())
            }
            _ => false,
        }
    }

    /// Whether the service refused who is asking: 403, `AccessDenied`, or keys it does not
    /// accept (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `SecurityTokenExpired`,
    /// `RequestTimeTooSkewed`). Missing local credentials are [`Error::Credentials`] instead.
    pub fn is_access_denied(&self) -> bool {
        match self {
            Error::Service { status, code, .. } => {
                *status == 403
                    || [
                        ErrorCode::AccessDenied,
                        ErrorCode::InvalidAccessKeyId,
                        ErrorCode::SignatureDoesNotMatch,
                        ErrorCode::SecurityTokenExpired,
                        ErrorCode::RequestTimeTooSkewed,
                    ]
                    .iter()
                    .any(|c| code == c.as_str())
            }
            _ => false,
        }
    }

    /// The OSS error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the service answered with this code.
    pub fn has_code(&self, code: ErrorCode) -> bool {
        self.code() == Some(code.as_str())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Error {
        Error::Service {
            status,
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
            extra: vec![],
        }
    }

    #[test]
    fn classification() {
        assert!(service(503, "ServiceUnavailable").is_retryable());
        assert!(service(429, "TooManyRequests").is_retryable());
        assert!(service(503, "SlowDown").is_retryable());
        assert!(!service(404, "NoSuchUpload").is_retryable());
        assert!(!service(403, "SignatureDoesNotMatch").is_retryable());
        assert!(Error::Timeout {
            after: Duration::from_secs(1),
            during: "x".into()
        }
        .is_timeout());
        assert!(Error::Checksum {
            what: "part 1".into(),
            expected: 1,
            actual: 2
        }
        .is_retryable());
        assert!(!Error::Cancelled.is_retryable());
        assert!(service(404, "NoSuchUpload").has_code(ErrorCode::NoSuchUpload));
        assert!(Error::transport("reset").is_retryable());
    }

    #[test]
    fn not_found_and_access_denied() {
        for (status, code) in [
            (404, "NoSuchKey"),
            (404, "NoSuchBucket"),
            (404, "NoSuchUpload"),
            (404, ""),
            // The code decides even when a proxy rewrote the status.
            (400, "NoSuchKey"),
        ] {
            let e = service(status, code);
            assert!(e.is_not_found(), "{e}");
            assert!(!e.is_access_denied(), "{e}");
        }
        for (status, code) in [
            (403, "AccessDenied"),
            (403, "SignatureDoesNotMatch"),
            (403, "InvalidAccessKeyId"),
            (403, ""),
            (400, "AccessDenied"),
        ] {
            let e = service(status, code);
            assert!(e.is_access_denied(), "{e}");
            assert!(!e.is_not_found(), "{e}");
        }
        for e in [
            service(409, "BucketNotEmpty"),
            service(500, "InternalError"),
            Error::transport("reset"),
            Error::Credentials("expired".into()),
            Error::Cancelled,
        ] {
            assert!(!e.is_not_found() && !e.is_access_denied(), "{e}");
        }
    }

    #[test]
    fn transport_errors_keep_their_source() {
        use std::error::Error as _;
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset");
        let e = Error::transport_from("connection failed while sending UploadPart", cause);
        assert_eq!(
            e.to_string(),
            "transport error: connection failed while sending UploadPart"
        );
        let source = e.source().expect("the cause is kept");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the cause keeps its type");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(Error::transport("short body").source().is_none());

        let io = Error::from(std::io::Error::other("disk full"));
        assert!(io.source().is_some_and(|s| s.is::<std::io::Error>()));
    }
}
