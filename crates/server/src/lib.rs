//! `osspart serve`: a durable, single-node server that speaks the OSS REST API well enough for
//! the official SDKs to use it unchanged.
//!
//! Metadata lives in an embedded database and bodies in immutable blob files; see
//! [`store`] for the durability rules and [`http`] for the request pipeline.
#![warn(missing_docs)]
// Denied, not forbidden: MD5, the measured hot path of ingest, allows it in two places alone:
// store/blobs/body_md5.rs (AWS-LC's MD5) and store/blobs/md5_lanes.rs (SIMD kernels).
#![deny(unsafe_code)]
// Nothing a peer sends may panic: no unwrap, expect or unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod api;
pub mod config;
pub mod http;
pub mod server;
pub mod store;

pub use config::ServerConfig;
pub use server::{RunningServer, StartError};
