//! The single writer, with group commit.
//!
//! Every change to metadata runs on one thread that owns the write connection. Writes that
//! arrive while a commit is on its way to disk wait in a queue, and the next transaction takes
//! all of them: one WAL fsync then makes a whole group durable instead of one write each.
//!
//! Invariants: a caller hears its write's outcome only after the COMMIT containing it returned
//! (WAL, `synchronous=FULL`: an acknowledged write is on disk). Each write runs in its own
//! SAVEPOINT, so one that fails is rolled back alone and the others of its group still commit.
//! A write that succeeded in a group whose COMMIT failed is reported as failed, keeping any
//! blob file it recorded (the COMMIT may have reached the disk; start-up recovery decides).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::blobs::{BlobId, FinishedBlob, Layout};
use super::checkpoint::{self, Notifier};
use super::{gc, StoreError};

/// Most writes committed in one transaction; more wait for the next one.
const MAX_GROUP: usize = 256;

/// What a write's caller gets back.
pub(crate) struct Outcome<T> {
    /// The write's own result, or the group's commit failure.
    pub(crate) result: Result<T, StoreError>,
    /// File blobs the committed write left unreferenced, for the caller to delete.
    pub(crate) dead: Vec<BlobId>,
}

/// A queued write with its result type erased.
trait Job: Send {
    /// Runs the write in the open transaction; false if it failed (then its savepoint is
    /// rolled back).
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Reports the outcome once the group's transaction ended (`Err` = not committed).
    fn deliver(self: Box<Self>, commit: Result<(), &str>, layout: &Layout);
}

struct Pending<T, F> {
    write: Option<F>,
    blob: Option<FinishedBlob>,
    result: Option<Result<T, StoreError>>,
    dead: Vec<BlobId>,
    reply: Reply<T>,
}

/// Where a write's outcome goes: a blocked thread or an awaiting task.
enum Reply<T> {
    Blocking(mpsc::SyncSender<Outcome<T>>),
    Async(tokio::sync::oneshot::Sender<Outcome<T>>),
}

impl<T> Reply<T> {
    /// Hands over the outcome; gives it back if the caller went away (a dropped request).
    fn send(self, outcome: Outcome<T>) -> Result<(), Outcome<T>> {
        match self {
            Reply::Blocking(tx) => tx.send(outcome).map_err(|e| e.0),
            Reply::Async(tx) => tx.send(outcome),
        }
    }
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(write) = self.write.take() else {
            // Run twice: a bug; fail this write rather than the writer thread.
            self.result = Some(Err(StoreError::Corrupt("a write ran twice".to_owned())));
            return false;
        };
        let (blob, dead) = (self.blob.as_ref(), &mut self.dead);
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Some(blob) = blob {
                gc::record(tx, blob)?;
            }
            write(tx, dead)
        }))
        .unwrap_or_else(|_| Err(std::io::Error::other("a store write panicked").into()));
        let ok = result.is_ok();
        if !ok {
            self.dead.clear();
        }
        self.result = Some(result);
        ok
    }

    fn deliver(self: Box<Self>, commit: Result<(), &str>, layout: &Layout) {
        let Pending {
            blob,
            result,
            mut dead,
            reply,
            ..
        } = *self;
        let result = match (result, commit) {
            (Some(Ok(value)), Ok(())) => {
                if let Some(blob) = blob {
                    blob.mark_recorded();
                }
                Ok(value)
            }
            (Some(Ok(_)), Err(e)) => {
                // The COMMIT may still have reached the disk: keep the file, delete nothing.
                if let Some(blob) = blob {
                    blob.mark_recorded();
                }
                dead.clear();
                Err(not_committed(e))
            }
            // Rolled back (or never run): no row names the blob, so dropping it deletes it.
            (Some(Err(e)), _) => Err(e),
            (None, commit) => Err(not_committed(commit.err().unwrap_or("not run"))),
        };
        if let Err(orphaned) = reply.send(Outcome { result, dead }) {
            // Nobody will delete the files the write released: do it here.
            gc::delete_files(layout, &orphaned.dead);
        }
    }
}

