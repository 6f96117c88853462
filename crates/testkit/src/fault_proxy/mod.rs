//! A fault-injecting HTTP/1.1 proxy on loopback, between a client and `osspart serve`.
//!
//! The proxy frames every request and response (head, then a `Content-Length` or chunked body)
//! so it can act per request on kept-alive connections: forward it untouched, or reset the
//! connection after N bytes of the request or response, stall, close a response mid-body,
//! flip one byte of a response body, answer with an OSS error instead of forwarding, or add
//! latency. Which requests are hit is
//! decided by [`FaultRule`]s with a seeded random generator, so a given order of requests
//! always meets the same faults.
//!
//! It protects one invariant for the tests' accounting: every request body byte written to the
//! upstream server is counted in [`FaultStats::body_bytes_forwarded`], including the bytes of
//! requests a fault cut short, so re-sent bytes can be measured.

mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use osspart_protocol::xml::{self, error::ErrorBody};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use wire::{read_head, relay_message, Body, Cutoff, Relayed};

/// Which half of an exchange a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// While the request travels to the server (the server may never see it whole).
    Request,
    /// After the server answered (the server has done the work; the client may not learn it).
    Response,
}

/// Where a reset or truncation cuts a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// After exactly this many bytes of the message (head bytes included).
    AfterBytes(u64),
    /// At a seeded random point: anywhere in a request or a reset response; inside the body
    /// of a truncated response (inside the head when the body is empty).
    Random,
}

/// An OSS error the proxy answers with instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedError {
    /// HTTP status, e.g. 503.
    pub status: u16,
    /// OSS error code, e.g. `SlowDown`.
    pub code: String,
    /// `<Message>` text.
    pub message: String,
}

impl InjectedError {
    /// An error with any status and code.
    pub fn new(status: u16, code: impl Into<String>) -> InjectedError {
        InjectedError {
            status,
            code: code.into(),
            message: "injected by the osspart fault proxy".to_owned(),
        }
    }

    /// 503 `ServiceUnavailable`.
    pub fn service_unavailable() -> InjectedError {
        InjectedError::new(503, "ServiceUnavailable")
    }

    /// 500 `InternalError`.
    pub fn internal_error() -> InjectedError {
        InjectedError::new(500, "InternalError")
    }

    /// 503 `SlowDown`.
    pub fn slow_down() -> InjectedError {
        InjectedError::new(503, "SlowDown")
    }

    fn kind(&self) -> FaultKind {
        match self.code.as_str() {
            "ServiceUnavailable" => FaultKind::ServiceUnavailable,
            "InternalError" => FaultKind::InternalError,
            "SlowDown" => FaultKind::SlowDown,
            _ => FaultKind::OtherError,
        }
    }
}

/// What the proxy does to a request a rule picked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Reset both connections (TCP RST) after part of the request or of the response went
    /// through.
    Reset {
        /// Which message is cut.
        phase: Phase,
        /// Where.
        after: Cut,
    },
    /// Hold the request before forwarding it, or the answer before passing it back, for this
    /// long; then carry on (a client that gave up finds the connection gone).
    Stall {
        /// What is held.
        phase: Phase,
        /// For how long.
        duration: Duration,
    },
    /// Pass back part of the server's answer, then close the connection cleanly (FIN).
    Truncate {
        /// Where the answer is cut.
        after: Cut,
    },
    /// Pass the server's answer back whole, head and length untouched, with one byte of its
    /// body inverted (silent corruption on the wire). An empty body is passed back as it is.
    Corrupt {
        /// Which body byte: [`Cut::AfterBytes`]`(n)` is the byte after `n` bytes of the BODY
        /// (the head is not counted; past the end means the last byte), [`Cut::Random`] a
        /// seeded one anywhere in the body (in its first KiB when the length is unknown).
        at: Cut,
    },
    /// Answer with this error and never forward the request (its body is read and dropped).
    Respond(InjectedError),
    /// Wait this long before forwarding the request or before passing the answer back. Delays
    /// add up with each other and with one other fault.
    Delay {
        /// Where the wait happens.
        phase: Phase,
        /// How long.
        duration: Duration,
    },
}

