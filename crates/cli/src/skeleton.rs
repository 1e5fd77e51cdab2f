//! The `main` every binary shares.

use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use crate::goflags;

/// What differs between the binaries' `main`s.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// The prefix of the error line (`consumer: cannot ...`).
    pub name: &'static str,
    /// The log filter when `RUST_LOG` is not set.
    pub default_log: &'static str,
    /// How long the runtime waits for tasks still running at the end.
    pub shutdown_grace: Duration,
}

impl Program {
    pub const fn new(name: &'static str) -> Self {
        Program {
            name,
            // object_store logs each retry at info: its final error is ours.
            default_log: "info,object_store=warn",
            shutdown_grace: Duration::from_millis(200),
        }
    }

    pub const fn default_log(mut self, filter: &'static str) -> Self {
        self.default_log = filter;
        self
    }

    pub const fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// Every long flag of `cmd` and its subcommands (and their aliases), for the
/// Go-style rewrite.
fn long_flags(cmd: &clap::Command) -> Vec<String> {
    let mut names = vec!["help".to_owned(), "version".to_owned()];
    let mut stack = vec![cmd];
    while let Some(cmd) = stack.pop() {
        for arg in cmd.get_arguments() {
            names.extend(arg.get_long().map(str::to_owned));
            names.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned),
            );
        }
        stack.extend(cmd.get_subcommands());
    }
    names
}

/// Parses Go-style or GNU-style flags into `C` (without exiting).
pub fn parse<C: clap::Parser>(args: impl IntoIterator<Item = OsString>) -> Result<C, clap::Error> {
    let mut cmd = C::command().version(crate::VERSION);
    let args = goflags::rewrite(args, &long_flags(&cmd));
    let matches = cmd.try_get_matches_from_mut(args)?;
    C::from_arg_matches(&matches).map_err(|err| err.format(&mut cmd))
}

/// The whole life of a binary: parses the command line into `C` (Go-style
/// flags too) and checks it with `check` (cross-flag rules; clap's errors
/// exit 2), sets up tracing on stderr, runs `body` on a multi-threaded
/// runtime and turns its result into the exit code with [`report`].
///
/// With `WILDRYDES_PARSE_ONLY` set it stops after parsing (the README test).
pub fn main<C, F, Fut>(
    program: Program,
    check: impl FnOnce(&C) -> Result<(), clap::Error>,
    body: F,
) -> ExitCode
where
    C: clap::Parser,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let parsed = parse::<C>(std::env::args_os()).and_then(|cli| check(&cli).map(|()| cli));
    let cli = match parsed {
        Ok(_) if goflags::parse_only() => return ExitCode::SUCCESS,
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(program.default_log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("{}: cannot start the async runtime: {err}", program.name);
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(body(cli));
    // Tasks may be waiting on the network: do not wait for them long.
    runtime.shutdown_timeout(program.shutdown_grace);
    report(program.name, result)
}

fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .init();
}

/// 0 for success or a closed stdout (`| head`), else the error and its
/// causes on one line of stderr (`name: what: why`) and 1.
pub fn report(name: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {}", chain_text(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, each said once: a cause whose
/// text the line already holds (an error whose message quotes its source,
/// `"reading the stream failed: {0}"` or `"checkpoint is corrupt ({0}); fix
/// it"`) is not repeated.
pub fn chain_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, clap::Parser)]
    struct Demo {
        #[arg(long)]
        name: Option<String>,
        #[command(subcommand)]
        command: Option<Sub>,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        Run {
            #[arg(long, visible_alias = "caught-up")]
            until_caught_up: bool,
            #[arg(long)]
            x: Option<u8>,
        },
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn go_style_flags_reach_subcommands_and_aliases() {
        let demo: Demo = parse(args(&[
            "demo",
            "-name",
            "X",
            "run",
            "-caught-up",
            "-x",
            "3",
        ]))
        .unwrap();
        assert_eq!(demo.name.as_deref(), Some("X"));
        assert!(matches!(
            demo.command,
            Some(Sub::Run {
                until_caught_up: true,
                x: Some(3)
            })
        ));
    }

    #[test]
    fn version_names_the_commit() {
        let err = parse::<Demo>(args(&["demo", "--version"])).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        let text = err.to_string();
        assert!(text.contains(crate::VERSION), "{text}");
        assert!(crate::VERSION.contains("commit"), "{}", crate::VERSION);
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("reading the source stream failed: {0}")]
        Quoting(#[source] Inner),
        #[error("reading the source stream failed")]
        Plain(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("stream \"wildrydes\" not found")]
    struct Inner(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("checkpoint is corrupt ({0}); fix or delete it")]
    struct Corrupt(#[source] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let inner = || Inner(std::io::Error::other("status 400"));
        let quoting = anyhow::Error::new(Outer::Quoting(inner())).context("archive");
        let plain = anyhow::Error::new(Outer::Plain(inner())).context("archive");
        let expected =
            "archive: reading the source stream failed: stream \"wildrydes\" not found: status 400";
        assert_eq!(chain_text(&quoting), expected);
        assert_eq!(chain_text(&plain), expected);
        // Quoted inside the message, not at its end.
        let corrupt = anyhow::Error::new(Corrupt(std::io::Error::other("EOF at line 2")));
        assert_eq!(
            chain_text(&corrupt),
            "checkpoint is corrupt (EOF at line 2); fix or delete it"
        );
        // Texts the line does not hold yet are all kept.
        let err = anyhow::anyhow!("status 404").context("no such key in bucket b");
        assert_eq!(chain_text(&err), "no such key in bucket b: status 404");
    }

    #[test]
    fn a_closed_stdout_is_success_and_other_errors_are_failures() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let closed: anyhow::Result<()> = Err(pipe).context("writing to stdout");
        assert_eq!(report("t", closed), ExitCode::SUCCESS);
        let other: anyhow::Result<()> = Err(anyhow::anyhow!("no such stream"));
        assert_eq!(report("t", other), ExitCode::FAILURE);
    }
}
