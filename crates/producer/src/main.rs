//! `producer`: sends simulated unicorn telemetry (or a replayed file) to a
//! Kinesis stream, like the Wild Rydes workshop's Go producer. The flags and
//! what the command does with them live in `producer::command`.
//!
//! Exit codes: 0 done (count, duration, end of replay, Ctrl-C or a closed
//! stdout), 1 error (unknown stream, no credentials, unreachable endpoint,
//! rejected record, bad replay line), 2 invalid flags.

use std::process::ExitCode;

use producer::command::{run, Cli};

fn main() -> ExitCode {
    let program = cli::Program::new("producer").default_log("warn");
    cli::main(program, |_: &Cli| Ok(()), run)
}
