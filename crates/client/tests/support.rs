//! Shared helpers: a real `osspart serve` in-process on a free loopback port, clients pointed
//! at it, and a fault proxy that sits between the two on a real socket.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osspart::{Client, Config, Credentials, SignatureVersion};
use osspart_server::{RunningServer, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Credentials the test server accepts.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: "client-test".into(),
        access_key_secret: "client-secret".into(),
        security_token: None,
    }
}

/// An STS credential the test server accepts (the token must come with the key).
pub fn sts_credentials() -> Credentials {
    Credentials {
        access_key_id: "STS.client-test".into(),
        access_key_secret: "sts-secret".into(),
        security_token: Some("sts-token-123".into()),
    }
}

/// Part size used by the upload tests: the smallest the service accepts (100 KiB).
pub const PART: usize = 100 * 1024;

/// A running server with its data dir.
pub struct Server {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on a fresh data dir that trusts [`credentials`] and [`sts_credentials`].
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
        config.credentials.push(credentials());
        config.credentials.push(sts_credentials());
        let server = RunningServer::start(config).await.unwrap();
        Server {
            server: Some(server),
            dir,
        }
    }

    fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.running().endpoint()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.running().local_addr()
    }

    /// How many requests of operation `op` (e.g. `"UploadPart"`) succeeded so far.
    pub fn count(&self, op: &str) -> u64 {
        self.running()
            .completed_operations()
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// Body bytes the server accepted through PutObject and UploadPart so far.
    pub fn ingested(&self) -> u64 {
        self.running().ingested_bytes()
    }

    /// A configuration for `bucket` at this server with the default credentials.
    pub fn config(&self, bucket: &str) -> Config {
        Config::new(self.endpoint(), "cn-hangzhou", bucket, credentials())
    }

    /// A client for `bucket` with the given signature version; the bucket is created.
    pub async fn client(&self, bucket: &str, sig: SignatureVersion) -> Client {
        let mut config = self.config(bucket);
        config.signature = sig;
        client_for(config).await
    }
}

/// A client for `config`; its bucket is created when missing.
pub async fn client_for(config: Config) -> Client {
    let client = Client::new(config).unwrap();
    match client.create_bucket().await {
        Ok(()) => {}
        Err(e) if e.code() == Some("BucketAlreadyExists") => {}
        Err(e) => panic!("create bucket: {e}"),
    }
    client
}

/// `n` bytes of the pattern `(31*i + seed) mod 251`.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((31 * i + seed) % 251) as u8).collect()
}

/// A request as the fault proxy saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// `PUT`, `GET`, ...
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// Whether this is UploadPart (a PUT with `partNumber` and no copy source).
    pub fn is_upload_part(&self) -> bool {
        self.method == "PUT"
            && self.target.contains("partNumber=")
            && self.header("x-oss-copy-source").is_none()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which requests a fault applies to.
pub type Matcher = fn(&SeenRequest) -> bool;

struct Fault {
    matches: Matcher,
    status: u16,
    code: &'static str,
    remaining: u32,
}

#[derive(Default)]
struct ProxyState {
    seen: Mutex<Vec<SeenRequest>>,
    faults: Mutex<Vec<Fault>>,
    faults_served: AtomicUsize,
    parts_in_flight: AtomicUsize,
    peak_parts_in_flight: AtomicUsize,
    part_delay: Mutex<Duration>,
}

/// An HTTP/1.1 proxy on a real loopback socket in front of the server. It forwards every
/// request unchanged, records what it saw, counts UploadPart requests the server is working
/// on (a request counts from when its body has fully arrived until just before its answer
/// goes back, so the count never exceeds what the client has in flight), and can answer
/// chosen requests itself with an error status instead of forwarding them.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = relay(conn, upstream, st).await;
                });
            }
        });
        FaultProxy { addr, state, task }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `times` requests that `matches` with `status` and OSS error `code`.
    pub fn fail(&self, matches: Matcher, times: u32, status: u16, code: &'static str) {
        self.state.faults.lock().unwrap().push(Fault {
            matches,
            status,
            code,
            remaining: times,
        });
    }

    /// Holds every UploadPart answer this long before passing it back, so parallel parts
    /// overlap on the server.
    pub fn delay_parts(&self, delay: Duration) {
        *self.state.part_delay.lock().unwrap() = delay;
    }

    /// Error answers the proxy gave instead of forwarding.
    pub fn faults_served(&self) -> usize {
        self.state.faults_served.load(Ordering::SeqCst)
    }

    /// The most UploadPart requests the server had at once.
    pub fn peak_parts_in_flight(&self) -> usize {
        self.state.peak_parts_in_flight.load(Ordering::SeqCst)
    }

    /// Every request seen so far, faulted ones included.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }
}

