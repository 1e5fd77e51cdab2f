//! `wildrydes completions SHELL` and `wildrydes man [--out DIR]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish
    shell: cli::gen::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write wildrydes.1 and one page per subcommand (wildrydes-up.1, ...) to DIR
    /// instead of printing wildrydes.1
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn completions<C: CommandFactory>(args: CompletionsArgs) -> Result<()> {
    cli::gen::completions(C::command(), args.shell, &mut std::io::stdout().lock());
    Ok(())
}

pub fn man<C: CommandFactory>(args: ManArgs) -> Result<()> {
    match args.out {
        Some(dir) => {
            let pages = cli::gen::man_pages(C::command(), &dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
        }
        None => cli::gen::man_page(C::command(), &mut std::io::stdout().lock())
            .context("writing the man page")?,
    }
    Ok(())
}
