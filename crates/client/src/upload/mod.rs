//! The managed resumable upload: [`crate::Client::multipart_upload`], and
//! [`crate::Client::upload`], which sends small sources as one PutObject instead.
//!
//! A source is cut into parts ([`plan`]), progress is persisted in a [`checkpoint`] after
//! parts complete, parts run through a bounded parallel pipeline ([`run`]) that reuses
//! `parallel` buffers, and every part's CRC-64 and the object's combined CRC-64 are checked
//! against the service's.

pub mod budget;
pub mod cancel;
pub mod checkpoint;
mod checkpoint_store;
mod completion;
mod pipeline;
pub mod plan;
pub mod progress;
mod resume;
pub mod run;
pub mod single;
pub mod source;

pub use budget::{BudgetPermit, TransferBudget};
pub use cancel::CancelHandle;
pub use checkpoint::{Checkpoint, CheckpointLock, DonePart, SourceIdentity};
pub use plan::{Plan, DEFAULT_PART_SIZE};
pub use progress::{Progress, ProgressCallback, ProgressEvent};
pub use run::{CheckpointSpec, UploadOptions, UploadOutput, DEFAULT_MULTIPART_THRESHOLD};
pub use source::Source;
