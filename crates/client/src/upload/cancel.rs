//! A cancellation handle scoped to one upload: pause keeps the parts and the checkpoint,
//! abort deletes the upload and verifies its parts are gone.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

const RUNNING: u8 = 0;
const PAUSED: u8 = 1;
const ABORTED: u8 = 2;

/// How a cancelled upload should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    /// Stop sending; keep the parts and the checkpoint for a later resume.
    Pause,
    /// Stop sending; abort the upload on the service and delete the checkpoint.
    Abort,
}

/// Stops one running upload. Clone it to hand it to another task.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: AtomicU8,
    notify: Notify,
}

impl CancelHandle {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pauses the upload (parts and checkpoint are kept).
    pub fn pause(&self) {
        self.set(PAUSED);
    }

    /// Aborts the upload (parts are deleted on the service).
    pub fn abort(&self) {
        self.set(ABORTED);
    }

    fn set(&self, state: u8) {
        let _ =
            self.inner
                .state
                .compare_exchange(RUNNING, state, Ordering::SeqCst, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// The requested mode, once triggered.
    pub fn mode(&self) -> Option<CancelMode> {
        match self.inner.state.load(Ordering::SeqCst) {
            PAUSED => Some(CancelMode::Pause),
            ABORTED => Some(CancelMode::Abort),
            _ => None,
        }
    }

    /// Resolves once the handle is triggered.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.mode().is_some() {
                return;
            }
            notified.await;
        }
    }
}