impl Fault {
    fn kind(&self) -> FaultKind {
        match self {
            Fault::Reset {
                phase: Phase::Request,
                ..
            } => FaultKind::ResetRequest,
            Fault::Reset {
                phase: Phase::Response,
                ..
            } => FaultKind::ResetResponse,
            Fault::Stall {
                phase: Phase::Request,
                ..
            } => FaultKind::StallRequest,
            Fault::Stall {
                phase: Phase::Response,
                ..
            } => FaultKind::StallResponse,
            Fault::Truncate { .. } => FaultKind::TruncateResponse,
            Fault::Corrupt { .. } => FaultKind::CorruptResponse,
            Fault::Respond(e) => e.kind(),
            Fault::Delay { .. } => FaultKind::Delay,
        }
    }
}

/// Fault kinds as counted in [`FaultStats::injected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// Connection reset while the request was being forwarded.
    ResetRequest,
    /// Connection reset while the answer was being passed back.
    ResetResponse,
    /// Request held before forwarding.
    StallRequest,
    /// Answer held before passing it back.
    StallResponse,
    /// Answer cut short with a clean close.
    TruncateResponse,
    /// Answer passed back with one body byte inverted.
    CorruptResponse,
    /// 503 ServiceUnavailable answered by the proxy.
    ServiceUnavailable,
    /// 500 InternalError answered by the proxy.
    InternalError,
    /// 503 SlowDown answered by the proxy.
    SlowDown,
    /// Any other error answered by the proxy.
    OtherError,
    /// Added latency.
    Delay,
}

impl FaultKind {
    /// Every kind, in display order.
    pub const ALL: &'static [FaultKind] = &[
        FaultKind::ResetRequest,
        FaultKind::ResetResponse,
        FaultKind::StallRequest,
        FaultKind::StallResponse,
        FaultKind::TruncateResponse,
        FaultKind::CorruptResponse,
        FaultKind::ServiceUnavailable,
        FaultKind::InternalError,
        FaultKind::SlowDown,
        FaultKind::OtherError,
        FaultKind::Delay,
    ];

    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ResetRequest => "reset-request",
            FaultKind::ResetResponse => "reset-response",
            FaultKind::StallRequest => "stall-request",
            FaultKind::StallResponse => "stall-response",
            FaultKind::TruncateResponse => "truncate-response",
            FaultKind::CorruptResponse => "corrupt-response",
            FaultKind::ServiceUnavailable => "503-ServiceUnavailable",
            FaultKind::InternalError => "500-InternalError",
            FaultKind::SlowDown => "503-SlowDown",
            FaultKind::OtherError => "other-error",
            FaultKind::Delay => "latency",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides which requests a rule applies to.
pub type Matcher = Arc<dyn Fn(&SeenRequest) -> bool + Send + Sync>;

/// "Inject `fault` into `fraction` of the requests that `matcher` accepts, at most `limit`
/// times."
#[derive(Clone)]
pub struct FaultRule {
    fault: Fault,
    matcher: Option<Matcher>,
    fraction: f64,
    limit: Option<u64>,
    fired: u64,
}

impl fmt::Debug for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultRule")
            .field("fault", &self.fault)
            .field("filtered", &self.matcher.is_some())
            .field("fraction", &self.fraction)
            .field("limit", &self.limit)
            .field("fired", &self.fired)
            .finish()
    }
}

impl FaultRule {
    /// A rule that injects `fault` into every request (narrow it with the builder methods).
    pub fn new(fault: Fault) -> FaultRule {
        FaultRule {
            fault,
            matcher: None,
            fraction: 1.0,
            limit: None,
            fired: 0,
        }
    }

    /// Only requests `matches` accepts (default: all).
    pub fn when(mut self, matches: impl Fn(&SeenRequest) -> bool + Send + Sync + 'static) -> Self {
        self.matcher = Some(Arc::new(matches));
        self
    }

    /// Only this fraction (0..=1) of the accepted requests, drawn from the proxy's seeded
    /// generator (default 1).
    pub fn fraction(mut self, fraction: f64) -> Self {
        self.fraction = fraction.clamp(0.0, 1.0);
        self
    }

