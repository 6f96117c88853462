//! What a connection may hold, and for how long.
//!
//! Every accepted connection is registered with its phase: waiting for a request head, or
//! inside a request. The socket is wrapped so that a connection waiting too long for its next
//! request, dripping its head, or not reading its answer fails with `TimedOut` instead of
//! holding its slot; the registry caps how many connections exist and, at the cap, closes the
//! one idle the longest to make room. Nothing here ties a thread to a peer: every wait is a
//! timer on the connection's own task.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::config::Limits;
use crate::http::response::Body;

/// The timeouts a connection's socket enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    idle: Duration,
    header: Duration,
    write_stall: Duration,
}

impl From<&Limits> for Timeouts {
    fn from(l: &Limits) -> Self {
        Timeouts {
            idle: l.idle_timeout,
            header: l.header_read_timeout,
            write_stall: l.write_stall_timeout,
        }
    }
}

/// One connection's phase, shared by its socket, its service and the registry.
pub(crate) struct Conn {
    epoch: Instant,
    /// Waiting for a request head (not inside a request).
    awaiting: AtomicBool,
    /// When the current wait for a head began, in ms since `epoch`.
    awaiting_since: AtomicU64,
    /// When the first byte of the awaited head arrived, ms since `epoch` plus one; 0: none yet.
    head_since: AtomicU64,
    /// Chosen to make room for a newer connection.
    evicted: AtomicBool,
    /// Wakes the connection's task when it is evicted.
    wake: Notify,
}

impl Conn {
    fn new(epoch: Instant) -> Conn {
        let conn = Conn {
            epoch,
            awaiting: AtomicBool::new(true),
            awaiting_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        };
        conn.enter_awaiting();
        conn
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `epoch + ms + after`, or `None` past the end of time (a limit set absurdly high).
    fn at(&self, ms: u64, after: Duration) -> Option<Instant> {
        self.epoch
            .checked_add(Duration::from_millis(ms))?
            .checked_add(after)
    }

    /// A request head is complete: no head timeouts apply until its answer is sent.
    pub(crate) fn enter_request(&self) {
        self.awaiting.store(false, Ordering::Release);
    }

    /// The answer is sent (or dropped): the connection waits for its next request.
    pub(crate) fn enter_awaiting(&self) {
        self.head_since.store(0, Ordering::Relaxed);
        self.awaiting_since.store(self.now_ms(), Ordering::Relaxed);
        self.awaiting.store(true, Ordering::Release);
    }

    /// Whether the connection sits between requests.
    pub(crate) fn is_awaiting(&self) -> bool {
        self.awaiting.load(Ordering::Acquire)
    }

    /// Whether the registry asked this connection to go.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Resolves once the connection is evicted.
    pub(crate) async fn evicted(&self) {
        while !self.is_evicted() {
            self.wake.notified().await;
        }
    }

    /// Bytes arrived from the peer.
    fn saw_bytes(&self) {
        if self.is_awaiting() && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since
                .store(self.now_ms().saturating_add(1), Ordering::Relaxed);
        }
    }

    /// When a read that finds nothing must give up, if ever.
    fn read_deadline(&self, t: &Timeouts) -> Option<Instant> {
        if !self.is_awaiting() {
            // Inside a request the body's own stall timeout applies, and after it the handler
            // may take its time.
            return None;
        }
        match self.head_since.load(Ordering::Relaxed) {
            0 => self.at(self.awaiting_since.load(Ordering::Relaxed), t.idle),
            started => self.at(started.saturating_sub(1), t.header),
        }
    }
}

/// Every open connection, capped at `max`.
pub(crate) struct Registry {
    epoch: Instant,
    max: usize,
    conns: Mutex<Connections>,
}

#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Arc<Conn>>,
}

/// A registered connection; leaving the registry when dropped.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    id: u64,
    /// The connection's shared phase.
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

