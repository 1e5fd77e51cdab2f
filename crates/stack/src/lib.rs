//! `stack`: the place where the stages of the local Wild Rydes pipeline are
//! wired together, behind `wildrydes up` and `wildrydes demo`.
//!
//! A [`Stack`] is the embedded Kinesis-compatible engine, the two streams of
//! the workshop (`wildrydes` and `wildrydes-summary`) and a set of *stages*:
//! tasks that talk to the engine through the AWS SDK like any other client and
//! stop when the stack stops. [`Stack::start`] adds the aggregator between the
//! two streams; [`Stack::add_demo`] adds a simulated fleet and a printer of the
//! summaries. Later pipeline stages (a DynamoDB processor, an archiver, ...)
//! join the same way, with [`Stack::add_stage`].
//!
//! When any stage ends (an error, or the printer's stdout closed), or the
//! caller's shutdown future completes, every stage is told to stop, the
//! aggregator saves its open windows, and the engine flushes its storage.
//!
//! The stack also creates the DynamoDB table `UnicornSensorData` and runs the
//! processor (summaries into items) between it and the summary stream; see
//! the `dynamo` module; the alert stage (MagicPoints below 50, onto
//! `wildrydes-alerts`), see the `alerts` module.

mod alerts;
mod archive;
mod dashboard;
mod dynamo;
mod uploads;

pub use self::archive::{ARCHIVER_STATE_FILE, ARCHIVE_INTERVAL};
pub use alerts::{ALERT_STATE_FILE, ALERT_STREAM, DEMO_LOW_MAGIC_EVERY};
pub use dashboard::DASHBOARD_CONSUMER;
pub use dynamo::PROCESSOR_STATE_FILE;
pub use uploads::{ARCHIVE_BUCKET, UPLOADS_BUCKET};

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aggregate::{AggregateError, AggregatorConfig, RunOptions, TimeMode};
use engine::{EngineError, EngineHandle};
use kinesis::client::StreamError;
use kinesis::writer::BatchWriter;
use kinesis::{ConnectError, ConnectOptions, Connection};
use producer::ProducerError;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The raw telemetry stream of the workshop.
pub const SOURCE_STREAM: &str = "wildrydes";
/// The per-window summaries written by the aggregator.
pub const SUMMARY_STREAM: &str = "wildrydes-summary";
/// The aggregator's state (open windows and source positions) in the data dir.
pub const AGGREGATOR_STATE_FILE: &str = "aggregator-state.json";

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Durable data (engine log and aggregator state); `None` keeps
    /// everything in memory.
    pub data_dir: Option<PathBuf>,
    /// The aggregator's tumbling window.
    pub window: Duration,
    /// Shards of each stream created by the stack (existing streams are kept
    /// as they are).
    pub shards: i32,
    /// Engine settings; `data_dir` is taken from the field above.
    pub engine: engine::Config,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            window: Duration::from_secs(60),
            shards: 1,
            engine: engine::Config::default(),
        }
    }
}

/// The simulated fleet and summary printer of `wildrydes demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Number of unicorns; the first ones get the workshop's names.
    pub unicorns: usize,
    /// Seed of the rides, so a demo is reproducible.
    pub seed: u64,
    /// Time between two records of one unicorn.
    pub interval: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            unicorns: 5,
            seed: 42,
            interval: Duration::from_secs(1),
        }
    }
}

