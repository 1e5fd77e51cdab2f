//! `wildrydes query "SQL" [--archive s3://BUCKET/PREFIX | DIR] [--format table|json|csv]
//! [--endpoint URL] [--region R]`, and the interactive prompt without SQL.
//!
//! Without `--archive` it queries the archive of a running `wildrydes up`:
//! `s3://wildrydes-data/` at `--endpoint`, else `AWS_ENDPOINT_URL_S3` /
//! `AWS_ENDPOINT_URL`, else `http://127.0.0.1:4567`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use archive::{Location, S3Options, Store};
use clap::{Args, ValueEnum};

use object_store::ObjectStore;

use crate::{write_stream, CountingStore, OutputFormat, Session};

/// The bucket `wildrydes up` archives the stream into.
pub const LOCAL_ARCHIVE: &str = "s3://wildrydes-data/";
/// Where `wildrydes up` listens by default.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:4567";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// An aligned table (the default on a terminal).
    Table,
    /// JSON lines (the default in a pipe).
    Json,
    /// CSV with a header.
    Csv,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// One SQL statement over the table `wildrydes`; without it, a prompt
    /// reads statements (ending in `;`) from stdin.
    #[arg(value_name = "SQL")]
    pub sql: Option<String>,
    /// The archive: s3://BUCKET/PREFIX or a directory [default: s3://wildrydes-data/
    /// of the local stack, `wildrydes up`]
    #[arg(long, value_name = "LOCATION")]
    pub archive: Option<String>,
    /// Output: table, json (lines) or csv [default: table on a terminal, else json]
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// S3 endpoint, e.g. http://127.0.0.1:4567 [default: AWS_ENDPOINT_URL_S3,
    /// AWS_ENDPOINT_URL, else AWS; without --archive, else the local stack's]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    pub region: Option<String>,
    /// After each statement, print on stderr one JSON line with its figures:
    /// rows, seconds (opening the archive included, for the first),
    /// open_seconds, and the objects read (what partition filters saved)
    #[arg(long)]
    pub stats: bool,
}

/// What `--stats` measures.
struct Stats {
    counting: Arc<CountingStore>,
    started: Instant,
    open_seconds: f64,
    /// Whether a statement began already (the first one's time includes
    /// opening the archive).
    begun: bool,
}

impl Stats {
    /// A statement begins: the figures start from zero, except for the
    /// first statement, which began with opening the archive.
    fn begin(&mut self) {
        if std::mem::replace(&mut self.begun, true) {
            self.counting.reset();
            self.started = Instant::now();
            self.open_seconds = 0.0;
        }
    }

    /// Prints the figures of the statement that ended with `rows`.
    fn print(&self, rows: u64) {
        let line = serde_json::json!({
            "rows": rows,
            "seconds": self.started.elapsed().as_secs_f64(),
            "open_seconds": self.open_seconds,
            "objects_read": self.counting.reads().len(),
        });
        eprintln!("{line}");
    }
}

fn env_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

