//! The client's error type, classified by methods rather than by string matching.

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
    /// The connection failed or broke (reset, refused, closed early).
    #[error("transport error: {0}")]
    Transport(String),
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

impl Error {
    /// Whether retrying the same request may succeed: timeouts, broken connections, 5xx,
    /// throttling (429, SlowDown) and checksum mismatches.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Transport(_) | Error::Checksum { .. } => true,
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
    }
}