    /// At most this many times (default: no limit).
    pub fn times(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// A request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// `PUT`, `GET`, ...
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// A header's value (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Whether the query has a parameter called `name` (with or without a value).
    pub fn has_query(&self, name: &str) -> bool {
        self.target.split_once('?').is_some_and(|(_, q)| {
            q.split('&')
                .any(|p| p.split('=').next().is_some_and(|n| n == name))
        })
    }

    /// UploadPart: a PUT with `partNumber` and `uploadId` and no copy source.
    pub fn is_upload_part(&self) -> bool {
        self.method == "PUT"
            && self.has_query("partNumber")
            && self.has_query("uploadId")
            && self.header("x-oss-copy-source").is_none()
    }

    /// CompleteMultipartUpload: a POST with `uploadId`.
    pub fn is_complete(&self) -> bool {
        self.method == "POST" && self.has_query("uploadId")
    }

    /// InitiateMultipartUpload: a POST with `uploads`.
    pub fn is_initiate(&self) -> bool {
        self.method == "POST" && self.has_query("uploads")
    }

    /// Whether the path names this object key (path-style or virtual-hosted; the key as the
    /// client encoded it).
    pub fn targets_key(&self, encoded_key: &str) -> bool {
        let path = self.path();
        path.ends_with(&format!("/{encoded_key}"))
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests read from clients.
    pub requests: u64,
    /// Requests forwarded (whole or cut) to the server.
    pub forwarded: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// Request body bytes written to the server, cut requests included.
    pub body_bytes_forwarded: u64,
    /// Of those, bytes of PUT bodies (UploadPart, PutObject): the data being uploaded.
    pub put_body_bytes_forwarded: u64,
    /// Response body bytes passed back to clients.
    pub response_body_bytes: u64,
}

impl FaultStats {
    /// Faults of every kind together.
    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }

    /// Faults of one kind.
    pub fn count(&self, kind: FaultKind) -> u64 {
        self.injected.get(&kind).copied().unwrap_or(0)
    }

    /// Adds another proxy's figures to these.
    pub fn add(&mut self, other: &FaultStats) {
        self.requests += other.requests;
        self.forwarded += other.forwarded;
        for (k, n) in &other.injected {
            *self.injected.entry(*k).or_default() += n;
        }
        self.body_bytes_forwarded += other.body_bytes_forwarded;
        self.put_body_bytes_forwarded += other.put_body_bytes_forwarded;
        self.response_body_bytes += other.response_body_bytes;
    }
}

impl fmt::Display for FaultStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests ({} forwarded), {} faults",
            self.requests,
            self.forwarded,
            self.total_injected()
        )?;
        let kinds: Vec<String> = self
            .injected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !kinds.is_empty() {
            write!(f, " [{}]", kinds.join(", "))?;
        }
        Ok(())
    }
}

/// What happens to one request, decided when its head arrives.
#[derive(Debug, Default)]
struct Plan {
    delay_request: Duration,
    delay_response: Duration,
    action: Option<Fault>,
    /// Seeded randomness for where a [`Cut::Random`] falls.
    salt: u64,
}