/// Runs `wildrydes query`.
pub async fn run(args: QueryArgs) -> Result<()> {
    let (location, endpoint) = match &args.archive {
        Some(text) => (Location::parse(text)?, args.endpoint.clone()),
        None => (
            Location::parse(LOCAL_ARCHIVE)?,
            Some(
                args.endpoint
                    .clone()
                    .or_else(env_endpoint)
                    .unwrap_or_else(|| LOCAL_ENDPOINT.to_owned()),
            ),
        ),
    };
    let s3 = S3Options {
        region: args.region.clone(),
        endpoint: endpoint.clone(),
    };
    let store = Store::open(&location, &s3).await?;
    let where_ = match (&location, &endpoint) {
        (Location::S3 { .. }, Some(e)) => format!("{location} at {e}"),
        _ => location.to_string(),
    };
    let started = Instant::now();
    let counting = args
        .stats
        .then(|| Arc::new(CountingStore::new(store.store.clone())));
    let object_store: Arc<dyn ObjectStore> = match &counting {
        Some(counting) => counting.clone(),
        None => store.store.clone(),
    };
    let session = Session::open(object_store, store.prefix.clone())
        .await
        .with_context(|| {
            let hint = if args.archive.is_none() {
                " (is `wildrydes up` running? or name one with --archive)"
            } else {
                ""
            };
            format!("cannot open the archive {where_}{hint}")
        })?;
    let inventory = session.inventory();
    let kinds: Vec<String> = inventory
        .objects
        .iter()
        .map(|(kind, n)| format!("{n} {kind:?}"))
        .collect();
    tracing::debug!(archive = %where_, objects = ?kinds, bytes = inventory.bytes, "archive opened");
    if inventory.objects.is_empty() {
        eprintln!("query: the archive {where_} holds no objects yet: the table is empty");
    }
    let stdout_tty = std::io::stdout().is_terminal();
    let format = match args.format {
        Some(FormatArg::Table) => OutputFormat::Table,
        Some(FormatArg::Json) => OutputFormat::Json,
        Some(FormatArg::Csv) => OutputFormat::Csv,
        None if stdout_tty => OutputFormat::Table,
        None => OutputFormat::Json,
    };
    let mut stats = counting.map(|counting| Stats {
        counting,
        open_seconds: started.elapsed().as_secs_f64(),
        started,
        begun: false,
    });
    match args.sql {
        Some(sql) => run_one(&session, &sql, format, stats.as_mut()).await,
        None => prompt(&session, format, &where_, stats.as_mut()).await,
    }
}

async fn run_one(
    session: &Session,
    sql: &str,
    format: OutputFormat,
    mut stats: Option<&mut Stats>,
) -> Result<()> {
    if let Some(stats) = stats.as_deref_mut() {
        stats.begin();
    }
    let stream = session.stream(sql).await?;
    let mut out = std::io::stdout().lock();
    let rows = match write_stream(stream, format, &mut out).await {
        Err(crate::QueryError::Output(e)) if is_broken_pipe(e.as_ref()) => return Ok(()),
        other => other?,
    };
    if let Some(stats) = stats {
        stats.print(rows);
    }
    Ok(())
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        if c.to_string().contains("Broken pipe") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Statements from stdin, each ending in `;` (or at the end of input);
/// `\q`, `quit` or `exit` leaves. An error is printed and the prompt goes on.
async fn prompt(
    session: &Session,
    format: OutputFormat,
    where_: &str,
    mut stats: Option<&mut Stats>,
) -> Result<()> {
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!(
            "wildrydes query: table {} over {where_}; statements end with ';', \\q leaves.",
            crate::TABLE
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    // Lines are read on a thread of their own: stdin blocks.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let ask = |continued: bool| {
        if tty {
            eprint!(
                "{}",
                if continued {
                    "      -> "
                } else {
                    "wildrydes> "
                }
            );
            let _ = std::io::stderr().flush();
        }
    };
    let mut statement = String::new();
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    ask(false);
    loop {
        let line = rx.recv().await;
        let done = line.is_none();
        if let Some(line) = &line {
            let word = line.trim();
            if statement.is_empty() && matches!(word, "\\q" | "quit" | "exit" | "quit;" | "exit;") {
                break;
            }
            statement.push_str(line);
            statement.push('\n');
        }
        let complete = done || statement.trim_end().ends_with(';');
        if complete && !statement.trim().trim_end_matches(';').trim().is_empty() {
            if let Err(err) = run_one(session, statement.trim(), format, stats.as_deref_mut()).await
            {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                eprintln!("error: {}", cli::chain_text(&err));
            }
            statement.clear();
        } else if complete {
            statement.clear();
        }
        if done {
            break;
        }
        ask(!statement.is_empty());
    }
    if tty {
        eprintln!();
    }
    if !tty && failed.load(std::sync::atomic::Ordering::Relaxed) {
        anyhow::bail!("a statement failed");
    }
    Ok(())
}
