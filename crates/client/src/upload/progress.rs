//! Progress reporting: the ali-oss view (a fraction, the checkpoint, the part's response) and
//! richer events for bars and logs. Fractions never exceed 1 and never go backwards.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::checkpoint::Checkpoint;

/// What just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A new upload was initiated.
    Initiated {
        /// Its id.
        upload_id: String,
    },
    /// An earlier upload is being resumed.
    Resumed {
        /// Its id.
        upload_id: String,
        /// Parts kept from earlier runs (not sent again).
        kept_parts: u32,
        /// Bytes those parts hold.
        kept_bytes: u64,
        /// Further parts the service holds that are kept only if the local bytes have their
        /// CRC-64 (checked while reading; they then count as done without being sent).
        parts_to_check: u32,
    },
    /// Something the user should know (part size raised, upload gone and restarted, ...).
    Warning(String),
    /// A part is stored.
    PartDone {
        /// Part number.
        number: u32,
        /// Its ETag.
        etag: String,
        /// Its CRC-64.
        crc64: u64,
        /// Its size.
        bytes: u64,
    },
    /// A part failed and will be sent again.
    Retrying {
        /// Part number.
        number: u32,
        /// Retry number (1-based).
        attempt: u32,
        /// What went wrong.
        error: String,
    },
    /// All parts are stored; CompleteMultipartUpload is under way.
    Completing,
    /// The object exists.
    Completed {
        /// Its ETag.
        etag: String,
    },
}

/// One progress report.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Fraction done, 0..=1: 0 after initiate, rising with each part, 1 after complete.
    pub fraction: f64,
    /// Bytes the service has acknowledged.
    pub bytes_acknowledged: u64,
    /// Bytes handed to the network so far (moves within a part; for smooth bars).
    pub bytes_sent: u64,
    /// Total bytes, when known.
    pub total_bytes: Option<u64>,
    /// Parts done.
    pub parts_done: u32,
    /// Total parts, when known.
    pub parts_total: Option<u32>,
    /// What just happened.
    pub event: ProgressEvent,
    /// The checkpoint as of this event, shared (hold it to keep it; copying is the
    /// receiver's choice).
    pub checkpoint: Option<std::sync::Arc<Checkpoint>>,
}

type AsyncFn = dyn Fn(Progress) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// A progress callback, plain or async (an async one is awaited before the upload goes on).
#[derive(Clone)]
pub enum ProgressCallback {
    /// Called inline.
    Sync(Arc<dyn Fn(&Progress) + Send + Sync>),
    /// Awaited.
    Async(Arc<AsyncFn>),
}

impl std::fmt::Debug for ProgressCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProgressCallback::Sync(_) => "ProgressCallback::Sync",
            ProgressCallback::Async(_) => "ProgressCallback::Async",
        })
    }
}

impl ProgressCallback {
    /// A plain callback.
    pub fn new(f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        ProgressCallback::Sync(Arc::new(f))
    }

    /// An async callback.
    pub fn new_async<F, Fut>(f: F) -> Self
    where
        F: Fn(Progress) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        ProgressCallback::Async(Arc::new(move |p| Box::pin(f(p))))
    }

    pub(crate) async fn call(&self, p: Progress) {
        match self {
            ProgressCallback::Sync(f) => f(&p),
            ProgressCallback::Async(f) => f(p).await,
        }
    }
}
