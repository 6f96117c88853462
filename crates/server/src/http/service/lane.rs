//! The metadata lane: a few threads of its own that run store calls (lookups, listings and the
//! commits that are not body uploads).
//!
//! Object bodies are read on the runtime's blocking pool one chunk at a time and written from
//! the async tasks, so however many transfers are running, stalled or slow, a HEAD or a listing
//! only ever waits for other metadata work. The queue in front of the threads is bounded: a
//! call that finds it full is refused at once (`SlowDown`) instead of piling up.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A bounded queue served by a fixed set of threads. The threads end once the lane is dropped
/// and the queue is empty.
pub(crate) struct Lane {
    queue: SyncSender<Job>,
}

/// Why a call did not run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LaneError {
    /// The queue is full: the server is saturated.
    Saturated,
    /// The call panicked or the lane is gone.
    Lost,
}

impl Lane {
    /// Starts `threads` threads behind a queue of `depth` calls.
    pub(crate) fn start(threads: usize, depth: usize) -> std::io::Result<Lane> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(depth.max(1));
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("osspart-meta-{i}"))
                .spawn(move || serve(&jobs))?;
        }
        Ok(Lane { queue })
    }

    /// Runs `f` on a lane thread and waits for its result without holding a runtime thread.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, LaneError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => LaneError::Saturated,
            TrySendError::Disconnected(_) => LaneError::Lost,
        })?;
        rx.await.map_err(|_| LaneError::Lost)
    }
}

fn serve(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.recv()
        };
        match job {
            // A panicking call loses only its own answer (its sender is dropped); the thread
            // stays for the next one.
            Ok(job) => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_calls_and_refuses_when_full() {
        let lane = Lane::start(1, 1).unwrap();
        assert_eq!(lane.run(|| 7).await, Ok(7));
        assert_eq!(
            lane.run(|| -> u8 { panic!("boom") }).await,
            Err(LaneError::Lost)
        );
        // One thread held, one call queued: the third is refused without waiting.
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let held = lane.run(move || release.recv().is_ok());
        let queued = lane.run(|| 1);
        tokio::pin!(held);
        tokio::pin!(queued);
        // Each is submitted when first polled; the thread takes the first off the queue.
        assert!(futures_util::poll!(held.as_mut()).is_pending());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(futures_util::poll!(queued.as_mut()).is_pending());
        assert_eq!(lane.run(|| 2).await, Err(LaneError::Saturated));
        hold.send(()).unwrap();
        assert_eq!(held.await, Ok(true));
        assert_eq!(queued.await, Ok(1));
    }
}
