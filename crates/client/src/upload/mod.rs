//! The managed resumable upload: [`crate::Client::multipart_upload`].
//!
//! A source is cut into parts ([`plan`]), progress is persisted in a [`checkpoint`] after
//! parts complete, parts run through a bounded parallel pipeline ([`run`]) that reuses
//! `parallel` buffers, and every part's CRC-64 and the object's combined CRC-64 are checked
//! against the service's.

pub mod cancel;
pub mod checkpoint;
pub mod plan;
pub mod progress;
pub mod run;
pub mod source;

pub use cancel::CancelHandle;
pub use checkpoint::{Checkpoint, CheckpointLock, DonePart, SourceIdentity};
pub use plan::{Plan, DEFAULT_PART_SIZE};
pub use progress::{Progress, ProgressCallback, ProgressEvent};
pub use run::{CheckpointSpec, UploadOptions, UploadOutput};
pub use source::Source;
