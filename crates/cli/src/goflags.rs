//! Go `flag` syntax on top of clap, and the value parsers every binary
//! shares (so `-stream ''` or `-interval 0s` are refused alike, exit 2).
//!
//! The original clients were Go programs, so users type `-name Rocinante`,
//! `-stream=wildrydes` or `--name X`. clap reads a single dash as a cluster of
//! short flags, so the known long flags are rewritten to `--name` before
//! parsing. Values are never touched, nor is anything after `--`.

use std::ffi::OsString;
use std::time::Duration;

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

/// Value parser of a stream name flag: 1 to 128 letters, digits, `_`, `.`
/// or `-`, as Kinesis accepts them (an empty `-stream ''` is refused at once
/// instead of failing later at the service).
pub fn stream_name(name: &str) -> Result<String, String> {
    let valid = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(name.to_owned())
    } else if name.is_empty() {
        Err("a stream name cannot be empty".into())
    } else {
        Err("a stream name has 1 to 128 letters, digits, '_', '.' or '-'".into())
    }
}

/// Value parser of every duration flag: `500ms`, `30s`, `5m`, `1m 30s`,
/// `1h`; a bare number means seconds (`-window 60`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e} (write e.g. 500ms, 30s, 5m or 1h; a bare number means seconds)"))
}

/// Value parser of a duration flag where zero means nothing (`-interval`,
/// `-duration`, `-idle-timeout`): as [`duration`], more than zero.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = duration(text)?;
    if duration.is_zero() {
        return Err("must be longer than zero (e.g. 500ms, 30s, 5m)".into());
    }
    Ok(duration)
}

/// Value parser of a rate: a finite number greater than zero.
pub fn positive_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err("must be a number greater than zero, e.g. 100 or 0.5".into()),
    }
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
    fn value_parsers_refuse_empty_zero_and_not_a_number() {
        assert_eq!(stream_name("wild-rydes_2.x").unwrap(), "wild-rydes_2.x");
        assert!(stream_name("").unwrap_err().contains("empty"));
        assert!(stream_name("a b").is_err());
        assert!(stream_name(&"a".repeat(129)).is_err());
        assert_eq!(
            positive_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(positive_duration("0s")
            .unwrap_err()
            .contains("longer than zero"));
        assert!(positive_duration("0").is_err());
        assert!(positive_duration("soon").is_err());
        assert_eq!(duration("60").unwrap(), Duration::from_secs(60));
        assert_eq!(duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(duration("").is_err());
        assert!(duration("-5").is_err());
        assert_eq!(positive_number("0.5").unwrap(), 0.5);
        for bad in ["0", "-5", "NaN", "inf", "", "x"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
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
