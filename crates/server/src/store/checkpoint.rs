//! WAL checkpoints on their own thread and connection, off the writer.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, on the
//! writer thread, so every caller of that group waits for the copy into `meta.db` and its
//! fsyncs. The writer connection has it turned off (`wal_autocheckpoint=0`); instead the
//! writer counts its commits and, every [`KICK_EVERY`] of them, wakes this thread, which runs
//! `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own while the writer carries on.
//!
//! A passive checkpoint never waits for the writer, so under a steady stream of commits it
//! never quite catches up, and SQLite restarts the WAL from its start only when a write
//! transaction begins with every frame copied back: without help the WAL would grow for as
//! long as the stream lasts. When it holds more than [`HARD_FRAMES`] frames, this thread
//! therefore closes the writer's gate (the writer takes it around each group), copies the
//! remainder (what was committed since the passive pass), and opens the gate again; the next
//! group then starts the WAL over. After [`IDLE`] without a commit, a `TRUNCATE` checkpoint
//! empties the file.
//!
//! Durability does not depend on any of this: a commit is durable once its WAL frames are
//! fsynced (`synchronous=FULL`), and this connection is `synchronous=FULL` too, so a
//! checkpoint fsyncs the WAL before copying and `meta.db` before the WAL may be reused.
//! Whatever point a crash interrupts a checkpoint at, opening the database replays the WAL.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::blobs::Layout;
use super::StoreError;

/// Commits between two passive checkpoints.
const KICK_EVERY: u64 = 32;
/// WAL frames (pages) beyond which the writer is paused for the checkpoint to catch up.
const HARD_FRAMES: i64 = 4096;
/// Without a commit for this long, the WAL is truncated to nothing.
const IDLE: Duration = Duration::from_secs(1);

/// What the writer and the checkpoint thread share.
#[derive(Default)]
pub(crate) struct Shared {
    commits: AtomicU64,
    /// Set while the checkpoint thread waits with nothing to do: the next commit wakes it.
    asleep: AtomicBool,
    /// Held by the writer around each group; held by the checkpoint thread to pause it.
    pub(crate) gate: Mutex<()>,
}

/// The writer's side: tells the checkpoint thread about commits.
pub(crate) struct Notifier {
    shared: Arc<Shared>,
    kick: mpsc::SyncSender<()>,
}

impl Notifier {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Called after each COMMIT.
    pub(crate) fn committed(&self) {
        let n = self.shared.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if n.is_multiple_of(KICK_EVERY) || self.shared.asleep.swap(false, Ordering::SeqCst) {
            // Full: a kick is already pending, which is as good.
            let _ = self.kick.try_send(());
        }
    }
}

/// Starts the checkpoint thread over its own connection to `layout`'s database. It stops
/// (after a last checkpoint) once the returned notifier is dropped.
pub(crate) fn start(layout: &Layout) -> Result<(Notifier, JoinHandle<()>), StoreError> {
    let conn = Connection::open(layout.db_path())?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Only TRUNCATE waits (for the writer to finish a group); never for long.
    conn.busy_timeout(Duration::from_millis(200))?;
    let shared = Arc::new(Shared::default());
    let (kick, kicks) = mpsc::sync_channel(1);
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("osspart-checkpoint".into())
            .spawn(move || run(conn, &shared, kicks))?
    };
    Ok((Notifier { shared, kick }, thread))
}

/// `PRAGMA wal_checkpoint(mode)`: the frames in the WAL, or None if it failed or was busy.
fn checkpoint(conn: &Connection, mode: &str) -> Option<i64> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let row = conn.query_row(&sql, [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)));
    match row {
        Ok((0, frames)) => Some(frames),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("WAL checkpoint ({mode}) failed: {e}");
            None
        }
    }
}

fn run(conn: Connection, shared: &Shared, kicks: mpsc::Receiver<()>) {
    // A WAL left by a crash is emptied once the store has been idle for a moment.
    let mut truncated_at = u64::MAX;
    let mut seen = shared.commits.load(Ordering::SeqCst);
    loop {
        let dirty = seen != truncated_at;
        let kicked = if dirty {
            kicks.recv_timeout(IDLE)
        } else {
            shared.asleep.store(true, Ordering::SeqCst);
            if shared.commits.load(Ordering::SeqCst) != seen {
                shared.asleep.store(false, Ordering::SeqCst);
                Ok(())
            } else {
                kicks
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            }
        };
        let now = shared.commits.load(Ordering::SeqCst);
        match kicked {
            Ok(()) => {
                if checkpoint(&conn, "PASSIVE").is_some_and(|frames| frames > HARD_FRAMES) {
                    let _paused = shared.gate.lock().unwrap_or_else(|e| e.into_inner());
                    checkpoint(&conn, "PASSIVE");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if now == seen => {
                if checkpoint(&conn, "TRUNCATE").is_some() {
                    truncated_at = now;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                checkpoint(&conn, "PASSIVE");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        seen = now;
    }
    // The writer is gone: leave as small a WAL as readers allow.
    checkpoint(&conn, "TRUNCATE");
}
