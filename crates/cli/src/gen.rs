//! Shell completions and man pages, generated from a binary's clap
//! definitions (`wildrydes completions bash`, `producer --completions zsh`,
//! `wildrydes man --out DIR`).

use std::io::Write;
use std::path::Path;

pub use clap_complete::Shell;

/// The completion script of `cmd` for `shell`.
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// The man page of `cmd` (section 1), subcommands listed.
pub fn man_page(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd.version(crate::VERSION)).render(out)
}

/// One man page per command and subcommand (`wildrydes.1`,
/// `wildrydes-up.1`, ...) in `dir`; returns the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut stack = vec![(cmd.version(crate::VERSION), String::new())];
    while let Some((cmd, parent)) = stack.pop() {
        let name = if parent.is_empty() {
            cmd.get_name().to_owned()
        } else {
            format!("{parent}-{}", cmd.get_name())
        };
        let path = dir.join(format!("{name}.1"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        clap_mangen::Man::new(cmd.clone())
            .title(name.clone())
            .render(&mut file)?;
        file.flush()?;
        written.push(path);
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((sub.clone(), name.clone()));
        }
    }
    Ok(written)
}

/// `--completions SHELL` / `--man` for binaries without subcommands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GenArgs {
    /// Print the completion script for SHELL (bash, zsh, fish, powershell, elvish) and exit
    #[arg(long, value_name = "SHELL")]
    pub completions: Option<Shell>,
    /// Print the man page and exit
    #[arg(long)]
    pub man: bool,
}

impl GenArgs {
    /// Prints what was asked for; `true` when the binary should exit.
    pub fn handle(&self, cmd: clap::Command) -> std::io::Result<bool> {
        let mut out = std::io::stdout().lock();
        if let Some(shell) = self.completions {
            completions(cmd, shell, &mut out);
            return Ok(true);
        }
        if self.man {
            man_page(cmd, &mut out)?;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        clap::Command::new("demo")
            .arg(clap::Arg::new("name").long("name"))
            .subcommand(clap::Command::new("up").arg(clap::Arg::new("port").long("port")))
    }

    #[test]
    fn completions_list_the_flags_for_every_shell() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let mut out = Vec::new();
            completions(cmd(), shell, &mut out);
            let text = String::from_utf8(out).unwrap();
            // fish names long flags as `-l name`.
            for flag in ["name", "port"] {
                let listed =
                    text.contains(&format!("--{flag}")) || text.contains(&format!("-l {flag}"));
                assert!(listed, "{shell} lacks {flag}: {text}");
            }
        }
    }

    #[test]
    fn man_pages_for_every_subcommand() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("man");
        let files = man_pages(cmd(), &dir).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.1", "demo-up.1"]);
        let page = std::fs::read_to_string(dir.join("demo-up.1")).unwrap();
        assert!(page.contains(".TH demo-up 1"), "{page}");
        assert!(page.contains("port"), "{page}");
    }
}
