//! The osspart client SDK.