/// Reads one HTTP head (up to the blank line). `None` at a clean end of stream.
async fn read_head<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut head).await?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        if head.ends_with(b"\r\n\r\n") {
            return Ok(Some(head));
        }
    }
}

/// Start line and lower-cased headers of a head.
fn parse_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (start, headers)
}

fn content_length(headers: &[(String, String)]) -> Option<usize> {
    headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
}

/// Copies a chunked body verbatim (sizes, data, trailers) from `r` into `out`.
async fn copy_chunked<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    loop {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line).await?;
        out.extend_from_slice(&line);
        let size_text = String::from_utf8_lossy(&line);
        let size = usize::from_str_radix(size_text.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let mut t = Vec::new();
                r.read_until(b'\n', &mut t).await?;
                out.extend_from_slice(&t);
                if t == b"\r\n" || t.is_empty() {
                    return Ok(());
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk).await?;
        out.extend_from_slice(&chunk);
    }
}

async fn relay(conn: TcpStream, upstream: SocketAddr, st: Arc<ProxyState>) -> std::io::Result<()> {
    let (client_read, mut client_write) = conn.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut server: Option<Upstream> = None;
    while let Some(head) = read_head(&mut client_read).await? {
        let (start, headers) = parse_head(&head);
        let mut parts = start.split(' ');
        let seen = SeenRequest {
            method: parts.next().unwrap_or_default().to_owned(),
            target: parts.next().unwrap_or_default().to_owned(),
            headers: headers.clone(),
        };
        let mut request = head.clone();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            copy_chunked(&mut client_read, &mut request).await?;
        } else {
            let mut body = vec![0; content_length(&headers).unwrap_or(0)];
            client_read.read_exact(&mut body).await?;
            request.extend_from_slice(&body);
        }
        st.seen.lock().unwrap().push(seen.clone());

        let fault = {
            let mut faults = st.faults.lock().unwrap();
            faults
                .iter_mut()
                .find(|f| f.remaining > 0 && (f.matches)(&seen))
                .map(|f| {
                    f.remaining -= 1;
                    (f.status, f.code)
                })
        };
        if let Some((status, code)) = fault {
            st.faults_served.fetch_add(1, Ordering::SeqCst);
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the test proxy</Message><RequestId>PROXY</RequestId>\
                 </Error>"
            );
            let body = if seen.method == "HEAD" { "" } else { &body };
            let answer = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\n\
                 x-oss-request-id: PROXY\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client_write.write_all(answer.as_bytes()).await?;
            continue;
        }

        let is_part = seen.is_upload_part();
        if is_part {
            let now = st.parts_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            st.peak_parts_in_flight.fetch_max(now, Ordering::SeqCst);
        }
        let result = forward(&mut server, upstream, &seen, &request).await;
        if is_part {
            let delay = *st.part_delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            st.parts_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        client_write.write_all(&result?).await?;
    }
    Ok(())
}

type Upstream = (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
);

/// Sends one request upstream (over a kept-alive connection) and returns the whole answer.
async fn forward(
    server: &mut Option<Upstream>,
    upstream: SocketAddr,
    seen: &SeenRequest,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    if server.is_none() {
        let (r, w) = TcpStream::connect(upstream).await?.into_split();
        *server = Some((BufReader::new(r), w));
    }
    let (r, w) = server.as_mut().unwrap();
    w.write_all(request).await?;
    let head = read_head(r)
        .await?
        .ok_or_else(|| std::io::Error::other("upstream closed"))?;
    let (start, headers) = parse_head(&head);
    let status: u16 = start
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut answer = head;
    let no_body = seen.method == "HEAD" || status == 204 || status == 304 || status < 200;
    if no_body {
    } else if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        copy_chunked(r, &mut answer).await?;
    } else if let Some(n) = content_length(&headers) {
        let mut body = vec![0; n];
        r.read_exact(&mut body).await?;
        answer.extend_from_slice(&body);
    } else {
        r.read_to_end(&mut answer).await?;
        *server = None;
    }
    Ok(answer)
}

/// A listener that accepts connections and never answers (for timeouts). The connections are
/// held until the listener is dropped.
pub struct SilentListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SilentListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SilentListener {
    /// Binds a free loopback port.
    pub async fn start() -> SilentListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        SilentListener { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An endpoint on a loopback port nothing listens on.
pub async fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
