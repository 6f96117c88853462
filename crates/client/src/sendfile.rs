//! File bodies sent by the kernel. Over a plain-HTTP endpoint, a request whose body is a range
//! of a file ([`FileBody`]) is written by hand on a pooled connection and its body handed to
//! `sendfile(2)`: the bytes go from the page cache to the socket without passing through user
//! space (over loopback, and on network cards that gather pages, without being copied at all).
//! The CRC-64 still covers the bytes as they are now: each chunk is first mapped
//! (`src/mapped.rs`) and checksummed, then sent from the file; the service's CRC-64 of what
//! it received is compared with it as for any part, so a file that changes in between is caught.
//!
//! One blocking thread runs a whole exchange (head, body, answer), so there are no hand-offs
//! between a reading thread and the connection per chunk. TLS endpoints, proxies and other
//! platforms use the regular HTTP client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use osspart_protocol::crc64::Crc64;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::client::FileBody;
use crate::error::{Error, Result};

/// Bytes mapped, checksummed and sent per step: few enough that a chunk's pages are still in
/// the CPU's cache when the receiver (on loopback) copies them, and that the mapped pages of
/// five parts in flight stay a few MiB of resident memory.
const CHUNK: usize = 1024 * 1024;

/// Longest response head read.
const MAX_HEAD: usize = 64 * 1024;

/// An idle connection is not reused after this long (the service may have closed it).
const IDLE_FOR: Duration = Duration::from_secs(50);

/// Most idle connections kept.
const MAX_IDLE: usize = 32;

/// Whether file bodies to `scheme` endpoints go through `sendfile(2)` on this machine: plain
/// HTTP on Linux, with no proxy configured in the environment (the regular client honours one;
/// this path does not).
pub(crate) fn applies(scheme: &str) -> bool {
    const PROXY_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
    cfg!(target_os = "linux")
        && scheme == "http"
        && PROXY_VARS
            .iter()
            .all(|v| std::env::var_os(v).is_none_or(|s| s.is_empty()))
}

/// Idle keep-alive connections of the sendfile path, shared by a client's clones.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    authority: String,
    stream: TcpStream,
    since: Instant,
}

impl Pool {
    /// A live idle connection to `authority`, if one is kept.
    fn take(&self, authority: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|c| c.since.elapsed() < IDLE_FOR);
        while let Some(at) = idle.iter().rposition(|c| c.authority == authority) {
            let conn = idle.swap_remove(at);
            if still_open(&conn.stream) {
                return Some(conn.stream);
            }
        }
        None
    }

    fn put(&self, authority: &str, stream: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            authority: authority.to_owned(),
            stream,
            since: Instant::now(),
        });
    }
}

