//! `wildrydes query`: runs `wildrydes-query` (SQL over the archive with
//! Apache DataFusion, a binary of its own so that `wildrydes` builds without
//! it) with the same arguments, found beside this `wildrydes` or on the PATH.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// The binary `wildrydes query` runs.
pub(crate) const QUERY_BIN: &str = "wildrydes-query";

#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct QueryArgs {
    /// "SQL" [--archive s3://BUCKET/PREFIX | DIR] [--format table|json|csv]
    /// [--stats] [--endpoint URL] [--region R]: `wildrydes query --help` tells more
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<OsString>,
}

/// `wildrydes-query` beside the running binary, else on the PATH.
fn find() -> Option<PathBuf> {
    let file = format!("{QUERY_BIN}{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&file)));
    beside.filter(|path| path.is_file()).or_else(|| {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&file))
            .find(|path| path.is_file())
    })
}

/// Runs `wildrydes-query` in place of this process (Unix) or as a child
/// whose exit code becomes ours.
pub(crate) fn run(args: QueryArgs) -> Result<()> {
    let bin = find().with_context(|| {
        format!(
            "`wildrydes query` runs {QUERY_BIN}, which is neither beside this wildrydes nor on the PATH: \
             build it beside it (`cargo build --release -p query` in a checkout) or install it \
             (`cargo install --locked --path crates/query`; release archives hold it)"
        )
    })?;
    let mut command = std::process::Command::new(&bin);
    command.args(&args.args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        Err(err).with_context(|| format!("cannot run {}", bin.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