/// Why the stack could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot start the kinesis engine")]
    Engine(#[source] EngineError),
    #[error("cannot use data dir {dir}; choose a writable directory with --data-dir")]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to the local engine")]
    Connect(#[source] ConnectError),
    #[error("cannot create the stream")]
    Stream(#[source] StreamError),
    #[error(
        "data dir {dir} was aggregated with {saved:?} windows, not {requested:?}; \
         start with the same --window, or use another --data-dir"
    )]
    WindowMismatch {
        dir: PathBuf,
        saved: Duration,
        requested: Duration,
    },
    #[error("the aggregator stopped")]
    Aggregate(#[source] AggregateError),
    #[error("the demo fleet stopped")]
    Fleet(#[source] ProducerError),
    #[error("printing the summaries failed")]
    Summaries(#[source] consumer::ConsumeError),
    #[error("reading the alerts failed")]
    Alerts(#[source] kinesis::ReadError),
    #[error("writing the summaries to the output failed")]
    Output(#[source] std::io::Error),
    #[error("cannot create the DynamoDB table")]
    Table(#[source] process::table::TableError),
    #[error("the processor stopped")]
    Process(#[source] process::ProcessError),
    #[error("the alert stage stopped")]
    Alert(#[source] alert::AlertError),
    #[error("the dashboard stopped")]
    Dashboard(#[source] ::dashboard::DashboardError),
    #[error("the archiver stopped")]
    Archive(#[source] ::archive::ArchiveError),
    #[error("stage {stage} failed: {detail}")]
    Task { stage: String, detail: String },
}

/// A future that completes when the stack stops.
pub type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running local stack.
pub struct Stack {
    engine: EngineHandle,
    conn: Connection,
    data_dir: Option<PathBuf>,
    window: Duration,
    stop: watch::Sender<bool>,
    stages: JoinSet<(String, Result<(), StackError>)>,
}

impl Stack {
    /// Serves the engine on `listener`, creates the two streams unless they
    /// exist, and starts the aggregator between them.
    pub async fn start(
        listener: tokio::net::TcpListener,
        options: StackOptions,
    ) -> Result<Self, StackError> {
        let state_file = options
            .data_dir
            .as_ref()
            .map(|dir| dir.join(AGGREGATOR_STATE_FILE));
        if let (Some(dir), Some(file)) = (&options.data_dir, &state_file) {
            std::fs::create_dir_all(dir).map_err(|source| StackError::DataDir {
                dir: dir.clone(),
                source,
            })?;
            check_window(dir, file, options.window)?;
        }
        let engine = engine::spawn_on(
            listener,
            engine::Config {
                data_dir: options.data_dir.clone(),
                ..options.engine
            },
        )
        .await
        .map_err(StackError::Engine)?;
        let connect = ConnectOptions {
            endpoint: Some(local_url(engine.addr())),
            ..ConnectOptions::default()
        };
        let conn = kinesis::connect(&connect)
            .await
            .map_err(StackError::Connect)?;
        for stream in [SOURCE_STREAM, SUMMARY_STREAM] {
            conn.ensure_stream(stream, options.shards.max(1))
                .await
                .map_err(StackError::Stream)?;
        }
        let (stop, _) = watch::channel(false);
        let mut stack = Stack {
            engine,
            conn,
            data_dir: options.data_dir,
            window: options.window,
            stop,
            stages: JoinSet::new(),
        };
        let processor_connect = connect.clone();
        let alert_connect = connect.clone();
        let archiver_connect = connect.clone();
        let run_options = RunOptions {
            connect,
            source: SOURCE_STREAM.into(),
            destination: SUMMARY_STREAM.into(),
            aggregation: AggregatorConfig {
                window: options.window,
                time: TimeMode::Processing,
            },
            state_file,
            start: kinesis::StartPosition::TrimHorizon,
            ..RunOptions::default()
        };
        stack.add_stage("aggregator", |stopped| async move {
            let stats = aggregate::run(run_options, stopped)
                .await
                .map_err(StackError::Aggregate)?;
            tracing::info!(
                read = stats.records_read,
                summaries = stats.summaries_written,
                open_windows = stats.open_windows,
                "aggregator stopped"
            );
            Ok(())
        });
        let data_dir = stack.data_dir.clone();
        stack
            .add_processor(processor_connect, data_dir.as_deref())
            .await?;
        stack.add_upload_loader().await?;
        stack
            .add_alerts(alert_connect, options.shards, data_dir.as_deref())
            .await?;
        stack.add_archiver(archiver_connect, data_dir.as_deref());
        Ok(stack)
    }

    /// The endpoint URL for clients on this machine, e.g.
    /// `http://127.0.0.1:4567` (also when bound to every address, 0.0.0.0).
    pub fn url(&self) -> String {
        local_url(self.engine.addr())
    }

    /// Where the data is kept (`None`: in memory).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The aggregator's window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// An SDK connection to the engine, for stages.
    pub fn connection(&self) -> Connection {
        self.conn.clone()
    }

    /// Adds a stage: `make` gets a future that completes when the stack
    /// stops, and must return soon after it does. A stage that ends by itself
    /// stops the whole stack (with its error, if it failed).
    pub fn add_stage<F, Fut>(&mut self, name: &str, make: F)
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = Result<(), StackError>> + Send + 'static,
    {
        let mut stopped = self.stop.subscribe();
        let signal: StopSignal = Box::pin(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        let stage = make(signal);
        let name = name.to_owned();
        self.stages.spawn(async move { (name, stage.await) });
    }

    /// Adds the demo: a seeded fleet writing to `wildrydes` and a printer of
    /// every new summary of `wildrydes-summary`, pretty JSON on `out`.
    pub fn add_demo<W>(&mut self, demo: DemoOptions, out: W)
    where
        W: Write + Send + 'static,
    {
        let names = producer::fleet_names(&[], demo.unicorns.max(1));
        // The items of the first unicorn, read back from the table, on stderr.
        self.add_table_printer(
            names[0].clone(),
            self.window.max(Duration::from_secs(5)),
            std::io::stderr(),
        );
        let conn = self.connection();
        self.add_stage("summary printer", |stopped| {
            print_summaries(conn, out, stopped)
        });
        self.add_alert_printer(std::io::stderr());
        let writer = BatchWriter::new(self.connection(), SOURCE_STREAM);
        self.add_stage("fleet", move |stopped| async move {
            let rides = alerts::demo_fleet(&names, demo.seed);
            let options = producer::Options {
                interval: demo.interval,
                count: None,
                duration: None,
                single_puts: false,
            };
            let mut source = producer::Source::Fleet(rides);
            producer::run(&writer, &mut source, &options, stopped, |_| {})
                .await
                .map_err(StackError::Fleet)?;
            Ok(())
        });
    }

    /// Runs until `shutdown` completes or a stage ends, then stops every
    /// stage, waits for them, and stops the engine once its storage is
    /// flushed. Returns the first stage error, if any.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), StackError> {
        let mut first_error = None;
        tokio::select! {
            () = shutdown => tracing::info!("shutting down"),
            Some(done) = self.stages.join_next() => {
                first_error = stage_result(done).err();
                if first_error.is_none() {
                    tracing::info!("a stage finished; shutting down");
                }
            }
        }
        self.stop.send_replace(true);
        while let Some(done) = self.stages.join_next().await {
            if let Err(err) = stage_result(done) {
                first_error.get_or_insert(err);
            }
        }
        let stopped = self.engine.shutdown().await.map_err(StackError::Engine);
        match first_error {
            Some(err) => Err(err),
            None => stopped,
        }
    }
}

/// The URL that reaches a server listening on `addr` from this machine: an
/// unspecified address (0.0.0.0, ::) listens on every interface, loopback
/// included, but is not an address to connect to (and clients treat only
/// loopback endpoints as local, needing no AWS credentials).
pub fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

fn stage_result(
    done: Result<(String, Result<(), StackError>), tokio::task::JoinError>,
) -> Result<(), StackError> {
    match done {
        Ok((_, Ok(()))) => Ok(()),
        Ok((stage, Err(err))) => {
            tracing::debug!(stage, "stage failed");
            Err(err)
        }
        Err(err) => Err(StackError::Task {
            stage: "unknown".into(),
            detail: err.to_string(),
        }),
    }
}

/// A data dir aggregated with another window would fail later with a
/// message about a state file the user never named: say it in `up`'s terms.
fn check_window(dir: &Path, file: &Path, window: Duration) -> Result<(), StackError> {
    match aggregate::runner::load_state(file) {
        Ok(Some(saved)) if saved.config.window != window => Err(StackError::WindowMismatch {
            dir: dir.to_owned(),
            saved: saved.config.window,
            requested: window,
        }),
        Ok(_) => Ok(()),
        Err(err) => Err(StackError::Aggregate(err)),
    }
}

/// Prints every new summary, pretty, until the stack stops or `out` closes.
async fn print_summaries<W: Write>(
    conn: Connection,
    out: W,
    stopped: StopSignal,
) -> Result<(), StackError> {
    let options = consumer::RunOptions::new(SUMMARY_STREAM, kinesis::StartPosition::Latest);
    consumer::run(conn, options, out, stopped)
        .await
        .map_err(StackError::Summaries)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::local_url;

    #[test]
    fn an_unspecified_bind_address_is_reached_through_loopback() {
        let url = |a: &str| local_url(a.parse().unwrap());
        assert_eq!(url("0.0.0.0:4567"), "http://127.0.0.1:4567");
        assert_eq!(url("[::]:4567"), "http://[::1]:4567");
        assert_eq!(url("127.0.0.1:80"), "http://127.0.0.1:80");
        assert_eq!(url("192.168.1.5:4567"), "http://192.168.1.5:4567");
    }
}
