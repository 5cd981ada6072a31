//! The HTTP server under the router: accepting connections within bounds, and stopping
//! gracefully.
//!
//! Every connection is bounded in time while it is not being served:
//! * idle (no request in flight and no byte of the next one): closed after
//!   `server.keep_alive_timeout_secs`;
//! * a request head (from its first byte until the blank line): closed after
//!   `server.header_read_timeout_secs`;
//! * a request body is read by the `read_body` layer within `server.body_read_timeout_secs`.
//!
//! At most `server.max_connections` are open at once. When a new connection comes at the cap,
//! the longest-idle connection (one with no request in flight: idle, or still sending its head)
//! is closed to make room, so thousands of half-open connections cannot keep a person from
//! being served. The cap is kept below the process's file descriptor limit, which is raised to
//! its hard limit at start.
//!
//! On SIGTERM or SIGINT the listener is closed (new connections are refused), idle and
//! half-open connections are closed, requests in flight are finished, and whatever is still
//! running when `server.shutdown_grace_secs` have passed is cut off.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

/// The bounds of the server, from `[server]` in the configuration.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// How a stop went, for the log line at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stopped {
    /// Connections that finished their requests within the grace period.
    pub finished: usize,
    /// Connections still busy when the grace period ran out, and cut off.
    pub cut_off: usize,
}

/// Times of one connection, shared by its task, its IO and its requests. Milliseconds since
/// the server's start (`epoch`); 0 is "not set".
struct ConnState {
    epoch: Instant,
    /// Requests whose response has not been sent whole.
    busy: AtomicU32,
    /// When the connection last finished a response (or was accepted).
    idle_since: AtomicU64,
    /// When the first byte of a request head arrived, while not busy.
    head_since: AtomicU64,
    /// Tells the connection's task that a head started or that it must close.
    wake: Notify,
    /// Set by the accept loop to make room: close at once when not busy.
    evict: std::sync::atomic::AtomicBool,
}

impl ConnState {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// Marks a request in flight until it and its response body are done.
struct Busy(Arc<ConnState>);

impl Busy {
    fn start(c: &Arc<ConnState>) -> Busy {
        c.busy.fetch_add(1, Ordering::SeqCst);
        c.head_since.store(0, Ordering::SeqCst);
        Busy(c.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.idle_since.store(now, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

/// A response body that keeps its request marked busy until it has been sent.
struct TrackedBody {
    inner: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when the first byte of a request head arrives.
struct Watched {
    stream: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let s = &self.state;
            if s.busy.load(Ordering::SeqCst) == 0 && s.head_since.load(Ordering::SeqCst) == 0 {
                s.head_since.store(s.now(), Ordering::SeqCst);
                s.wake.notify_one();
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The open connections, for making room at the cap.
#[derive(Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Arc<ConnState>>,
}

impl Registry {
    /// Asks the connection idle the longest (not busy) to close; false when all are busy.
    fn evict_one(&self) -> bool {
        let victim = self
            .open
            .values()
            .filter(|c| c.busy.load(Ordering::SeqCst) == 0 && !c.evict.load(Ordering::SeqCst))
            .min_by_key(|c| {
                let head = c.head_since.load(Ordering::SeqCst);
                if head > 0 {
                    head
                } else {
                    c.idle_since.load(Ordering::SeqCst)
                }
            });
        match victim {
            Some(c) => {
                c.evict.store(true, Ordering::SeqCst);
                c.wake.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Raises the soft limit of open files to the hard limit and returns the number of
/// connections that fit below it (leaving room for the database, files and the renderer).
pub fn connection_room(wanted: usize) -> usize {
    const RESERVE: u64 = 256;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024),
    };
    let room = usize::try_from(limit.saturating_sub(RESERVE).max(16)).unwrap_or(usize::MAX);
    wanted.min(room)
}

/// Serves `router` on `listener` until `stop` resolves, then stops gracefully.
pub async fn run(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    stop: impl std::future::Future<Output = ()>,
) -> Stopped {
    let epoch = Instant::now();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors (or another transient failure): make room and
                        // take a breath, as a server must rather than spin.
                        if let Ok(r) = registry.lock() {
                            r.evict_one();
                        }
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                while tasks.try_join_next().is_some() {}
                let state = Arc::new(ConnState {
                    epoch,
                    busy: AtomicU32::new(0),
                    idle_since: AtomicU64::new(0),
                    head_since: AtomicU64::new(0),
                    wake: Notify::new(),
                    evict: std::sync::atomic::AtomicBool::new(false),
                });
                state.idle_since.store(state.now(), Ordering::SeqCst);
                let id = {
                    let Ok(mut r) = registry.lock() else { continue };
                    if r.open.len() >= limits.max_connections && !r.evict_one() {
                        // Every connection is serving a request: refuse this one.
                        drop(stream);
                        continue;
                    }
                    r.next += 1;
                    let id = r.next;
                    r.open.insert(id, state.clone());
                    id
                };
                let router = router.clone();
                let limits = limits.clone();
                let registry = registry.clone();
                let shutdown = shutdown_rx.clone();
                tasks.spawn(async move {
                    serve_connection(stream, addr, router, &limits, state, shutdown).await;
                    if let Ok(mut r) = registry.lock() {
                        r.open.remove(&id);
                    }
                });
            }
        }
    }
    // Stop accepting: the port is closed, so new connections are refused at once.
    drop(listener);
    let _ = shutdown_tx.send(true);
    let open = tasks.len();
    let deadline = tokio::time::Instant::now() + limits.shutdown_grace;
    let mut stopped = Stopped::default();
    while !tasks.is_empty() {
        tokio::select! {
            _ = tasks.join_next() => stopped.finished += 1,
            () = tokio::time::sleep_until(deadline) => {
                stopped.cut_off = tasks.len();
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    stopped.finished = open - stopped.cut_off;
    stopped
}

async fn serve_connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    limits: &ServerLimits,
    state: Arc<ConnState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Watched {
        stream,
        state: state.clone(),
    });
    let svc_state = state.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::start(&svc_state);
        req.extensions_mut().insert(ConnectInfo(addr));
        let router = router.clone();
        async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody { inner, _busy: busy }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's own head timer also runs while idle; ours are the finer ones, this a backstop.
        .header_read_timeout(limits.keep_alive_timeout + limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    if *shutdown.borrow() {
        return;
    }
    let header_ms = u64::try_from(limits.header_read_timeout.as_millis()).unwrap_or(u64::MAX);
    let idle_ms = u64::try_from(limits.keep_alive_timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        let busy = state.busy.load(Ordering::SeqCst) > 0;
        if !busy && state.evict.load(Ordering::SeqCst) {
            return;
        }
        // When the connection must close unless something happens first.
        let due = if busy {
            None
        } else {
            let head = state.head_since.load(Ordering::SeqCst);
            Some(if head > 0 {
                head.saturating_add(header_ms)
            } else {
                state
                    .idle_since
                    .load(Ordering::SeqCst)
                    .saturating_add(idle_ms)
            })
        };
        let now = state.now();
        if let Some(due) = due
            && now >= due
        {
            return;
        }
        let sleep = due.map_or(Duration::from_secs(3600), |due| {
            Duration::from_millis(due - now)
        });
        tokio::select! {
            _ = conn.as_mut() => return,
            () = state.wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {
                if state.busy.load(Ordering::SeqCst) > 0 {
                    // Finish the request in flight and its response, then close (no
                    // keep-alive). The grace period bounds the wait from outside.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
                // An idle or half-open connection is simply closed.
                return;
            }
        }
    }
}
