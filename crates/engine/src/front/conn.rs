//! Serving connections: HTTP/1.1 and h2c (prior knowledge) on one listener,
//! with the bounds that keep a hostile or broken client from wearing the
//! engine down.
//!
//! - At most `max_connections` connections are served at once; the next ones
//!   wait in the listen backlog (they are not accepted) until one closes.
//! - A connection that starts a request and does not finish sending its
//!   headers within `header_timeout` is closed (slowloris). The clock starts
//!   at the first byte received while no request is in flight.
//! - A connection with no request in flight for `idle_timeout` is closed
//!   (gracefully: an HTTP/2 client gets a GOAWAY).
//! - While a request is in flight nothing here cuts the connection: reading
//!   the request body is bounded by the front's body timeout, and a response
//!   may stream as long as it likes (SubscribeToShard).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Connection bounds (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
}

/// Concurrent streams one HTTP/2 connection may open.
const H2_MAX_STREAMS: u32 = 128;

/// How long a connection closed for idleness may take to finish closing.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting, asks every connection to finish gracefully and waits for them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (closing, closing_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(H2_MAX_STREAMS);
    let builder = Arc::new(builder);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        // Take a slot before accepting: over the limit, clients wait in the
        // backlog instead of holding a socket here.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        conns.spawn(serve_one(
            builder.clone(),
            stream,
            router.clone(),
            limits,
            closing_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    closing.send_replace(true);
    while conns.join_next().await.is_some() {}
}

/// Errors of `accept` concern one connection (reset before it was accepted)
/// or are a shortage (no file descriptors left): never fatal; wait a little
/// on a shortage so that the loop does not spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn serve_one(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    router: Router,
    limits: ConnLimits,
    mut closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let service = Tracked {
        router,
        state: state.clone(),
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut hard_stop: Option<Instant> = None;
    let mut draining = false;
    loop {
        let deadline = state.deadline(&limits);
        let wake_at = match (deadline, hard_stop) {
            (Some((at, _)), Some(stop)) => Some(at.min(stop)),
            (Some((at, _)), None) => Some(at),
            (None, stop) => stop,
        };
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = closing.wait_for(|c| *c), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = state.wake.notified() => {}
            () = sleep_until(wake_at), if wake_at.is_some() => {
                let now = Instant::now();
                if hard_stop.is_some_and(|stop| stop <= now) {
                    tracing::debug!("connection did not close in time; dropping it");
                    return;
                }
                match state.deadline(&limits) {
                    Some((at, Phase::Headers)) if at <= now => {
                        tracing::debug!(
                            timeout = ?limits.header_timeout,
                            "closing a connection: request headers not received in time"
                        );
                        return;
                    }
                    Some((at, Phase::Idle)) if at <= now && !draining => {
                        tracing::debug!(timeout = ?limits.idle_timeout, "closing an idle connection");
                        conn.as_mut().graceful_shutdown();
                        draining = true;
                        hard_stop = Some(now + CLOSE_GRACE);
                    }
                    _ => {}
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a connection with no request in flight is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing received since the last request: the idle timeout runs.
    Idle,
    /// Bytes of a request arrived, its headers are not complete yet.
    Headers,
}

/// What the watchdog of one connection knows about it.
struct ConnState {
    inner: Mutex<Inner>,
    wake: Notify,
}

struct Inner {
    /// Requests whose response is not completely sent yet.
    active: usize,
    /// When the last request finished (or the connection was accepted).
    idle_since: Instant,
    /// When the first byte of a request arrived, while its headers are read.
    headers_since: Option<Instant>,
    /// Requests started on this connection.
    requests: u64,
    /// HTTP/2 (decided on the first bytes received).
    h2: Option<bool>,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            inner: Mutex::new(Inner {
                active: 0,
                idle_since: Instant::now(),
                headers_since: None,
                requests: 0,
                h2: None,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the connection is to be closed, and why; `None` while a request
    /// is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, Phase)> {
        let inner = self.lock();
        if inner.active > 0 {
            return None;
        }
        let (since, timeout, phase) = match inner.headers_since {
            Some(since) => (since, limits.header_timeout, Phase::Headers),
            None => (inner.idle_since, limits.idle_timeout, Phase::Idle),
        };
        // A timeout too large to represent never expires.
        since.checked_add(timeout).map(|at| (at, phase))
    }

    /// Bytes arrived: between requests they start a request's headers. On
    /// HTTP/2, frames between requests (pings, window updates) are not
    /// headers, and a request's headers arrive in one frame: only the
    /// connection preface is timed.
    fn received(&self, first_bytes: &[u8]) {
        let mut inner = self.lock();
        let h2 = *inner
            .h2
            .get_or_insert_with(|| first_bytes.starts_with(b"PRI * HTTP/2.0"));
        if inner.active == 0 && inner.headers_since.is_none() && !(h2 && inner.requests > 0) {
            inner.headers_since = Some(Instant::now());
            drop(inner);
            self.wake.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut inner = self.lock();
        inner.active += 1;
        inner.requests += 1;
        inner.headers_since = None;
        drop(inner);
        self.wake.notify_one();
        RequestGuard(self.clone())
    }
}

/// Marks a request finished when its response is completely sent (or
/// abandoned).
struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.active = inner.active.saturating_sub(1);
        if inner.active == 0 {
            inner.idle_since = Instant::now();
        }
        drop(inner);
        self.0.wake.notify_one();
    }
}

/// The connection's socket, telling the watchdog when bytes arrive.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.received(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The router as a hyper service, counting requests in flight until their
/// response body is completely sent.
#[derive(Clone)]
struct Tracked {
    router: Router,
    state: Arc<ConnState>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = self.state.request_started();
        let mut router = self.router.clone();
        Box::pin(async move {
            let resp = tower_service::Service::call(&mut router, req).await?;
            Ok(resp.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// A response body that holds its request's guard until it is sent.
struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
