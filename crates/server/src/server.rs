//! Starting and stopping a server: open the store, bind, accept connections within the
//! configured limits, and shut down without losing what was acknowledged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::http::service::{self, State};
use crate::store::{Store, StoreError};

mod connection;

use connection::{PhaseBody, Registry, Slot, TimedIo, Timeouts};

/// File descriptors kept free for blobs, the database and the listener when the connection
/// cap is derived from the process's open-file limit.
const RESERVED_FDS: u64 = 256;

/// Largest read and write buffer of one connection. hyper keeps pulling a response body until
/// this much waits for the socket, so it is what a peer that stops reading pins (beside one
/// body chunk) until the write-stall timeout drops it.
const CONNECTION_BUFFER: usize = 128 << 10;

/// Refused connections answered with `503 SlowDown` at once; beyond this they are just closed.
const REFUSALS_IN_FLIGHT: usize = 64;

/// A server that is accepting connections.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    state: Arc<State>,
    registry: Arc<Registry>,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be opened (or another server holds it).
    #[error("cannot open the data directory")]
    Store(#[from] StoreError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The server's own threads could not be started.
    #[error("cannot start the server's threads")]
    Threads(#[source] std::io::Error),
}

impl RunningServer {
    /// Opens the store (running start-up recovery), binds the address and starts serving.
    pub async fn start(mut config: ServerConfig) -> Result<RunningServer, StartError> {
        let dir = config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&dir))
            .await
            .map_err(|e| StartError::Threads(std::io::Error::other(e.to_string())))??;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        if let Some(fds) = connection::open_file_limit() {
            let fit =
                usize::try_from(fds.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
            if fit < config.limits.max_connections {
                tracing::warn!(
                    configured = config.limits.max_connections,
                    open_file_limit = fds,
                    max_connections = fit,
                    "connection limit lowered to fit the open-file limit"
                );
                config.limits.max_connections = fit;
            }
        }
        let registry = Registry::new(config.limits.max_connections);
        let state = Arc::new(State::new(config, store).map_err(StartError::Threads)?);
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state.clone(), registry.clone(), rx));
        Ok(RunningServer {
            addr,
            shutdown,
            task,
            state,
            registry,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests of each operation succeeded so far (e.g. `"UploadPart"`).
    pub fn completed_operations(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.state.completed_operations()
    }

    /// Body bytes accepted by successful PutObject and UploadPart requests so far.
    pub fn ingested_bytes(&self) -> u64 {
        self.state.ingested_bytes()
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.registry.len()
    }

    /// The store the server uses (for in-process tools and tests).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Stops accepting connections, lets requests in flight finish (closing each connection
    /// after its answer; idle ones at once) and returns when all are closed or, at the latest,
    /// after the configured `shutdown_grace`, when the remaining connections are cut.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Serves until the process receives Ctrl-C (SIGINT) or SIGTERM, then shuts down as
    /// [`shutdown`](Self::shutdown) does.
    pub async fn run_until_signal(self) {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch for SIGTERM; Ctrl-C only");
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing requests in flight");
        self.shutdown().await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = &state.config.limits;
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        .max_buf_size(CONNECTION_BUFFER)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .timer(TokioTimer::new())
        // A backstop only: the socket enforces the idle and header timeouts separately.
        .header_read_timeout(
            limits
                .idle_timeout
                .saturating_add(limits.header_read_timeout),
        );
    let http = Arc::new(http);
    let timeouts = Timeouts::from(limits);
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to be released.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = registry.admit() else {
            tracing::debug!(%peer, "connection refused: every connection is busy");
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                let answer = slow_down_answer(&state);
                tokio::spawn(async move {
                    refuse(stream, answer).await;
                    drop(permit);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            stream,
            slot,
            state.clone(),
            http.clone(),
            timeouts,
            shutdown.clone(),
        ));
    }
    drop(listener);
    let grace = state.config.limits.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !drained {
        tracing::warn!(
            connections = connections.len(),
            "shutdown deadline passed: cutting the connections still open"
        );
        connections.shutdown().await;
    }
}

/// Serves one connection until it closes, is evicted, or the server shuts down (then after
/// the request in flight, if any).
async fn serve_connection(
    stream: TcpStream,
    slot: Slot,
    state: Arc<State>,
    http: Arc<http1::Builder>,
    timeouts: Timeouts,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let conn = slot.conn.clone();
    let io = TokioIo::new(TimedIo::new(stream, conn.clone(), timeouts));
    let svc_conn = conn.clone();
    let svc = service_fn(move |req| {
        svc_conn.enter_request();
        let (state, conn) = (state.clone(), svc_conn.clone());
        async move {
            let resp = service::handle(state, req).await?;
            Ok::<_, std::convert::Infallible>(resp.map(|body| PhaseBody::wrap(body, conn)))
        }
    });
    let serving = http.serve_connection(io, svc);
    tokio::pin!(serving);
    let mut closing = *shutdown.borrow();
    if closing {
        serving.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = serving.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(?peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = conn.evicted(), if !closing => {
                if conn.is_awaiting() {
                    tracing::debug!(?peer, "idle connection closed to make room");
                    break;
                }
                closing = true;
                serving.as_mut().graceful_shutdown();
            }
            _ = shutdown.changed(), if !closing => {
                closing = true;
                serving.as_mut().graceful_shutdown();
            }
        }
    }
    drop(slot);
}

/// A complete `503 SlowDown` answer for a connection that cannot be served.
fn slow_down_answer(state: &State) -> Vec<u8> {
    let request_id = state.next_request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>SlowDown</Code>\n  \
         <Message>Please reduce your request rate.</Message>\n  <RequestId>{request_id}</RequestId>\n  \
         <HostId></HostId>\n  <EC>0000-00000000</EC>\n</Error>\n"
    );
    let date = osspart_protocol::time_fmt::http_date(time::OffsetDateTime::now_utc());
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\nDate: {date}\r\nServer: AliyunOSS\r\n\
         x-oss-request-id: {request_id}\r\nx-oss-ec: 0000-00000000\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers `503 SlowDown` and closes, spending at most a second on the peer.
async fn refuse(mut stream: TcpStream, answer: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Read what the peer already sent so closing does not reset the answer away.
        let mut scratch = [0u8; 4096];
        while stream.read(&mut scratch).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
}