fn stopped<T>() -> Outcome<T> {
    Outcome {
        result: Err(std::io::Error::other("the store's writer has stopped").into()),
        dead: Vec::new(),
    }
}

fn not_committed(why: &str) -> StoreError {
    std::io::Error::other(format!("the write was not committed: {why}")).into()
}

/// Handle on the writer thread; dropping it lets queued writes finish, then closes the
/// connection.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    /// The WAL checkpoint thread; stops once the writer thread has.
    checkpointer: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `conn`, the database of `layout`, and the thread that
    /// checkpoints its WAL (see `checkpoint`; the connection's own auto-checkpoint is off).
    pub(crate) fn start(conn: Connection, layout: Layout) -> Result<Writer, StoreError> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (notifier, checkpointer) = checkpoint::start(&layout)?;
        let (queue, rx) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("osspart-writer".into())
            .spawn(move || serve(conn, rx, &layout, notifier))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
            checkpointer: Some(checkpointer),
        })
    }

    /// Records `blob` (if any) and runs `write` in the next group's transaction; returns once
    /// that transaction has ended.
    pub(crate) fn submit<T, F>(&self, blob: Option<FinishedBlob>, write: F) -> Outcome<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        if !self.enqueue(blob, write, Reply::Blocking(reply)) {
            return stopped();
        }
        answer.recv().unwrap_or_else(|_| stopped())
    }

    /// [`submit`](Writer::submit) for async callers: no thread blocks while the group commits.
    pub(crate) fn submit_async<T, F>(
        &self,
        blob: Option<FinishedBlob>,
        write: F,
    ) -> impl std::future::Future<Output = Outcome<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.enqueue(blob, write, Reply::Async(reply));
        async move {
            match queued {
                true => answer.await.unwrap_or_else(|_| stopped()),
                false => stopped(),
            }
        }
    }

    fn enqueue<T, F>(&self, blob: Option<FinishedBlob>, write: F, reply: Reply<T>) -> bool
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<T, StoreError> + Send + 'static,
    {
        let job = Box::new(Pending {
            write: Some(write),
            blob,
            result: None,
            dead: Vec::new(),
            reply,
        });
        // The queue is only taken by drop, so it is always here; without it nothing is sent.
        self.queue
            .as_ref()
            .is_some_and(|queue| queue.send(job).is_ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: one group per transaction until every handle is gone.
fn serve(
    mut conn: Connection,
    queue: mpsc::Receiver<Box<dyn Job>>,
    layout: &Layout,
    checkpoints: Notifier,
) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let committed = {
            let _gate = checkpoints
                .shared()
                .gate
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            commit_group(&mut conn, group, layout)
        };
        if committed {
            checkpoints.committed();
        }
    }
}

/// Runs `group` in one transaction, each write in its own savepoint, commits once, then
/// reports to every caller; whether something was committed.
fn commit_group(conn: &mut Connection, mut group: Vec<Box<dyn Job>>, layout: &Layout) -> bool {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let why = e.to_string();
            for job in group {
                job.deliver(Err(&why), layout);
            }
            return false;
        }
    };
    let mut committed_any = false;
    let mut broken = None;
    for job in &mut group {
        if let Err(e) = savepoint(&tx, "SAVEPOINT w") {
            broken = Some(e.to_string());
            break;
        }
        let step = if job.run(&tx) {
            committed_any = true;
            savepoint(&tx, "RELEASE w")
        } else {
            savepoint(&tx, "ROLLBACK TO w").and_then(|()| savepoint(&tx, "RELEASE w"))
        };
        if let Err(e) = step {
            broken = Some(e.to_string());
            break;
        }
        // Some errors (I/O, full disk) make SQLite roll the whole transaction back.
        if tx.is_autocommit() {
            broken = Some("the transaction was rolled back".into());
            break;
        }
    }
    let commit = match broken {
        // Dropping the transaction rolls back whatever is left of it.
        Some(why) => Err(why),
        None if committed_any => tx.commit().map_err(|e| e.to_string()),
        None => tx.rollback().map_err(|e| e.to_string()),
    };
    for job in group {
        job.deliver(commit.as_ref().map(|_| ()).map_err(String::as_str), layout);
    }
    committed_any && commit.is_ok()
}

