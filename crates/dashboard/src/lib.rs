//! The live map of the Wild Rydes fleet (the workshop's first module, without
//! its Cognito pool): a small web server that reads `wildrydes`,
//! `wildrydes-summary` and `wildrydes-alerts` with the shared Kinesis reader
//! and pushes every batch to browsers as server-sent events, and the page it
//! serves (embedded in the binary, with Leaflet): a marker per unicorn
//! moving each second with its recent trail, its MagicPoints and
//! HealthPoints (coloured when low), the latest per-minute summaries and the
//! alerts as they arrive (highlighted marker and a list).
//!
//! The browser only ever talks to this server: AWS credentials stay on the
//! server, which reads the streams with the standard credential chain.
//!
//! Routes: `GET /` (the page), `GET /events` (`text/event-stream`: a
//! `snapshot` event on connect, then `positions`, `summaries` and `alerts`
//! events), `GET /snapshot.json`, and the page's files. See [`hub`] for how
//! a slow browser is kept from slowing the others.

pub mod browser;
pub mod feed;
pub mod hub;
pub mod page;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use kinesis::{ConnectError, ConnectOptions};
use tokio::sync::broadcast::error::RecvError;

pub use feed::{FeedError, FeedOptions};
pub use hub::{Hub, HubConfig, Position};
pub use page::{PageConfig, Tiles, OSM_TILES};

/// Everything a dashboard server needs.
#[derive(Debug, Clone, Default)]
pub struct DashboardOptions {
    /// Region and endpoint of the streams (`--region`, `--endpoint`).
    pub connect: ConnectOptions,
    pub feed: FeedOptions,
    /// `--tiles`.
    pub tiles: Tiles,
    pub hub: HubConfig,
}

/// Why the dashboard could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot connect to kinesis: {0}")]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("the dashboard's web server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("a stream reader of the dashboard stopped: {0}")]
    Stopped(String),
}

#[derive(Clone)]
struct App {
    hub: Arc<Hub>,
    page: Arc<str>,
}

/// The routes of the dashboard over `hub`.
pub fn router(hub: Arc<Hub>, config: &PageConfig) -> Router {
    let app = App {
        hub,
        page: page::index(config).into(),
    };
    Router::new()
        .route("/", get(index))
        .route("/events", get(events))
        .route("/snapshot.json", get(snapshot))
        .route("/{*path}", get(asset))
        .with_state(app)
}

async fn index(State(app): State<App>) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(app.page.to_string()),
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    page::asset_response(&path)
}

async fn snapshot(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        app.hub.snapshot_json(),
    )
        .into_response()
}

/// How often an idle event stream gets a comment line (keeps proxies and
/// the browser from closing it).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

async fn events(State(app): State<App>) -> Response {
    let stream = event_stream(app.hub);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One browser's events: a reconnection delay, the snapshot, then every
/// event; a fresh snapshot when it fell behind; ends when the hub closes.
fn event_stream(hub: Arc<Hub>) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    struct Client {
        hub: Arc<Hub>,
        receiver: tokio::sync::broadcast::Receiver<Bytes>,
        closed: tokio::sync::watch::Receiver<bool>,
        pending: Vec<Bytes>,
        ping: tokio::time::Interval,
        _counted: hub::ClientGuard,
    }
    let (snapshot, receiver) = hub.subscribe();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let client = Client {
        closed: hub.closed(),
        receiver,
        // Sent last first: the reconnection delay, then the snapshot.
        pending: vec![snapshot, Bytes::from_static(b"retry: 1000\n\n")],
        ping,
        _counted: hub.client_guard(),
        hub,
    };
    futures_util::stream::unfold(client, |mut c| async move {
        if let Some(next) = c.pending.pop() {
            return Some((Ok(next), c));
        }
        let next = tokio::select! {
            event = c.receiver.recv() => match event {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => {
                    c.hub.count_resync();
                    let (snapshot, fresh) = c.hub.subscribe();
                    c.receiver = fresh;
                    snapshot
                }
                Err(RecvError::Closed) => return None,
            },
            _ = c.closed.wait_for(|closed| *closed) => return None,
            _ = c.ping.tick() => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok(next), c))
    })
}

