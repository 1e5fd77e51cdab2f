//! Go `flag` syntax on top of clap.
//!
//! The original clients were Go programs, so users type `-name Rocinante`,
//! `-stream=wildrydes` or `--name X`. clap reads a single dash as a cluster of
//! short flags, so the known long flags are rewritten to `--name` before
//! parsing. Values are never touched, nor is anything after `--`.

use std::ffi::OsString;

/// Rewrites `-flag` and `-flag=value` to `--flag` / `--flag=value` for every
/// name in `long_flags` and every other word of two or more letters; single
/// letters (`-h`), negative numbers and the first argument (the program) are
/// kept as they are.
pub fn rewrite<I, S, F>(args: I, long_flags: &[F]) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
    F: AsRef<str>,
{
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        let arg: OsString = arg.into();
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            if s == "--" {
                passthrough = true;
                return None;
            }
            let body = s.strip_prefix('-').filter(|b| !b.starts_with('-'))?;
            let name = body.split_once('=').map_or(body, |(name, _)| name);
            // Unknown words are rewritten too, so clap names them in full
            // (`unexpected argument '--bogus'` rather than `'-b'`).
            let known = long_flags.iter().any(|flag| flag.as_ref() == name);
            let word = name.len() > 1 && name.starts_with(|c: char| c.is_ascii_alphabetic());
            (known || word).then(|| OsString::from(format!("-{s}")))
        });
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

/// Set by the README test: the binaries parse their arguments and exit 0
/// (or exit 2 with clap's message) without doing anything, so every command
/// line the README shows is checked against the real flags.
pub const PARSE_ONLY_ENV: &str = "WILDRYDES_PARSE_ONLY";

/// Whether [`PARSE_ONLY_ENV`] is set.
pub fn parse_only() -> bool {
    std::env::var_os(PARSE_ONLY_ENV).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Vec<String> {
        rewrite(args.iter().copied(), &["name", "stream", "count"])
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn all_four_forms_become_double_dash() {
        assert_eq!(run(&["p", "-name", "X"]), ["p", "--name", "X"]);
        assert_eq!(run(&["p", "--name", "X"]), ["p", "--name", "X"]);
        assert_eq!(run(&["p", "-name=X"]), ["p", "--name=X"]);
        assert_eq!(run(&["p", "--name=X"]), ["p", "--name=X"]);
    }

    #[test]
    fn values_short_flags_and_unknown_flags_are_left_alone() {
        assert_eq!(run(&["p", "-h"]), ["p", "-h"]);
        assert_eq!(run(&["p", "-name", "-stream"]), ["p", "--name", "--stream"]);
        assert_eq!(run(&["p", "-count", "-5"]), ["p", "--count", "-5"]);
        assert_eq!(run(&["p", "-bogus", "1"]), ["p", "--bogus", "1"]);
        assert_eq!(run(&["p", "-x", "-1.5"]), ["p", "-x", "-1.5"]);
        assert_eq!(run(&["-name", "-name"]), ["-name", "--name"]);
        assert_eq!(run(&["p", "--", "-name"]), ["p", "--", "-name"]);
    }
}
