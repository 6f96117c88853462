//! OSS error codes: the `<Code>` of an error body, its HTTP status and its usual message.
//!
//! Both ends use this list: the server to answer, the client to classify what it got back.

use std::fmt;
use std::str::FromStr;

macro_rules! error_codes {
    ($($name:ident = $status:literal, $msg:literal;)*) => {
        /// An OSS error code, as carried in `<Error><Code>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = $msg]
                $name,
            )*
        }

        impl ErrorCode {
            /// Every known code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// The HTTP status OSS answers with for this code.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// The usual human-readable message for this code.
            pub fn default_message(self) -> &'static str {
                match self { $(ErrorCode::$name => $msg,)* }
            }
        }
    };
}

error_codes! {
    AccessDenied = 403, "Access denied.";
    InvalidAccessKeyId = 403, "The OSS Access Key Id you provided does not exist in our records.";
    SecurityTokenExpired = 403, "The security token you provided has expired.";
    SignatureDoesNotMatch = 403, "The request signature we calculated does not match the signature you provided.";
    RequestTimeTooSkewed = 403, "The difference between the request time and the current time is too large.";
    AccessForbidden = 403, "CORSResponse: This CORS request is not allowed.";
    NoSuchBucket = 404, "The specified bucket does not exist.";
    NoSuchKey = 404, "The specified key does not exist.";
    NoSuchUpload = 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NoSuchCORSConfiguration = 404, "The CORS Configuration does not exist.";
    InvalidArgument = 400, "An argument is invalid.";
    InvalidPart = 400, "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.";
    InvalidPartOrder = 400, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    EntityTooSmall = 400, "Your proposed upload is smaller than the minimum allowed size.";
    EntityTooLarge = 400, "Your proposed upload exceeds the maximum allowed size.";
    MalformedXML = 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    InvalidDigest = 400, "The Content-MD5 you specified is not valid or does not match the body.";
    BadDigest = 400, "The Content-MD5 you specified did not match what was received.";
    InvalidObjectName = 400, "The specified object name is not valid.";
    InvalidBucketName = 400, "The specified bucket name is not valid.";
    InvalidRequest = 400, "The request is not valid.";
    InvalidURI = 400, "Could not parse the specified URI.";
    InvalidEncodingType = 400, "The encoding type is not valid; only url is supported.";
    IncompleteBody = 400, "The request body is shorter than its Content-Length.";
    InvalidEncryptionAlgorithmError = 400, "The encryption request you specified is not valid.";
    BucketAlreadyExists = 409, "The requested bucket name is not available.";
    BucketNotEmpty = 409, "The bucket you tried to delete is not empty.";
    FileAlreadyExists = 409, "The object you specified already exists and can not be overwritten.";
    PositionNotEqualToLength = 409, "Position is not equal to file length.";
    ObjectNotAppendable = 409, "The object is not appendable.";
    PreconditionFailed = 412, "At least one of the pre-conditions you specified did not hold.";
    NotModified = 304, "Not Modified.";
    InvalidRange = 416, "The requested range cannot be satisfied.";
    MissingContentLength = 411, "You must provide the Content-Length HTTP header.";
    MethodNotAllowed = 405, "The specified method is not allowed against this resource.";
    RequestTimeout = 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    InternalError = 500, "We encountered an internal error. Please try again.";
    NotImplemented = 501, "A header you provided implies functionality that is not implemented.";
    ServiceUnavailable = 503, "Please reduce your request rate.";
    SlowDown = 503, "Please reduce your request rate.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no known [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OSS error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), *code);
        }
        assert_eq!(ErrorCode::NoSuchUpload.http_status(), 404);
        assert_eq!(ErrorCode::InvalidPartOrder.http_status(), 400);
        assert_eq!(ErrorCode::BucketNotEmpty.http_status(), 409);
        assert!("Nope".parse::<ErrorCode>().is_err());
    }
}
