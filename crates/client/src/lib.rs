//! osspart: resumable, parallel multipart upload for Alibaba Cloud OSS.
//!
//! A [`Client`] speaks to one bucket of OSS (or of `osspart serve`): every multipart call is a
//! method ([`Client::init_multipart_upload`], [`Client::upload_part`], ...), and
//! [`Client::multipart_upload`] runs a whole checkpointed, parallel, CRC-checked upload;
//! [`Client::upload`] picks one PutObject for small sources, and [`Client::download`] is the
//! resumable, CRC-checked way back.
//!
//! # Examples
//!
//! A client is built from a [`Config`] without touching the network, so presigning a URL runs
//! anywhere:
//!
//! ```
//! use std::time::Duration;
//! use osspart::{Client, Config, Credentials, Method};
//!
//! let keys = Credentials {
//!     access_key_id: "LTAI5tExample".into(),
//!     access_key_secret: "secret".into(),
//!     security_token: None,
//! };
//! let config = Config::new("https://oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou", "photos", keys);
//! let client = Client::new(config)?;
//! let url = client.presign(Method::GET, "2024/cat.jpg", Duration::from_secs(600));
//! assert!(url.starts_with("https://photos.oss-cn-hangzhou.aliyuncs.com/2024/cat.jpg?"));
//! assert!(url.contains("x-oss-signature="));
//! # Ok::<(), osspart::Error>(())
//! ```
//!
//! Transfers need a service, so the examples below are compiled but not run (`no_run`): they
//! read keys from the environment ([`Config::from_env`]) and talk to OSS.
//!
//! [`Client::upload`] sends a small source as one PutObject and a large one as a resumable
//! multipart upload; [`Client::multipart_upload`] always takes the multipart path:
//!
//! ```no_run
//! use osspart::{CheckpointSpec, Client, Config, Source, UploadOptions};
//!
//! # async fn run() -> osspart::Result<()> {
//! let client = Client::new(Config::from_env("photos")?)?;
//!
//! // Whatever the size: one PutObject below 8 MiB, parts above.
//! let out = client
//!     .upload("notes.txt", Source::Bytes("hello".into()), UploadOptions::default())
//!     .await?;
//! println!("{} has CRC-64 {:x}", out.name, out.crc64);
//!
//! // A big file in 16 MiB parts, four in flight; rerunning after a crash resumes from the
//! // checkpoint file.
//! let mut options = UploadOptions::default();
//! options.part_size = 16 << 20;
//! options.parallel = 4;
//! options.checkpoint = Some(CheckpointSpec::File("video.mp4.checkpoint".into()));
//! let out = client
//!     .multipart_upload("videos/video.mp4", Source::File("video.mp4".into()), options)
//!     .await?;
//! println!("uploaded {} bytes as {}", out.size, out.etag);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
// Denied, not forbidden: `mapped` (the read-only file map the sendfile path checksums) allows
// it there alone.
#![deny(unsafe_code)]

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
#[cfg(target_os = "linux")]
mod mapped;
pub mod ops;
pub mod retry;
mod sendfile;
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

/// Compile-time proof that the futures of the transfer entry points are `Send`, so they can be
/// spawned on a multi-threaded runtime; never called, so it costs nothing at run time.
#[allow(dead_code)]
fn transfer_futures_are_send(client: &Client) {
    fn assert_send<T: Send>(_: T) {}
    let file = || Source::File(std::path::PathBuf::new());
    assert_send(client.multipart_upload("k", file(), UploadOptions::default()));
    assert_send(client.upload("k", file(), UploadOptions::default()));
    assert_send(client.upload(
        "k",
        Source::reader(tokio::io::empty()),
        UploadOptions::default(),
    ));
    assert_send(client.download("k", "dest", DownloadOptions::default()));
    assert_send(client.copy("b", "k", "k2", CopyOptions::default()));
}
