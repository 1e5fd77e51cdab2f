//! The `StatusTime` wire format: `YYYY-MM-DD HH:MM:SS.mmm`, read as UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod fixed;

const FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// A point in time as the Wild Rydes records carry it (millisecond precision, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusTime(i64);

/// A `StatusTime` string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid StatusTime {0:?}: expected \"YYYY-MM-DD HH:MM:SS.mmm\"")]
pub struct TimeError(pub String);

impl StatusTime {
    /// The time from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch (what the DynamoDB processor stores).
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The current wall-clock time, truncated to milliseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// The start of the window of `window_millis` that contains this time
    /// (windows are aligned on the Unix epoch, so minutes start at `:00.000`).
    pub fn floor(self, window_millis: i64) -> Self {
        Self(self.0.div_euclid(window_millis.max(1)) * window_millis.max(1))
    }

    /// This time as a chrono UTC date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl From<DateTime<Utc>> for StatusTime {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.timestamp_millis())
    }
}

impl fmt::Display for StatusTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match fixed::format(self.0) {
            // Years 0 to 9999: the fixed layout, without chrono's formatter
            // (a loader writes hundreds of thousands of these a second).
            Some(bytes) => f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?),
            None => write!(f, "{}", self.to_datetime().format(FORMAT)),
        }
    }
}

impl FromStr for StatusTime {
    type Err = TimeError;

    /// Reads `YYYY-MM-DD HH:MM:SS` with an optional fraction of a second
    /// (the wire format has exactly three digits; more or fewer are accepted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(millis) = fixed::parse(s.as_bytes()) {
            return Ok(Self(millis));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| Self(t.and_utc().timestamp_millis()))
            .map_err(|_| TimeError(s.to_owned()))
    }
}

impl Serialize for StatusTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_three_millisecond_digits() {
        let t: StatusTime = "2017-06-05 09:17:09.191".parse().unwrap();
        assert_eq!(t.to_string(), "2017-06-05 09:17:09.191");
        assert_eq!(t.as_millis(), 1_496_654_229_191);
        let whole: StatusTime = "2017-06-05 09:17:09".parse().unwrap();
        assert_eq!(whole.to_string(), "2017-06-05 09:17:09.000");
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "2017-06-05T09:17:09.191Z",
            "2017-13-05 09:17:09.191",
            "yesterday",
        ] {
            let err = bad.parse::<StatusTime>().unwrap_err();
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn floors_to_window_start() {
        let t: StatusTime = "2017-05-06 17:47:59.999".parse().unwrap();
        assert_eq!(t.floor(60_000).to_string(), "2017-05-06 17:47:00.000");
        assert_eq!(t.floor(10_000).to_string(), "2017-05-06 17:47:50.000");
    }
}