struct ProxyState {
    upstream: SocketAddr,
    rules: Mutex<Vec<FaultRule>>,
    rng: Mutex<StdRng>,
    stats: Mutex<FaultStats>,
    seen: Mutex<Vec<SeenRequest>>,
    parts_in_flight: AtomicUsize,
    peak_parts_in_flight: AtomicUsize,
    next_request_id: AtomicU64,
    /// Connection tasks, aborted with the proxy so no held request reaches the server later.
    connections: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl ProxyState {
    fn plan(&self, request: &SeenRequest) -> Plan {
        let mut rules = self.rules.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        let mut plan = Plan {
            salt: rng.random(),
            ..Plan::default()
        };
        let mut injected = Vec::new();
        for rule in rules.iter_mut() {
            let is_delay = matches!(rule.fault, Fault::Delay { .. });
            if (!is_delay && plan.action.is_some())
                || rule.limit.is_some_and(|l| rule.fired >= l)
                || rule.matcher.as_ref().is_some_and(|m| !m(request))
            {
                continue;
            }
            if rule.fraction < 1.0 && rng.random::<f64>() >= rule.fraction {
                continue;
            }
            rule.fired += 1;
            injected.push(rule.fault.kind());
            match &rule.fault {
                Fault::Delay {
                    phase: Phase::Request,
                    duration,
                } => plan.delay_request += *duration,
                Fault::Delay {
                    phase: Phase::Response,
                    duration,
                } => plan.delay_response += *duration,
                other => plan.action = Some(other.clone()),
            }
        }
        drop((rules, rng));
        let mut stats = self.stats.lock().unwrap();
        for kind in injected {
            *stats.injected.entry(kind).or_default() += 1;
        }
        plan
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, FaultStats> {
        self.stats.lock().unwrap()
    }
}

/// Counts an UploadPart as in flight from when its body reached the server until just before
/// its answer goes back (so the count never exceeds what the client has outstanding).
struct InFlight<'a>(Option<&'a ProxyState>);

impl InFlight<'_> {
    fn end(&mut self) {
        if let Some(st) = self.0.take() {
            st.parts_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// A fault-injecting proxy listening on `127.0.0.1`. Dropping it closes the listener and
/// every connection, so a request it is holding never reaches the server afterwards.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for conn in self.state.connections.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.state.upstream)
            .finish()
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` with seed 0 and no rules (it forwards everything).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        FaultProxy::start_seeded(upstream, 0).await
    }

    /// A proxy in front of `upstream` whose random choices come from `seed`.
    pub async fn start_seeded(upstream: SocketAddr, seed: u64) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            upstream,
            rules: Mutex::new(Vec::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            stats: Mutex::new(FaultStats::default()),
            seen: Mutex::new(Vec::new()),
            parts_in_flight: AtomicUsize::new(0),
            peak_parts_in_flight: AtomicUsize::new(0),
            next_request_id: AtomicU64::new(1),
            connections: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let _ = conn.set_nodelay(true);
                let task = tokio::spawn(serve_connection(conn, st.clone()));
                let mut conns = st.connections.lock().unwrap();
                conns.retain(|c| !c.is_finished());
                conns.push(task.abort_handle());
            }
        });
        Ok(FaultProxy {
            addr,
            state,
            accept,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule after the existing ones. Per request, rules are tried in order; all
    /// firing [`Fault::Delay`]s apply, plus the first other fault that fires.
    pub fn add(&self, rule: FaultRule) {
        self.state.rules.lock().unwrap().push(rule);
    }

    /// Removes every rule: from now on requests are forwarded untouched.
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FaultStats {
        self.state.stats().clone()
    }

    /// Every request read so far, faulted ones included, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The most UploadPart requests the server was working on at once.
    pub fn peak_parts_in_flight(&self) -> usize {
        self.state.peak_parts_in_flight.load(Ordering::SeqCst)
    }
}

/// Aborts a connection with a TCP RST instead of a clean close.
fn reset(conn: BufReader<TcpStream>) {
    let _ = conn.get_ref().set_zero_linger();
    drop(conn);
}

/// Resolves a cut to a byte count within a message of `head` bytes plus a body of `body`
/// bytes (`None`: unknown length). `inside_body` keeps a random cut inside the body.
fn cut_point(cut: Cut, head: usize, body: Option<u64>, inside_body: bool, salt: u64) -> u64 {
    let head = head as u64;
    match cut {
        Cut::AfterBytes(n) => n,
        Cut::Random => {
            // Unknown lengths (chunked) are cut in the first KiB of the body.
            let body = body.unwrap_or(1024);
            if inside_body && body > 0 {
                head + salt % body
            } else {
                salt % (head + body).max(1)
            }
        }
    }
}

/// Resolves which body byte a corruption inverts, within a body of `body` bytes (`None`:
/// unknown length); `None` when the body is empty.
fn flip_point(at: Cut, body: Option<u64>, salt: u64) -> Option<u64> {
    match (at, body) {
        (_, Some(0)) => None,
        (Cut::AfterBytes(n), Some(len)) => Some(n.min(len - 1)),
        (Cut::AfterBytes(n), None) => Some(n),
        (Cut::Random, len) => Some(salt % len.unwrap_or(1024)),
    }
}

/// The bytes of an OSS error answer to a `method` request.
fn error_answer(err: &InjectedError, method: &str, request_id: &str, host: &str) -> Vec<u8> {
    let body = xml::to_xml(&ErrorBody {
        code: err.code.clone(),
        message: err.message.clone(),
        request_id: request_id.to_owned(),
        host_id: host.to_owned(),
        ec: Some("0000-00000000".to_owned()),
        recommend_doc: None,
        extra: Vec::new(),
    });
    let reason = match err.status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let date = osspart_protocol::time_fmt::http_date(time::OffsetDateTime::now_utc());
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nServer: AliyunOSS\r\nDate: {date}\r\n\
         Content-Type: application/xml\r\nConnection: keep-alive\r\nx-oss-request-id: {request_id}\r\n\
         x-oss-ec: 0000-00000000\r\n",
        err.status
    );
    // HEAD answers carry no body; OSS puts the error document in `x-oss-err` instead.
    let body = if method == "HEAD" {
        let encoded = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
        head.push_str(&format!("x-oss-err: {encoded}\r\nContent-Length: 0\r\n"));
        String::new()
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        body
    };
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// Serves one client connection: request by request, until either side closes or a fault
/// ends it. Each client connection gets its own upstream connection, opened on first use.
async fn serve_connection(client: TcpStream, st: Arc<ProxyState>) {
    let mut client = BufReader::new(client);
    let mut upstream: Option<BufReader<TcpStream>> = None;
    loop {
        let head = match read_head(&mut client).await {
            Ok(Some(h)) => h,
            _ => return,
        };
        let mut words = head.start.split(' ');
        let request = SeenRequest {
            method: words.next().unwrap_or_default().to_owned(),
            target: words.next().unwrap_or_default().to_owned(),
            headers: head.headers.clone(),
        };
        let Ok(request_body) = head.request_body() else {
            return;
        };
        st.seen.lock().unwrap().push(request.clone());
        st.stats().requests += 1;
        let plan = st.plan(&request);
        if !plan.delay_request.is_zero() {
            tokio::time::sleep(plan.delay_request).await;
        }

        match &plan.action {
            Some(Fault::Respond(err)) => {
                let drained = relay_message::<_, TcpStream>(
                    &mut client,
                    &[],
                    request_body,
                    None,
                    Cutoff::NONE,
                    None,
                )
                .await;
                if drained.is_err() {
                    return;
                }
                let id = format!(
                    "FAULTPROXY{:014X}",
                    st.next_request_id.fetch_add(1, Ordering::Relaxed)
                );
                let host = request.header("host").unwrap_or_default().to_owned();
                let answer = error_answer(err, &request.method, &id, &host);
                if client.write_all(&answer).await.is_err() || client.flush().await.is_err() {
                    return;
                }
                if head.wants_close() {
                    return;
                }
                continue;
            }
            Some(Fault::Stall {
                phase: Phase::Request,
                duration,
            }) => tokio::time::sleep(*duration).await,
            _ => {}
        }

        if upstream.is_none() {
            match TcpStream::connect(st.upstream).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    upstream = Some(BufReader::new(s));
                }
                Err(_) => {
                    reset(client);
                    return;
                }
            }
        }
        let Some(server) = upstream.as_mut() else {
            return;
        };
        let request_cut = match &plan.action {
            Some(Fault::Reset {
                phase: Phase::Request,
                after,
            }) => Cutoff(Some(cut_point(
                *after,
                head.raw.len(),
                request_body.known_len(),
                false,
                plan.salt,
            ))),
            _ => Cutoff::NONE,
        };
        let sent = relay_message(
            &mut client,
            &head.raw,
            request_body,
            Some(server),
            request_cut,
            None,
        )
        .await;
        {
            let mut stats = st.stats();
            stats.forwarded += 1;
            if let Ok(r) = sent {
                stats.body_bytes_forwarded += r.body_bytes();
                if request.method == "PUT" {
                    stats.put_body_bytes_forwarded += r.body_bytes();
                }
            }
        }
        let cut_request = matches!(
            plan.action,
            Some(Fault::Reset {
                phase: Phase::Request,
                ..
            })
        );
        if sent.is_err() || cut_request {
            // A client that went away mid-request, a server that broke, or the fault itself:
            // the framing is lost either way, so both connections go.
            if let Some(server) = upstream.take() {
                reset(server);
            }
            reset(client);
            return;
        }

        let mut in_flight = InFlight(None);
        if request.is_upload_part() {
            let now = st.parts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            st.peak_parts_in_flight.fetch_max(now, Ordering::SeqCst);
            in_flight = InFlight(Some(&st));
        }
        // Interim 1xx answers go straight back; the final answer follows.
        let answer = loop {
            match read_head(server).await {
                Ok(Some(h)) if (100..200).contains(&h.status()) && h.status() != 101 => {
                    if client.write_all(&h.raw).await.is_err() {
                        return;
                    }
                }
                Ok(Some(h)) => break h,
                _ => {
                    reset(client);
                    return;
                }
            }
        };
        let Ok(answer_body) = answer.response_body(&request.method) else {
            reset(client);
            return;
        };
        if !plan.delay_response.is_zero() {
            tokio::time::sleep(plan.delay_response).await;
        }
        if let Some(Fault::Stall {
            phase: Phase::Response,
            duration,
        }) = &plan.action
        {
            tokio::time::sleep(*duration).await;
        }
        in_flight.end();

        let answer_cut = match &plan.action {
            Some(Fault::Reset {
                phase: Phase::Response,
                after,
            }) => Some(cut_point(
                *after,
                answer.raw.len(),
                answer_body.known_len(),
                false,
                plan.salt,
            )),
            Some(Fault::Truncate { after }) => Some(cut_point(
                *after,
                answer.raw.len(),
                answer_body.known_len(),
                true,
                plan.salt,
            )),
            _ => None,
        };
        let flip = match &plan.action {
            Some(Fault::Corrupt { at }) => flip_point(*at, answer_body.known_len(), plan.salt),
            _ => None,
        };
        let passed = relay_message(
            server,
            &answer.raw,
            answer_body,
            Some(&mut client),
            Cutoff(answer_cut),
            flip,
        )
        .await;
        if let Ok(r) = passed {
            st.stats().response_body_bytes += r.body_bytes();
        }
        match (&plan.action, passed) {
            (_, Err(_)) => {
                if let Some(server) = upstream.take() {
                    reset(server);
                }
                reset(client);
                return;
            }
            (Some(Fault::Reset { .. }), _) => {
                // The rest of the answer is still in the upstream connection: drop it too.
                if let Some(server) = upstream.take() {
                    reset(server);
                }
                reset(client);
                return;
            }
            (Some(Fault::Truncate { .. }), _) => {
                let _ = client.shutdown().await;
                return;
            }
            (_, Ok(Relayed::Cut { .. })) => return,
            (_, Ok(Relayed::Whole { .. })) => {}
        }
        if answer_body == Body::UntilClose || answer.wants_close() {
            return;
        }
        if head.wants_close() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str) -> SeenRequest {
        SeenRequest {
            method: method.into(),
            target: target.into(),
            headers: vec![],
        }
    }

    #[test]
    fn recognises_multipart_calls() {
        assert!(request("PUT", "/b/k?partNumber=3&uploadId=U").is_upload_part());
        assert!(!request("PUT", "/b/k").is_upload_part());
        assert!(request("POST", "/b/k?uploadId=U").is_complete());
        assert!(request("POST", "/b/k?uploads").is_initiate());
        assert!(!request("POST", "/b/k?uploads").is_complete());
        assert!(request("GET", "/b/dir/k?x=1").targets_key("dir/k"));
    }

    #[test]
    fn cuts_fall_inside_the_message() {
        for salt in 0..1000u64 {
            let p = cut_point(Cut::Random, 100, Some(50), true, salt * 7919);
            assert!((100..150).contains(&p));
            let p = cut_point(Cut::Random, 100, Some(50), false, salt * 7919);
            assert!(p < 150);
            let p = cut_point(Cut::Random, 100, Some(0), true, salt);
            assert!(p < 100);
        }
        assert_eq!(cut_point(Cut::AfterBytes(7), 100, None, false, 1), 7);
    }

    #[test]
    fn flips_fall_inside_the_body() {
        assert_eq!(flip_point(Cut::AfterBytes(7), Some(100), 0), Some(7));
        assert_eq!(flip_point(Cut::AfterBytes(700), Some(100), 0), Some(99));
        assert_eq!(flip_point(Cut::AfterBytes(700), None, 0), Some(700));
        assert_eq!(flip_point(Cut::Random, Some(0), 5), None);
        for salt in 0..1000u64 {
            assert!(flip_point(Cut::Random, Some(50), salt * 7919).unwrap() < 50);
        }
    }

    #[test]
    fn error_answers_are_oss_errors() {
        let text = String::from_utf8(error_answer(
            &InjectedError::slow_down(),
            "PUT",
            "RID",
            "b.localhost",
        ))
        .unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("x-oss-request-id: RID"));
        assert!(head.contains("Date: "));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let parsed: ErrorBody = xml::from_xml(body.as_bytes()).unwrap();
        assert_eq!(parsed.code, "SlowDown");
        assert_eq!(parsed.request_id, "RID");
        let head_answer = String::from_utf8(error_answer(
            &InjectedError::internal_error(),
            "HEAD",
            "R",
            "h",
        ))
        .unwrap();
        assert!(head_answer.ends_with("Content-Length: 0\r\n\r\n"));
        assert!(head_answer.contains("x-oss-err: "));
    }
}
