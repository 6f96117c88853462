//! The error every handler returns: an OSS code, a message and the extra fields that the
//! error XML carries.

use osspart_protocol::operation::OperationError;
use osspart_protocol::ErrorCode;

use crate::store::StoreError;

/// A request failed with an OSS error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The code sent in `<Code>`; it also decides the HTTP status.
    pub code: ErrorCode,
    /// Message; the code's usual message when absent.
    pub message: Option<String>,
    /// Extra child elements of `<Error>`, in order (e.g. `UploadId`, `PartNumber`).
    pub extra: Vec<(String, String)>,
    /// Diagnostic EC code, when a specific one is documented for this failure.
    pub ec: Option<&'static str>,
    /// Response headers the error carries besides the usual ones (e.g. AppendObject's
    /// `x-oss-next-append-position`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with the code's usual message.
    pub fn new(code: ErrorCode) -> Self {
        OperationError::new(code).into()
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds an extra field to the error body.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a response header to the error answer.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the diagnostic EC code.
    pub fn with_ec(mut self, ec: &'static str) -> Self {
        self.ec = Some(ec);
        self
    }

    /// `InvalidArgument` naming the argument and the value it had.
    pub fn invalid_argument(name: &str, value: &str) -> Self {
        OperationError::invalid_argument(name, value).into()
    }

    /// The message to send.
    pub fn message(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or_else(|| self.code.default_message())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Api { code, extra } => ApiError {
                extra: extra.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                ..ApiError::new(code)
            },
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::new(ErrorCode::InternalError)
            }
        }
    }
}

impl From<OperationError> for ApiError {
    fn from(e: OperationError) -> Self {
        ApiError {
            code: e.code,
            message: e.message,
            extra: e.extra,
            ec: None,
            headers: Vec::new(),
        }
    }
}
