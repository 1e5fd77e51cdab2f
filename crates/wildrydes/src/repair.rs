//! `wildrydes repair DIR`: the explicit repair of a damaged data dir.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RepairArgs {
    /// The data dir to repair (the engine must not be running on it).
    /// Default: ./.wildrydes-data
    #[arg(value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Repairs the data dir and prints what was lost (also saved in the dir).
pub(crate) fn repair(args: RepairArgs) -> Result<()> {
    let dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from(".wildrydes-data"));
    let report =
        engine::repair(&dir).with_context(|| format!("repairing data dir {}", dir.display()))?;
    print!("{report}");
    Ok(())
}
