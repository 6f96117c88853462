//! The OSS wire protocol, shared by the osspart client and server.
//!
//! Everything here is pure: no sockets, no files, no clocks read implicitly. A request the
//! client builds and the server parses go through the very same types and the very same
//! signer, so the two ends cannot drift apart.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
// Nothing a peer sends may panic: no unwrap, expect or unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod attributes;
pub mod crc64;
pub mod encoding;
pub mod endpoint;
pub mod error;
pub mod etag;
pub mod limits;
pub mod operation;
pub mod range;
pub mod sign;
pub mod time_fmt;
pub mod xml;

pub use error::ErrorCode;