fn savepoint(tx: &Transaction<'_>, sql: &str) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blobs::Layout;
    use crate::store::meta;
    use std::sync::{Arc, Barrier};

    type BoxedWrite =
        Box<dyn FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<i64, StoreError> + Send>;

    fn writer() -> (tempfile::TempDir, Layout, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        let conn = meta::open(&layout).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .unwrap();
        (dir, layout.clone(), Writer::start(conn, layout).unwrap())
    }

    fn insert(
        v: i64,
    ) -> impl FnOnce(&Transaction<'_>, &mut Vec<BlobId>) -> Result<i64, StoreError> {
        move |tx, _| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(v)
        }
    }

    /// Holds the writer inside a write until released, so that the writes submitted
    /// meanwhile queue up and are committed as one group.
    fn block(writer: &Arc<Writer>) -> (Arc<Barrier>, std::thread::JoinHandle<()>) {
        let (entered, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let handle = {
            let (writer, entered, release2) = (writer.clone(), entered.clone(), release.clone());
            std::thread::spawn(move || {
                let out = writer.submit(None, move |_, _| {
                    entered.wait();
                    release2.wait();
                    Ok(())
                });
                out.result.unwrap();
            })
        };
        entered.wait();
        (release, handle)
    }

    #[test]
    fn a_failing_write_does_not_fail_its_group() {
        let (_dir, layout, writer) = writer();
        let writer = Arc::new(writer);
        let (release, blocker) = block(&writer);
        let submit = |w: BoxedWrite| {
            let writer = writer.clone();
            std::thread::spawn(move || writer.submit(None, w).result)
        };
        let ok1 = submit(Box::new(insert(1)));
        // Inserts a row, then fails: its insert must be rolled back, not committed.
        let bad = submit(Box::new(|tx: &Transaction<'_>, _: &mut Vec<BlobId>| {
            tx.execute("INSERT INTO t (v) VALUES (2)", [])?;
            tx.execute("INSERT INTO t (v) VALUES ('not an integer')", [])?;
            Ok(0)
        }));
        let panics = submit(Box::new(|tx: &Transaction<'_>, _: &mut Vec<BlobId>| {
            tx.execute("INSERT INTO t (v) VALUES (4)", [])?;
            panic!("a bug in one write");
        }));
        let ok3 = submit(Box::new(insert(3)));
        std::thread::sleep(std::time::Duration::from_millis(100));
        release.wait();
        blocker.join().unwrap();
        assert_eq!(ok1.join().unwrap().unwrap(), 1);
        assert!(bad.join().unwrap().is_err());
        assert!(panics.join().unwrap().is_err());
        assert_eq!(ok3.join().unwrap().unwrap(), 3);
        drop(Arc::try_unwrap(writer).ok().expect("no other handle"));

        let conn = meta::open(&layout).unwrap();
        let rows: Vec<i64> = conn
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, [1, 3]);
    }

    #[test]
    fn queued_writes_share_one_commit() {
        let (_dir, layout, writer) = writer();
        let writer = Arc::new(writer);
        let commits_before = wal_frames(&layout);
        let (release, blocker) = block(&writer);
        let threads: Vec<_> = (10..30)
            .map(|v| {
                let writer = writer.clone();
                std::thread::spawn(move || writer.submit(None, insert(v)).result.unwrap())
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        release.wait();
        blocker.join().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        // The blocker's empty write committed nothing; the 20 queued inserts fit in the
        // frames of one or two commits, far fewer than 20 separate ones would write.
        let frames = wal_frames(&layout) - commits_before;
        assert!(frames <= 4, "{frames} WAL frames for 20 grouped inserts");
    }

    /// Frames in the WAL so far (each commit writes at least one).
    fn wal_frames(layout: &Layout) -> u64 {
        let len = std::fs::metadata(layout.root().join("meta.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        len.saturating_sub(32) / (24 + 4096)
    }
}
