//! Where a run keeps its checkpoint: [`CheckpointStore`] loads, saves and forgets it, and its
//! saver task merges the saves that parts finishing close together would ask for.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::checkpoint::Checkpoint;
use super::pipeline::Shared;
use super::run::CheckpointSpec;
use crate::error::{Error, Result};

/// Shortest time between two checkpoint saves during a run (each one writes and fsyncs a
/// file; 118 of them made up a tenth of a 1 GiB upload's system time).
pub(super) const SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A run's checkpoint, where [`CheckpointSpec`] says it lives (nowhere without one).
#[derive(Debug, Clone)]
pub(super) struct CheckpointStore {
    spec: Option<CheckpointSpec>,
    /// Held for the whole of a save (including its blocking write), so saves never overlap
    /// and a later save never loses to an earlier one.
    save_lock: Arc<tokio::sync::Mutex<()>>,
}

impl CheckpointStore {
    pub(super) fn new(spec: Option<CheckpointSpec>) -> CheckpointStore {
        CheckpointStore {
            spec,
            save_lock: Arc::default(),
        }
    }

    /// The saved checkpoint, if any.
    pub(super) fn load(&self) -> Result<Option<Checkpoint>> {
        match &self.spec {
            Some(CheckpointSpec::File(path)) => Checkpoint::load(path),
            Some(CheckpointSpec::Memory(m)) => Ok(m.lock().unwrap().clone()),
            None => Ok(None),
        }
    }

    /// Saves `cp`, after any save still under way.
    pub(super) async fn save(&self, cp: &Checkpoint) -> Result<()> {
        // The guard moves into the blocking write: when the saver task is aborted mid-save,
        // the write still finishes before the next save (the final one) may start.
        let guard = self.save_lock.clone().lock_owned().await;
        match &self.spec {
            Some(CheckpointSpec::File(path)) => {
                let path = path.clone();
                let cp = cp.clone();
                tokio::task::spawn_blocking(move || {
                    let _guard = guard;
                    cp.save(&path)
                })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?
            }
            Some(CheckpointSpec::Memory(m)) => {
                *m.lock().unwrap() = Some(cp.clone());
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Deletes the checkpoint (after success, an abort, or a refused start).
    pub(super) fn forget(&self) {
        match &self.spec {
            Some(CheckpointSpec::File(path)) => {
                let _ = std::fs::remove_file(path);
            }
            Some(CheckpointSpec::Memory(m)) => *m.lock().unwrap() = None,
            None => {}
        }
    }

    /// Starts saving the run's checkpoint whenever parts were recorded, at most once per
    /// [`SAVE_EVERY`]: the parts recorded meanwhile go into the next save, so a fast upload
    /// does not write (and fsync) one file per part. A crash loses at most that much of the
    /// record, and resuming adopts such parts anyway after checking their CRC-64 against
    /// ListParts. The task ends when the returned handle is stopped or dropped (a dropped
    /// upload future leaks nothing).
    pub(super) fn spawn_saver(shared: Arc<Shared>) -> Saver {
        Saver(tokio::spawn(async move {
            loop {
                shared.dirty.notified().await;
                if let Err(e) = shared.save_checkpoint().await {
                    tracing::warn!(error = %e, "cannot save the checkpoint");
                }
                tokio::time::sleep(SAVE_EVERY).await;
            }
        }))
    }
}

/// The saver task of a run; aborted when dropped.
pub(super) struct Saver(JoinHandle<()>);

impl Saver {
    /// Stops the task and waits until it has (a save it was making still completes before the
    /// next one, by the save lock).
    pub(super) async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.0.abort();
    }
}
