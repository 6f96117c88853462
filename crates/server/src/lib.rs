//! The osspart local OSS server.
