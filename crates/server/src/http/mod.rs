//! The HTTP face of the server: addressing, parsing into operations, authentication, bodies
//! and responses. Handlers in [`crate::api`] see only typed operations.

pub mod access;
pub mod addressing;
pub mod auth;
pub mod body;
pub mod continuation;
pub mod error;
pub mod operation;
pub mod response;
pub mod service;

pub use error::ApiError;
