//! Object keys as Firehose writes them, and their parsing for the query side:
//! `PREFIX/YYYY/MM/DD/HH/<name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz|.parquet]`,
//! the time being the UTC arrival time of the object's oldest record.

use chrono::{DateTime, Datelike, Timelike, Utc};
use rand::Rng;

/// Firehose's first delivery stream version: objects are named `<name>-1-...`.
pub const VERSION: u32 = 1;

/// Where records that do not fit the Parquet schema go, under the prefix
/// (Firehose's default error output prefix).
pub const FAILED_PREFIX: &str = "format-conversion-failed";

/// What an object holds, from its name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// JSON lines, no extension (as Firehose writes them).
    Json,
    /// Gzip-compressed JSON lines, `.gz`.
    JsonGzip,
    /// Parquet, `.parquet`.
    Parquet,
}

impl Kind {
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Json => "",
            Kind::JsonGzip => ".gz",
            Kind::Parquet => ".parquet",
        }
    }

    /// The kind of an object from its file name.
    pub fn of(name: &str) -> Kind {
        if name.ends_with(".parquet") {
            Kind::Parquet
        } else if name.ends_with(".gz") {
            Kind::JsonGzip
        } else {
            Kind::Json
        }
    }
}

/// A random UUID (version 4), as Firehose ends its object names with.
pub fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `YYYY/MM/DD/HH` of a time, UTC.
pub fn hour_dir(t: DateTime<Utc>) -> String {
    format!(
        "{:04}/{:02}/{:02}/{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour()
    )
}

/// The key of an object below the prefix (no leading or trailing slash):
/// `YYYY/MM/DD/HH/<name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid><ext>`.
pub fn object_key(name: &str, t: DateTime<Utc>, uuid: &str, kind: Kind) -> String {
    format!(
        "{}/{name}-{VERSION}-{}-{uuid}{}",
        hour_dir(t),
        t.format("%Y-%m-%d-%H-%M-%S"),
        kind.extension()
    )
}

/// The partition of a key below the prefix: `Some([year, month, day, hour])`
/// for `YYYY/MM/DD/HH/<file>` (exactly four numeric directories of 4, 2, 2 and
/// 2 digits, then a file), `None` for anything else (side objects, other files).
pub fn partition_of(key: &str) -> Option<[u32; 4]> {
    let mut parts = key.split('/');
    let mut values = [0u32; 4];
    for (i, width) in [4usize, 2, 2, 2].into_iter().enumerate() {
        let part = parts.next()?;
        if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        values[i] = part.parse().ok()?;
    }
    let file = parts.next()?;
    if file.is_empty() || parts.next().is_some() {
        return None;
    }
    let [_, month, day, hour] = values;
    ((1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24).then_some(values)
}
