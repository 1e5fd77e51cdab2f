//! Names the service hands out: shard ids, sequence numbers, timestamps,
//! hash key ranges, and the not-found error for a stream.

use serde_json::{json, Value};

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::ACCOUNT;

pub(crate) fn not_found(name: &str) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!("Stream {name} under account {ACCOUNT} not found."),
    )
}

/// The service's answer for a shard that does not exist (any more): a
/// GetShardIterator for a missing shard, or a GetRecords whose iterator's
/// stream was deleted.
pub(crate) fn shard_not_found(name: &str, idx: usize) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!(
            "Shard {} in stream {name} under account {ACCOUNT} does not exist",
            shard_id(idx)
        ),
    )
}

pub(crate) fn shard_id(idx: usize) -> String {
    format!("shardId-{idx:012}")
}

/// The index of a shard id as the service reads it: `shardId-000000000001`,
/// `shard-1` and `1` all name shard 1 (the digits after the first `-`, or the
/// whole id), up to 2147483647.
pub(crate) fn parse_shard_id(s: &str) -> Option<usize> {
    let digits = match s.split('-').nth(1) {
        Some(d) if !d.is_empty() => d,
        _ => s,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros are allowed in any number (`a-00002147483647`).
    let significant = digits.trim_start_matches('0');
    if significant.len() > 10 {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    significant
        .parse::<u64>()
        .ok()
        .filter(|i| *i <= 2_147_483_647)
        .map(|i| i as usize)
}

/// `491`, the shard index in 11 digits and a counter in 42 digits: 56 digits
/// like the real service's. Counter `n` sits between the records at
/// positions `n - 1` and `n`: 0 is the shard's StartingSequenceNumber (below
/// every record, as in the real service) and `n` is also "after the record at
/// `n - 1`" (the ContinuationSequenceNumber of SubscribeToShard). The `1`
/// marks this format: numbers handed out before it (`490`, the record's
/// position instead of a counter) still parse, see [`parse_seq`]. Written by
/// hand because `format!` pads one character at a time and this runs for
/// every record read.
pub(crate) fn seq(idx: usize, n: u64) -> String {
    let mut digits = [b'0'; 56];
    digits[1] = b'9';
    for (range, mut n) in [(3..14, idx as u64), (14..56, n)] {
        for d in digits[range].iter_mut().rev() {
            if n == 0 {
                break; // the rest stays '0'
            }
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    digits[0] = b'4';
    digits[2] = b'1';
    // Only ASCII digits were written.
    String::from_utf8(digits.to_vec()).unwrap_or_default()
}

/// The sequence number of the record at `pos` of shard `idx`.
pub(crate) fn record_seq(idx: usize, pos: u64) -> String {
    seq(idx, pos.saturating_add(1))
}

/// Shard index and counter of a sequence number (see [`seq`]). A number of
/// the earlier format (`490`, in checkpoints saved before) names the record
/// at its position, whose counter is one more.
pub(crate) fn parse_seq(s: &str) -> Option<(usize, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let idx = s[3..14].parse().ok()?;
    let n: u64 = s[14..].parse().ok()?;
    match s.as_bytes()[2] {
        b'1' => Some((idx, n)),
        b'0' => Some((idx, n.checked_add(1)?)),
        _ => None,
    }
}

pub(crate) fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// A time as Java's `Date.toString` words it in UTC, as the service's
/// messages name times: `Thu Dec 10 01:59:39 UTC 2015`.
pub(crate) fn java_date(ms: u64) -> String {
    let at = i64::try_from(ms)
        .ok()
        .and_then(|ms| {
            time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::milliseconds(ms))
        })
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (day, month) = (at.weekday().to_string(), at.month().to_string());
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        &day[..3],
        &month[..3],
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.year()
    )
}

pub(crate) fn uniform_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    if n == 1 {
        return vec![(0, u128::MAX)];
    }
    let step = u128::MAX / n + (u128::MAX % n + 1) / n;
    (0..n)
        .map(|i| {
            let start = step * i;
            let end = if i + 1 == n {
                u128::MAX
            } else {
                step * (i + 1) - 1
            };
            (start, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{parse_seq, record_seq, seq};

    #[test]
    fn record_sequence_numbers_sit_above_the_shard_start() {
        // StartingSequenceNumber (counter 0) < first record < second record,
        // and "after the record at p" is counter p + 1.
        assert!(seq(3, 0) < record_seq(3, 0));
        assert!(record_seq(3, 0) < record_seq(3, 1));
        assert_eq!(parse_seq(&record_seq(3, 41)), Some((3, 42)));
    }

    #[test]
    fn numbers_of_the_earlier_format_name_the_same_records() {
        // Before the counter, the record at position p of shard i was
        // "490", i in 11 digits and p in 42: it parses as that record.
        let legacy = format!("490{:011}{:042}", 3, 41);
        assert_eq!(parse_seq(&legacy), Some((3, 42)));
        assert_eq!(parse_seq(&legacy), parse_seq(&record_seq(3, 41)));
        assert_eq!(parse_seq(&format!("492{:053}", 0)), None);
    }

    #[test]
    fn shard_ids_are_read_as_the_service_reads_them() {
        use super::parse_shard_id;
        assert_eq!(parse_shard_id("shardId-000000000001"), Some(1));
        assert_eq!(parse_shard_id("shard-1"), Some(1));
        assert_eq!(parse_shard_id("7"), Some(7));
        assert_eq!(parse_shard_id("shardId-x"), None);
        assert_eq!(parse_shard_id("shardId-2147483648"), None);
        // Any prefix before the first hyphen, and any number of leading zeros.
        assert_eq!(parse_shard_id("a-00002147483647"), Some(2_147_483_647));
        assert_eq!(parse_shard_id("-00002147483647"), Some(2_147_483_647));
        assert_eq!(parse_shard_id("shardId-0000000000000"), Some(0));
        assert_eq!(parse_shard_id("x-99999999999999999999"), None);
    }

    #[test]
    fn times_are_worded_as_javas_date_to_string() {
        use super::java_date;
        // kinesalite's getRecords.js, recorded against the service.
        assert_eq!(java_date(1_449_712_779_000), "Thu Dec 10 01:59:39 UTC 2015");
        assert_eq!(java_date(1_449_713_175_999), "Thu Dec 10 02:06:15 UTC 2015");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_788_574_245_000), "Sat Sep 05 02:10:45 UTC 2026");
    }

    #[test]
    fn sequence_numbers_are_56_digits_and_parse_back() {
        for (idx, pos) in [(0, 0), (3, 7), (12, 1_234_567), (999, u64::MAX)] {
            let s = seq(idx, pos);
            assert_eq!(s, format!("491{idx:011}{pos:042}"));
            assert_eq!(parse_seq(&s), Some((idx, pos)));
        }
    }
}
