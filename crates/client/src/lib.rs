//! osspart: resumable, parallel multipart upload for Alibaba Cloud OSS.
//!
//! A [`Client`] speaks to one bucket of OSS (or of `osspart serve`): every multipart call is a
//! method ([`Client::init_multipart_upload`], [`Client::upload_part`], ...), and
//! [`Client::multipart_upload`] runs a whole checkpointed, parallel, CRC-checked upload;
//! [`Client::upload`] picks one PutObject for small sources, and [`Client::download`] is the
//! resumable, CRC-checked way back.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// First, so every module below can generate its options' setters with `with_setters!`.
#[macro_use]
mod setters;

pub mod client;
pub mod config;
pub mod copy;
pub mod credentials;
pub mod download;
pub mod error;
pub mod fileio;
pub mod ops;
pub mod retry;
pub mod upload;

pub use client::{BodyStream, Client, FileBody, Request, Response};
pub use config::{Addressing, Config, Credentials, RetryPolicy, SignatureVersion};
pub use copy::{CopyCheckpoint, CopyOptions, CopyOutput};
pub use credentials::{
    CachingProvider, CredentialsProvider, EcsRamRoleProvider, ProcessProvider, ProvidedCredentials,
    StaticProvider,
};
pub use download::{DownloadCheckpoint, DownloadOptions, DownloadOutput};
pub use error::{Error, Result};
pub use ops::multipart::{
    CompleteOutput, ListPartsPage, ListUploadsPage, ListUploadsQuery, PartEtag, PartInfo,
    PartOutput, UploadInfo,
};
pub use ops::object::{
    ListObjectsPage, ListObjectsQuery, ObjectInfo, ObjectOptions, ObjectSummary, PutOutput,
};
/// HTTP methods, as requests and presigned URLs name them.
pub use reqwest::Method;
pub use upload::{
    CancelHandle, Checkpoint, CheckpointSpec, Progress, ProgressCallback, ProgressEvent, Source,
    TransferBudget, UploadOptions, UploadOutput,
};
