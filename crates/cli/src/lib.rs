//! `cli`: what every wildrydes binary shares, so that each `main.rs` only
//! parses and dispatches.
//!
//! - [`goflags`]: Go `flag` syntax (`-name X`, `-stream=X`) on top of clap and
//!   the value parsers the binaries share (stream names, durations, rates);
//! - [`main`]: the one `main` skeleton — Go-flag rewrite, clap, tracing to
//!   stderr, the async runtime, the error chain printed once, a closed stdout
//!   mapped to success and the documented exit codes;
//! - [`AwsArgs`]: the `--region` / `--endpoint` flags; [`shutdown_signal`]:
//!   Ctrl-C or SIGTERM;
//! - [`gen`]: shell completions and man pages generated from the clap
//!   definitions; [`VERSION`] names the git commit.
//!
//! Exit codes, the same for every binary: 0 done, 1 error, 2 invalid flags
//! (clap's usage error).

pub mod gen;
pub mod goflags;
mod signal;
mod skeleton;

pub use goflags::{duration, positive_duration};
pub use signal::shutdown_signal;
pub use skeleton::{chain_text, main, parse, report, Program};

/// `--version` of every binary: the package version and the git commit it
/// was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("WILDRYDES_COMMIT"),
    ")"
);

/// The AWS flags of every command that talks to AWS or to the local engine.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    pub region: Option<String>,
    /// AWS-compatible endpoint, e.g. http://127.0.0.1:4567 (`wildrydes up`) [default: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}
