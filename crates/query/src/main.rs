//! `wildrydes-query`: SQL over the archive (the workshop's Athena step),
//! what `wildrydes query` runs. A binary of its own because Apache DataFusion
//! is large: `wildrydes` (and `cargo run --release -p wildrydes -- demo`)
//! builds without it. The flags and the prompt live in `query::cli`.
//!
//! Exit codes: 0 done (or a closed stdout), 1 error (an archive that cannot be
//! listed, a statement that fails), 2 invalid flags.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes-query",
    version = cli::VERSION,
    about = "SQL over the wildrydes archive: the table wildrydes (as in Athena); a prompt without SQL (`wildrydes query` runs this binary)",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    query: query::cli::QueryArgs,
    #[command(flatten)]
    gen: cli::gen::GenArgs,
}

const AFTER_HELP: &str = "\
Examples:
  wildrydes query \"SELECT Name, SUM(Distance) FROM wildrydes GROUP BY Name\"        # the archive of `wildrydes up`
  wildrydes query \"SELECT * FROM wildrydes WHERE hour = 13 LIMIT 5\" --archive ./archive --format csv
  wildrydes query --archive s3://my-archive/raw/ --region eu-west-1                # a prompt over a bucket on AWS

Exit codes: 0 done, 1 error, 2 invalid flags.";

fn main() -> ExitCode {
    cli::main(
        cli::Program::new("wildrydes query"),
        |_: &Cli| Ok(()),
        |cli: Cli| async move {
            if cli.gen.handle(Cli::command())? {
                return Ok(());
            }
            query::cli::run(cli.query).await
        },
    )
}