/// False for a connection the peer closed or wrote to while it was idle.
fn still_open(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut probe = [0u8; 1];
    let open =
        matches!(stream.peek(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    open && stream.set_nonblocking(false).is_ok()
}

/// One request with a file body, ready to go.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// HTTP method.
    pub method: String,
    /// `http://authority/path?query`.
    pub url: String,
    /// Signed headers, sent as they are.
    pub headers: Vec<(String, String)>,
    /// `User-Agent`.
    pub user_agent: String,
    /// The body.
    pub body: FileBody,
    /// Counts body bytes once the kernel took them.
    pub sent: Option<Arc<AtomicU64>>,
    /// Limit for the whole exchange.
    pub timeout: Duration,
    /// Limit for connecting.
    pub connect_timeout: Duration,
    /// Longest success body read.
    pub max_response: u64,
    /// Longest error body read (the rest is dropped with the connection).
    pub max_error: u64,
    /// What is under way, for errors.
    pub during: String,
}

/// A complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Runs `ex` on a blocking thread. Dropping the returned future stops the thread at its next
/// chunk and shuts its connection, so a cancelled upload lets go of the file promptly.
pub(crate) async fn send(pool: Arc<Pool>, ex: Exchange) -> Result<Answer> {
    let stop = Arc::new(Stop::default());
    let guard = StopOnDrop(stop.clone());
    let task = tokio::task::spawn_blocking(move || exchange(&pool, &ex, &stop));
    let answer = task
        .await
        .map_err(|e| Error::transport_from("the sending thread failed", e))?;
    drop(guard);
    answer
}

/// Set when the caller went away; holds a handle on the connection in use to shut it.
#[derive(Debug, Default)]
struct Stop {
    stopped: AtomicBool,
    conn: Mutex<Option<TcpStream>>,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Forgets the connection: the exchange is over, and a kept connection must stay open.
    fn release(&self) {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn watch(&self, stream: &TcpStream) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = stream.try_clone().ok();
        if self.is_set() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

struct StopOnDrop(Arc<Stop>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::Relaxed);
        if let Some(c) = self.0.conn.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// How an attempt on one connection failed.
enum Failed {
    /// Nothing of an answer arrived: on a reused connection, worth one more try on a new one.
    BeforeAnswer(Error),
    /// Anything else.
    Final(Error),
}

fn exchange(pool: &Pool, ex: &Exchange, stop: &Stop) -> Result<Answer> {
    let deadline = Instant::now() + ex.timeout;
    let (authority, target) = split_url(&ex.url)?;
    let head = request_head(ex, authority, target)?;
    if let Some(stream) = pool.take(authority) {
        match attempt(stream, ex, &head, deadline, stop) {
            Ok((answer, reusable)) => return Ok(finish(pool, stop, authority, answer, reusable)),
            // A kept connection the service had just closed: not the request's fault.
            Err(Failed::BeforeAnswer(e)) => {
                tracing::debug!(error = %e, "kept connection failed; retrying on a new one")
            }
            Err(Failed::Final(e)) => return Err(e),
        }
    }
    let stream = connect(authority, ex, deadline)?;
    match attempt(stream, ex, &head, deadline, stop) {
        Ok((answer, reusable)) => Ok(finish(pool, stop, authority, answer, reusable)),
        Err(Failed::BeforeAnswer(e) | Failed::Final(e)) => Err(e),
    }
}

fn finish(
    pool: &Pool,
    stop: &Stop,
    authority: &str,
    answer: (Answer, TcpStream),
    reusable: bool,
) -> Answer {
    let (answer, stream) = answer;
    if reusable && !stop.is_set() {
        stop.release();
        pool.put(authority, stream);
    }
    answer
}

/// `(authority, path and query)` of an `http://` URL.
fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::InvalidArgument(format!("{url} is not a plain-HTTP URL")))?;
    Ok(match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    })
}

/// The request line and headers, refusing what the regular client would refuse (a header that
/// is not a valid name or value could split the request).
fn request_head(ex: &Exchange, authority: &str, target: &str) -> Result<Vec<u8>> {
    let mut head = format!("{} {target} HTTP/1.1\r\nHost: {authority}\r\n", ex.method);
    let fixed = [
        ("User-Agent", ex.user_agent.as_str()),
        ("Content-Length", &ex.body.len().to_string()),
    ];
    let signed = ex.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    for (name, value) in fixed.into_iter().chain(signed) {
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err()
        {
            return Err(Error::InvalidArgument(format!(
                "header {name:?} cannot be sent as it is"
            )));
        }
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

fn connect(authority: &str, ex: &Exchange, deadline: Instant) -> Result<TcpStream> {
    let failed = |e: std::io::Error| {
        Error::transport_from(format!("cannot connect to http://{authority}"), e)
    };
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    let with_port = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut last = None;
    for addr in with_port.to_socket_addrs().map_err(failed)? {
        let left = remaining(deadline, ex)?.min(ex.connect_timeout);
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                s.set_nodelay(true).map_err(failed)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = Some(Error::Timeout {
                    after: ex.connect_timeout,
                    during: format!("connecting to http://{authority}"),
                })
            }
            Err(e) => last = Some(failed(e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::transport(format!("cannot connect to http://{authority}: no address"))
    }))
}

/// Time left before `deadline`, or the timeout error once there is none.
fn remaining(deadline: Instant, ex: &Exchange) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out(ex));
    }
    Ok(left)
}

