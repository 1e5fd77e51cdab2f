//! Where a reader starts: the `-from` flag of every command that reads a
//! stream.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::reader::StartPosition;

/// `-from` could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid -from {0:?}: expected latest, trim_horizon (oldest), a time (2017-06-05T09:17:09Z, \"2017-06-05 09:17:09.191\"), a duration ago (15m), at:<sequence> or after:<sequence>")]
pub struct FromError(String);

/// Parses `-from`: `latest` (`now`, `newest`), `trim_horizon` (`oldest`,
/// `earliest`, `beginning`), an RFC 3339 time, a StatusTime-style time (UTC),
/// a duration ago (`15m`, `2h`), `at:<sequence>`, `after:<sequence>`.
pub fn parse_from(text: &str) -> Result<StartPosition, FromError> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    match lower.as_str() {
        "latest" | "now" | "newest" | "tip" => return Ok(StartPosition::Latest),
        "trim_horizon" | "trim-horizon" | "oldest" | "earliest" | "beginning" | "start" => {
            return Ok(StartPosition::TrimHorizon)
        }
        _ => {}
    }
    let sequence = |s: &str| -> Result<String, FromError> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.to_owned())
        } else {
            Err(FromError(text.to_owned()))
        }
    };
    if let Some(seq) = lower.strip_prefix("at:") {
        return Ok(StartPosition::AtSequence(sequence(seq)?));
    }
    if let Some(seq) = lower.strip_prefix("after:") {
        return Ok(StartPosition::AfterSequence(sequence(seq)?));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(StartPosition::AtTimestamp(t.with_timezone(&Utc)));
    }
    for pattern in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(trimmed, pattern) {
            return Ok(StartPosition::AtTimestamp(t.and_utc()));
        }
    }
    if let Ok(ago) = humantime::parse_duration(trimmed.trim_end_matches(" ago")) {
        let ago = chrono::Duration::from_std(ago).map_err(|_| FromError(text.to_owned()))?;
        let t = Utc::now()
            .checked_sub_signed(ago)
            .ok_or_else(|| FromError(text.to_owned()))?;
        return Ok(StartPosition::AtTimestamp(t));
    }
    Err(FromError(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_values() {
        assert_eq!(parse_from("oldest").unwrap(), StartPosition::TrimHorizon);
        assert_eq!(parse_from("LATEST").unwrap(), StartPosition::Latest);
        assert_eq!(
            parse_from("after:4959").unwrap(),
            StartPosition::AfterSequence("4959".into())
        );
        assert!(matches!(
            parse_from("2017-06-05 09:17:09.191").unwrap(),
            StartPosition::AtTimestamp(_)
        ));
        assert!(matches!(
            parse_from("2017-06-05T09:17:09Z").unwrap(),
            StartPosition::AtTimestamp(_)
        ));
        assert!(matches!(
            parse_from("15m").unwrap(),
            StartPosition::AtTimestamp(_)
        ));
        assert!(parse_from("at:x").is_err());
        assert!(parse_from("yesterday-ish").is_err());
    }
}