/// A dashboard server whose feeds are running.
pub struct Dashboard {
    hub: Arc<Hub>,
    router: Router,
    feeds: tokio::task::JoinSet<Result<(), FeedError>>,
}

impl Dashboard {
    /// Connects to the streams and starts reading them.
    pub async fn start(options: DashboardOptions) -> Result<Self, DashboardError> {
        let conn = kinesis::connect(&options.connect).await?;
        let hub = Arc::new(Hub::new(options.hub));
        let feeds = feed::start(&conn, &hub, &options.feed).await?;
        let config = PageConfig::new(
            &options.tiles,
            options.feed.threshold,
            [
                options.feed.raw.clone(),
                options.feed.summaries.clone(),
                options.feed.alerts.clone(),
            ],
        );
        let router = router(hub.clone(), &config);
        Ok(Self { hub, router, feeds })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Serves the page on `listener` until `shutdown` completes or a feed
    /// fails; open event streams are ended so that the server stops at once.
    pub async fn serve(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DashboardError> {
        let hub = self.hub.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, self.router).with_graceful_shutdown(async move {
            let _ = stopped.await;
            hub.close();
        });
        let server = tokio::spawn(async move { server.await });
        let failed = tokio::select! {
            () = shutdown => None,
            Some(done) = self.feeds.join_next() => match done {
                Ok(Err(err)) => Some(err.into()),
                Ok(Ok(())) => None,
                Err(err) => Some(DashboardError::Stopped(err.to_string())),
            },
        };
        let _ = stop.send(());
        self.feeds.shutdown().await;
        match server.await {
            Ok(Err(err)) => return Err(DashboardError::Serve(err)),
            Err(err) => return Err(DashboardError::Serve(std::io::Error::other(err))),
            Ok(Ok(())) => {}
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use futures_util::StreamExt;

    async fn next(
        stream: &mut (impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Unpin),
    ) -> String {
        let bytes = stream.next().await.expect("an event").expect("infallible");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_browser_that_falls_behind_gets_a_fresh_snapshot_and_goes_on() {
        let hub = Arc::new(Hub::new(HubConfig {
            buffer: 2,
            ..HubConfig::default()
        }));
        let position = |lat: f64, at: i64| vec![Position("A".into(), lat, -73.9, 150, 150, at)];
        hub.positions(position(40.0, 1));
        let mut stream = Box::pin(event_stream(hub.clone()));
        assert_eq!(next(&mut stream).await, "retry: 1000\n\n");
        let snapshot = next(&mut stream).await;
        assert!(
            snapshot.starts_with("event: snapshot\ndata: {\"unicorns\":[[[\"A\",40.0,"),
            "{snapshot}"
        );
        assert_eq!(hub.stats().clients.load(Ordering::Relaxed), 1);
        // Five events while this browser reads none: its buffer holds two.
        for i in 1..=5 {
            hub.positions(position(40.0 + f64::from(i), i64::from(i) + 1));
        }
        // It is brought up to date with the latest state, not the lost events.
        let snapshot = next(&mut stream).await;
        assert!(
            snapshot.starts_with("event: snapshot\ndata: {\"unicorns\":[[[\"A\",45.0,"),
            "{snapshot}"
        );
        assert_eq!(hub.stats().resyncs.load(Ordering::Relaxed), 1);
        hub.positions(position(46.0, 7));
        assert_eq!(
            next(&mut stream).await,
            "event: positions\ndata: [[\"A\",46.0,-73.9,150,150,7]]\n\n"
        );
        hub.close();
        assert!(
            stream.next().await.is_none(),
            "the stream ends when the hub closes"
        );
        drop(stream);
        assert_eq!(hub.stats().clients.load(Ordering::Relaxed), 0);
    }
}