impl Registry {
    /// An empty registry admitting at most `max` connections.
    pub(crate) fn new(max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            epoch: Instant::now(),
            max: max.max(1),
            conns: Mutex::new(Connections::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        self.lock().open.len()
    }

    /// Registers a new connection. At the cap, the connection that has waited longest for a
    /// request is evicted to make room; `None` when every connection is inside a request.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut conns = self.lock();
        if conns.open.len() >= self.max {
            let victim = conns
                .open
                .iter()
                .filter(|(_, c)| c.is_awaiting())
                .min_by_key(|(_, c)| c.awaiting_since.load(Ordering::Relaxed))
                .map(|(id, _)| *id)?;
            if let Some(c) = conns.open.remove(&victim) {
                c.evicted.store(true, Ordering::Release);
                c.wake.notify_one();
            }
        }
        let id = conns.next_id;
        conns.next_id += 1;
        let conn = Arc::new(Conn::new(self.epoch));
        conns.open.insert(id, conn.clone());
        Some(Slot {
            registry: self.clone(),
            id,
            conn,
        })
    }
}

/// A socket that fails with `TimedOut` when its peer keeps it waiting too long: for the next
/// request (idle), for the rest of a head, or to take more of an answer (write stall).
pub(crate) struct TimedIo {
    stream: TcpStream,
    conn: Arc<Conn>,
    timeouts: Timeouts,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl TimedIo {
    /// Wraps an accepted stream.
    pub(crate) fn new(stream: TcpStream, conn: Arc<Conn>, timeouts: Timeouts) -> TimedIo {
        TimedIo {
            stream,
            conn,
            timeouts,
            read_timer: None,
            write_timer: None,
        }
    }

    fn read_waits(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deadline) = self.conn.read_deadline(&self.timeouts) else {
            self.read_timer = None;
            return Poll::Pending;
        };
        let timer = match &mut self.read_timer {
            Some(t) => {
                if t.deadline() != deadline {
                    t.as_mut().reset(deadline);
                }
                t
            }
            None => self
                .read_timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                if self.conn.head_since.load(Ordering::Relaxed) == 0 {
                    "no request within the idle timeout"
                } else {
                    "request head not complete within the header timeout"
                },
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn write_waits<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let stall = self.timeouts.write_stall;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer stopped reading the answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.write_waits(cx),
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.conn.saw_bytes();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.read_waits(cx),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_flush(cx);
        this.wrote(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_shutdown(cx);
        this.wrote(r, cx)
    }
}

/// A response body that puts its connection back to waiting for a request once it is sent
/// (or dropped), which starts the idle timeout.
pub(crate) struct PhaseBody {
    inner: Body,
    conn: Arc<Conn>,
}

impl PhaseBody {
    /// Wraps `inner`, the answer of a request on `conn`.
    pub(crate) fn wrap(inner: Body, conn: Arc<Conn>) -> Body {
        http_body_util::BodyExt::boxed(PhaseBody { inner, conn })
    }
}

impl Drop for PhaseBody {
    fn drop(&mut self) {
        self.conn.enter_awaiting();
    }
}

impl HttpBody for PhaseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The open-file limit of this process (soft), where the platform tells it.
pub(crate) fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_evicts_the_longest_idle_and_spares_requests() {
        let registry = Registry::new(2);
        let a = registry.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = registry.admit().unwrap();
        a.conn.enter_request();
        // `a` is busy, so `b` (idle) makes room for `c`.
        let c = registry.admit().unwrap();
        assert!(b.conn.is_evicted() && !a.conn.is_evicted());
        assert_eq!(registry.len(), 2);
        // Both remaining are inside requests: nothing can be evicted.
        c.conn.enter_request();
        assert!(registry.admit().is_none());
        drop(a);
        assert_eq!(registry.len(), 1);
        assert!(registry.admit().is_some());
    }

    #[test]
    fn head_and_idle_deadlines() {
        let t = Timeouts {
            idle: Duration::from_secs(60),
            header: Duration::from_secs(10),
            write_stall: Duration::from_secs(30),
        };
        let conn = Conn::new(Instant::now());
        let idle = conn.read_deadline(&t).unwrap();
        assert!(idle > Instant::now() + Duration::from_secs(55));
        conn.saw_bytes();
        let head = conn.read_deadline(&t).unwrap();
        assert!(head < Instant::now() + Duration::from_secs(11));
        conn.enter_request();
        assert!(conn.read_deadline(&t).is_none());
        conn.enter_awaiting();
        assert!(conn.read_deadline(&t).unwrap() > Instant::now() + Duration::from_secs(55));
    }

    #[test]
    fn reads_the_open_file_limit() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
