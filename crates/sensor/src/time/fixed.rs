//! The wire format's common case, `YYYY-MM-DD HH:MM:SS.mmm` with a year
//! from 0 to 9999, read and written by hand (days from the civil date and
//! back, Howard Hinnant's algorithms); anything else goes through chrono.
//! Both give exactly chrono's results (tests below compare them).

const MILLIS_PER_DAY: i64 = 86_400_000;
/// The layout's length.
pub(super) const LEN: usize = 23;

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DD HH:MM:SS.mmm`; None for any
/// other shape or an invalid date or time (chrono then decides).
pub(super) fn parse(s: &[u8]) -> Option<i64> {
    if s.len() != LEN {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        s[range].iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if seps.iter().any(|&(at, sep)| s[at] != sep) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second, millis) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let seconds = hour * 3600 + minute * 60 + second;
    Some(days_from_civil(year, month, day) * MILLIS_PER_DAY + seconds * 1000 + millis)
}

/// `millis` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm`; None outside the
/// years 0 to 9999.
pub(super) fn format(millis: i64) -> Option<[u8; LEN]> {
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let in_day = millis.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00 00:00:00.000";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1000 % 60);
    put(20, 3, in_day % 1000);
    Some(out)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDateTime, TimeZone, Utc};

    use super::*;

    fn chrono_format(millis: i64) -> String {
        Utc.timestamp_millis_opt(millis)
            .single()
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string()
    }

    /// A spread of instants: around the epoch, leap days, century years,
    /// the years 0 and 9999, and a pseudo-random walk between.
    fn instants() -> Vec<i64> {
        let mut out = vec![
            0,
            -1,
            1,
            951_782_400_000,
            951_868_799_999,
            4_107_542_400_000,
        ];
        for s in [
            "0000-01-01 00:00:00.000",
            "9999-12-31 23:59:59.999",
            "1900-03-01 00:00:00.000",
        ] {
            out.push(
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .unwrap()
                    .and_utc()
                    .timestamp_millis(),
            );
        }
        let (lo, hi) = (out[6], out[7]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(lo + (x % (hi - lo) as u64) as i64);
        }
        out
    }

    #[test]
    fn formats_and_parses_as_chrono_does() {
        for millis in instants() {
            let text = chrono_format(millis);
            let ours = format(millis).expect("years 0 to 9999");
            assert_eq!(std::str::from_utf8(&ours).unwrap(), text, "{millis}");
            assert_eq!(parse(text.as_bytes()), Some(millis), "{text}");
        }
    }

    #[test]
    fn leaves_every_other_shape_to_chrono() {
        for s in [
            "2017-06-05 09:17:09",
            "2017-06-05 09:17:09.1915",
            "2017-06-05T09:17:09.191",
            "2017-02-29 09:17:09.191",
            "2016-02-30 00:00:00.000",
            "2017-13-05 09:17:09.191",
            "2017-00-05 09:17:09.191",
            "2017-06-00 09:17:09.191",
            "2017-06-05 24:00:00.000",
            "2017-06-05 23:60:00.000",
            "2017-06-05 23:59:60.000",
            "2017-06-05 23:59:5x.000",
            "+017-06-05 23:59:59.000",
            "2017-06-05 23:59:59.-00",
        ] {
            assert_eq!(parse(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse(b"2016-02-29 23:59:59.999"), Some(1_456_790_399_999));
        assert_eq!(format(i64::MAX), None);
        assert_eq!(format(i64::MIN / 2), None);
    }
}