fn timed_out(ex: &Exchange) -> Error {
    Error::Timeout {
        after: ex.timeout,
        during: ex.during.clone(),
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn broken(ex: &Exchange, e: std::io::Error) -> Error {
    if is_timeout(&e) {
        return timed_out(ex);
    }
    Error::transport_from(format!("connection failed while {}", ex.during), e)
}

/// Sends the request on `stream` and reads the answer: the answer, the stream, and whether
/// the stream may carry another request.
fn attempt(
    stream: TcpStream,
    ex: &Exchange,
    head: &[u8],
    deadline: Instant,
    stop: &Stop,
) -> std::result::Result<((Answer, TcpStream), bool), Failed> {
    stop.watch(&stream);
    let sent = send_request(&stream, ex, head, deadline, stop);
    // A service that refuses a request early answers and closes before taking the body, so
    // after a failed send there may still be an answer to read.
    if let Err(e @ (Error::Cancelled | Error::SourceChanged(_) | Error::Timeout { .. })) = sent {
        return Err(Failed::Final(e));
    }
    let mut reader = Reader::new(&stream);
    let read = read_answer(&mut reader, ex, deadline);
    match (sent, read) {
        (Ok(()), Ok((answer, reusable))) => Ok(((answer, stream), reusable)),
        (Err(_), Ok((answer, _))) if answer.status >= 300 => Ok(((answer, stream), false)),
        (Err(e), Ok(_)) => Err(Failed::Final(e)),
        (Err(e), Err(_)) if reader.got_any() => Err(Failed::Final(e)),
        (Err(e), Err(_)) => Err(Failed::BeforeAnswer(e)),
        (Ok(()), Err(e)) if reader.got_any() => Err(Failed::Final(e)),
        (Ok(()), Err(e)) => Err(Failed::BeforeAnswer(e)),
    }
}

/// Writes the head, then the body: each chunk read and checksummed, then sent from the file.
fn send_request(
    mut stream: &TcpStream,
    ex: &Exchange,
    head: &[u8],
    deadline: Instant,
    stop: &Stop,
) -> Result<()> {
    let body = &ex.body;
    body.set_sent_crc64(None);
    let source_changed = |e: std::io::Error| {
        Error::SourceChanged(format!(
            "cannot read {} bytes at {} of the file being sent: {e}",
            body.len(),
            body.offset()
        ))
    };
    let size = body.file().metadata().map_err(source_changed)?.len();
    if size < body.offset() + body.len() {
        return Err(source_changed(std::io::ErrorKind::UnexpectedEof.into()));
    }
    stream
        .set_write_timeout(Some(remaining(deadline, ex)?))
        .map_err(|e| broken(ex, e))?;
    stream.write_all(head).map_err(|e| broken(ex, e))?;
    let mut crc = Crc64::new();
    let mut done = 0u64;
    while done < body.len() {
        if stop.is_set() {
            return Err(Error::Cancelled);
        }
        let n = (body.len() - done).min(CHUNK as u64) as usize;
        // Mapped one chunk at a time, so the process never holds more than a chunk per part.
        let mut window =
            Window::new(body.file(), body.offset() + done, n).map_err(source_changed)?;
        crc.update(window.piece(0, n).map_err(source_changed)?);
        drop(window);
        stream
            .set_write_timeout(Some(remaining(deadline, ex)?))
            .map_err(|e| broken(ex, e))?;
        send_range(stream, body.file(), body.offset() + done, n).map_err(|e| broken(ex, e))?;
        done += n as u64;
        if let Some(c) = &ex.sent {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    body.set_sent_crc64(Some(crc.value()));
    Ok(())
}

/// The body's bytes as the checksum reads them: mapped, so that nothing is copied.
#[cfg(target_os = "linux")]
type Window = crate::mapped::MappedRange;

/// Elsewhere [`applies`] is false; this pread-based window keeps the module whole.
#[cfg(not(target_os = "linux"))]
struct Window<'a> {
    file: &'a std::fs::File,
    offset: u64,
    buf: Vec<u8>,
}

#[cfg(not(target_os = "linux"))]
impl<'a> Window<'a> {
    fn new(file: &'a std::fs::File, offset: u64, _len: usize) -> std::io::Result<Window<'a>> {
        Ok(Window {
            file,
            offset,
            buf: Vec::new(),
        })
    }

    fn piece(&mut self, start: usize, n: usize) -> std::io::Result<&[u8]> {
        self.buf.resize(n, 0);
        crate::fileio::read_exact_at(self.file, &mut self.buf, self.offset + start as u64)?;
        Ok(&self.buf)
    }
}

/// Sends `len` bytes of `file` from `at` on `stream` with `sendfile(2)`.
#[cfg(target_os = "linux")]
fn send_range(
    stream: &TcpStream,
    file: &std::fs::File,
    at: u64,
    len: usize,
) -> std::io::Result<()> {
    let mut offset = at;
    let end = at + len as u64;
    while offset < end {
        let left = (end - offset) as usize;
        match rustix::fs::sendfile(stream, file, Some(&mut offset), left) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Elsewhere [`applies`] is false; this copy keeps the module whole.
#[cfg(not(target_os = "linux"))]
fn send_range(
    mut stream: &TcpStream,
    file: &std::fs::File,
    at: u64,
    len: usize,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; len];
    crate::fileio::read_exact_at(file, &mut buf, at)?;
    stream.write_all(&buf)
}

/// Buffered reads from the connection, noting whether anything arrived at all.
struct Reader<'a> {
    stream: &'a TcpStream,
    buf: Vec<u8>,
    start: usize,
    any: bool,
}

impl<'a> Reader<'a> {
    fn new(stream: &'a TcpStream) -> Reader<'a> {
        Reader {
            stream,
            buf: Vec::new(),
            start: 0,
            any: false,
        }
    }

    fn got_any(&self) -> bool {
        self.any
    }

    fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match (&mut &*self.stream).read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.any |= n > 0;
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n > 0)
    }

    /// Up to `limit` more bytes of body, ending at the end of the stream.
    fn read_to_end(&mut self, limit: u64, out: &mut Vec<u8>) -> std::io::Result<bool> {
        loop {
            let take = self
                .buffered()
                .len()
                .min((limit - out.len() as u64) as usize);
            out.extend_from_slice(self.buffered().get(..take).unwrap_or_default());
            self.consume(take);
            if out.len() as u64 == limit {
                return Ok(false);
            }
            if !self.fill()? {
                return Ok(true);
            }
        }
    }

    /// Exactly `n` bytes appended to `out`.
    fn read_exact(&mut self, n: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let mut left = n;
        while left > 0 {
            if self.buffered().is_empty() && !self.fill()? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let take = self.buffered().len().min(left);
            out.extend_from_slice(self.buffered().get(..take).unwrap_or_default());
            self.consume(take);
            left -= take;
        }
        Ok(())
    }

    /// One CRLF-terminated line, without its end.
    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(at) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(self.buffered().get(..at).unwrap_or_default())
                    .into_owned();
                self.consume(at + 2);
                return Ok(line);
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(std::io::Error::other("line too long"));
            }
            if !self.fill()? {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Reads an answer: the answer and whether the connection may be reused.
fn read_answer(
    reader: &mut Reader<'_>,
    ex: &Exchange,
    deadline: Instant,
) -> Result<(Answer, bool)> {
    let protocol = |what: &str| Error::Protocol(format!("{what} while {}", ex.during));
    loop {
        reader
            .stream
            .set_read_timeout(Some(remaining(deadline, ex)?))
            .map_err(|e| broken(ex, e))?;
        let (status, headers, head_len, keep_alive) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 128];
            let mut parsed = httparse::Response::new(&mut slots);
            match parsed.parse(reader.buffered()) {
                Ok(httparse::Status::Complete(n)) => {
                    let mut headers = HeaderMap::new();
                    for h in parsed.headers.iter() {
                        if let (Ok(n), Ok(v)) = (
                            HeaderName::from_bytes(h.name.as_bytes()),
                            HeaderValue::from_bytes(h.value),
                        ) {
                            headers.append(n, v);
                        }
                    }
                    let keep =
                        parsed.version == Some(1) && !header_has(&headers, "connection", "close");
                    break (parsed.code.unwrap_or_default(), headers, n, keep);
                }
                Ok(httparse::Status::Partial) if reader.buffered().len() < MAX_HEAD => {
                    if !reader.fill().map_err(|e| broken(ex, e))? {
                        return Err(Error::transport(format!(
                            "connection closed before the answer while {}",
                            ex.during
                        )));
                    }
                }
                Ok(httparse::Status::Partial) => return Err(protocol("an answer head too long")),
                Err(e) => return Err(protocol(&format!("a malformed answer head ({e})"))),
            }
        };
        reader.consume(head_len);
        if status == 100 {
            continue;
        }
        let limit = if status >= 300 {
            ex.max_error
        } else {
            ex.max_response
        };
        // One byte beyond the limit is read, so that a longer body is seen as too long.
        let (body, whole) = read_body(reader, &headers, limit.saturating_add(1), ex, deadline)?;
        let reusable = keep_alive && whole;
        return Ok((
            Answer {
                status,
                headers,
                body: Bytes::from(body),
            },
            reusable,
        ));
    }
}

fn header_has(headers: &HeaderMap, name: &str, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Reads at most `limit` bytes of body; true when the body was read to its end (the
/// connection is then positioned at the next answer).
fn read_body(
    reader: &mut Reader<'_>,
    headers: &HeaderMap,
    limit: u64,
    ex: &Exchange,
    deadline: Instant,
) -> Result<(Vec<u8>, bool)> {
    let io = |e| broken(ex, e);
    let mut body = Vec::new();
    reader
        .stream
        .set_read_timeout(Some(remaining(deadline, ex)?))
        .map_err(io)?;
    if header_has(headers, "transfer-encoding", "chunked") {
        loop {
            let line = reader.line().map_err(io)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| {
                Error::Protocol(format!("a malformed chunk size while {}", ex.during))
            })?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !reader.line().map_err(io)?.is_empty() {}
                return Ok((body, true));
            }
            if body.len() as u64 + size > limit {
                return Ok((body, false));
            }
            reader.read_exact(size as usize, &mut body).map_err(io)?;
            if !reader.line().map_err(io)?.is_empty() {
                return Err(Error::Protocol(format!(
                    "a malformed chunk end while {}",
                    ex.during
                )));
            }
        }
    }
    let declared = headers
        .get("content-length")
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()));
    match declared {
        Some(Some(n)) if n <= limit => {
            reader.read_exact(n as usize, &mut body).map_err(io)?;
            Ok((body, true))
        }
        Some(Some(_)) => {
            let _ = reader.read_exact(limit as usize, &mut body);
            Ok((body, false))
        }
        Some(None) => Err(Error::Protocol(format!(
            "a malformed Content-Length while {}",
            ex.during
        ))),
        None => {
            reader.read_to_end(limit, &mut body).map_err(io)?;
            Ok((body, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn urls_split_into_authority_and_target() {
        assert_eq!(
            split_url("http://127.0.0.1:9000/b/k?partNumber=1").unwrap(),
            ("127.0.0.1:9000", "/b/k?partNumber=1")
        );
        assert_eq!(split_url("http://h.example").unwrap(), ("h.example", "/"));
        assert!(split_url("https://h.example/k").is_err());
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 253) as u8).collect()
    }

    fn file_with(bytes: &[u8]) -> Arc<std::fs::File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Arc::new(f)
    }

    fn exchange(addr: std::net::SocketAddr, body: FileBody, timeout: Duration) -> Exchange {
        Exchange {
            method: "PUT".into(),
            url: format!("http://{addr}/bkt/key?partNumber=1&uploadId=u"),
            headers: vec![("x-oss-meta-a".into(), "b".into())],
            user_agent: "test".into(),
            body,
            sent: Some(Arc::default()),
            timeout,
            connect_timeout: Duration::from_secs(5),
            max_response: 1 << 20,
            max_error: 1 << 10,
            during: "sending a part".into(),
        }
    }

    /// Reads one request head; returns its lines (empty at the end of the connection).
    fn read_head(r: &mut BufReader<TcpStream>) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return lines;
            }
            if line == "\r\n" {
                return lines;
            }
            lines.push(line.trim_end().to_owned());
        }
    }

    fn content_length(head: &[String]) -> usize {
        head.iter()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A peer that takes `conns` connections and answers every request on them with 200,
    /// sending back what it received; `close_after_each` closes after one answer.
    fn echo_peer(
        conns: usize,
        close_after_each: bool,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for _ in 0..conns {
                let (s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let head = read_head(&mut r);
                    if head.is_empty() {
                        break;
                    }
                    assert!(head[0].starts_with("PUT /bkt/key?partNumber=1&uploadId=u HTTP/1.1"));
                    assert!(head.iter().any(|l| l == "x-oss-meta-a: b"));
                    let mut body = vec![0u8; content_length(&head)];
                    r.read_exact(&mut body).unwrap();
                    let crc = osspart_protocol::crc64::checksum(&body);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nETag: \"E\"\r\nx-oss-hash-crc64ecma: {crc}\r\nContent-Length: 2\r\n\r\nok"
                    );
                    r.get_mut().write_all(answer.as_bytes()).unwrap();
                    bodies.push(body);
                    if close_after_each {
                        break;
                    }
                }
            }
            bodies
        });
        (addr, peer)
    }

    fn run(pool: &Arc<Pool>, ex: Exchange) -> Result<Answer> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(send(pool.clone(), ex))
    }

    #[test]
    fn bodies_go_out_whole_with_their_crc_and_connections_are_kept() {
        let bytes = data(3 << 20);
        let file = file_with(&bytes);
        let (addr, peer) = echo_peer(1, false);
        let pool = Arc::new(Pool::default());
        for (offset, len) in [(5, (2 << 20) + 3), (0, 0), (1 << 20, 1 << 20)] {
            let body = FileBody::new(file.clone(), offset as u64, len as u64);
            let ex = exchange(addr, body.clone(), Duration::from_secs(10));
            let sent = ex.sent.clone().unwrap();
            let answer = run(&pool, ex).unwrap();
            assert_eq!(answer.status, 200);
            assert_eq!(&answer.body[..], b"ok");
            let want = osspart_protocol::crc64::checksum(&bytes[offset..offset + len]);
            assert_eq!(body.sent_crc64(), Some(want));
            assert_eq!(
                answer.headers["x-oss-hash-crc64ecma"].to_str().unwrap(),
                want.to_string()
            );
            assert_eq!(sent.load(Ordering::Relaxed), len as u64);
        }
        drop(pool);
        // One connection carried all three (the peer accepts only one).
        let bodies = peer.join().unwrap();
        assert_eq!(bodies.len(), 3);
        assert_eq!(bodies[0], &bytes[5..5 + (2 << 20) + 3]);
    }

    #[test]
    fn a_kept_connection_the_peer_closed_is_replaced() {
        let bytes = data(100_000);
        let file = file_with(&bytes);
        let (addr, peer) = echo_peer(2, true);
        let pool = Arc::new(Pool::default());
        for _ in 0..2 {
            let body = FileBody::new(file.clone(), 0, bytes.len() as u64);
            let answer = run(&pool, exchange(addr, body, Duration::from_secs(10))).unwrap();
            assert_eq!(answer.status, 200);
            // Give the peer's close time to arrive, as an idle connection would.
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(peer.join().unwrap().len(), 2);
    }

    #[test]
    fn an_early_error_answer_is_read_and_a_chunked_one_decoded() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            // Refuses before the body, then closes without reading it.
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s);
            read_head(&mut r);
            let xml = "<Error><Code>AccessDenied</Code></Error>";
            let answer = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            );
            r.get_mut().write_all(answer.as_bytes()).unwrap();
            drop(r);
            // Answers in chunks.
            let (s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s);
            let head = read_head(&mut r);
            let mut body = vec![0u8; content_length(&head)];
            r.read_exact(&mut body).unwrap();
            let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
            r.get_mut().write_all(answer.as_bytes()).unwrap();
        });
        let file = file_with(&data(16 << 20));
        let pool = Arc::new(Pool::default());
        let body = FileBody::new(file.clone(), 0, 16 << 20);
        let answer = run(&pool, exchange(addr, body, Duration::from_secs(10))).unwrap();
        assert_eq!(answer.status, 403);
        assert!(std::str::from_utf8(&answer.body)
            .unwrap()
            .contains("AccessDenied"));
        let body = FileBody::new(file, 0, 1000);
        let answer = run(&pool, exchange(addr, body, Duration::from_secs(10))).unwrap();
        assert_eq!(&answer.body[..], b"abcde");
        peer.join().unwrap();
    }

    #[test]
    fn a_peer_that_stops_reading_is_a_timeout_and_a_short_file_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_secs(3));
            drop(s);
        });
        let file = file_with(&data(64 << 20));
        let pool = Arc::new(Pool::default());
        let started = Instant::now();
        let body = FileBody::new(file.clone(), 0, 64 << 20);
        let err = run(&pool, exchange(addr, body, Duration::from_millis(700))).unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        peer.join().unwrap();

        // The range runs past the end of the file: a clear error, not a signal.
        let (addr, _peer) = echo_peer(1, false);
        let body = FileBody::new(file, 60 << 20, 8 << 20);
        let err = run(&pool, exchange(addr, body, Duration::from_secs(5))).unwrap_err();
        assert!(matches!(err, Error::SourceChanged(_)), "{err:?}");
    }
}
