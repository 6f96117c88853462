//! ListObjectsV2 continuation tokens: the protocol's encoding, shared with the request parser
//! that decodes them.

pub use osspart_protocol::operation::continuation::{decode, encode};
