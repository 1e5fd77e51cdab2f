//! Small helpers for figures and tables.

use std::time::Duration;

/// The `p` quantile (0..=1) of sorted samples, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50 and p99 in milliseconds of unsorted durations.
pub fn p50_p99(samples: &[Duration]) -> (Option<f64>, Option<f64>) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.50), percentile(&ms, 0.99))
}

/// 1234567.8 -> "1,234,568".
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

pub fn ms(v: Option<f64>) -> String {
    opt(v, |v| {
        if v < 10.0 {
            format!("{v:.2} ms")
        } else {
            format!("{v:.1} ms")
        }
    })
}

pub fn rate(v: Option<f64>) -> String {
    opt(v, |v| format!("{}/s", thousands(v)))
}

pub fn mb(v: Option<f64>) -> String {
    opt(v, |v| format!("{v:.0} MB"))
}

pub fn ratio(ours: Option<f64>, peer: Option<f64>) -> String {
    match (ours, peer) {
        (Some(o), Some(p)) if p > 0.0 => {
            let r = o / p;
            if r >= 10.0 {
                format!("{r:.0}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "-".into(),
    }
}

/// Prints rows as a table: a column is right-aligned when all its cells
/// (but "-" and empty ones) start with a digit, left-aligned otherwise.
pub fn print_table(header: &[String], rows: &[Vec<String>]) {
    table(header, rows, true);
}

/// Prints rows as a table, every column left-aligned.
pub fn print_table_left(header: &[String], rows: &[Vec<String>]) {
    table(header, rows, false);
}

fn table(header: &[String], rows: &[Vec<String>], align_numbers: bool) {
    let cols = header.len();
    let mut width = vec![0; cols];
    let mut numeric = vec![align_numbers; cols];
    numeric[0] = false;
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        for (i, cell) in row.iter().enumerate().take(cols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            if !(cell.is_empty() || cell == "-" || cell.starts_with(|c: char| c.is_ascii_digit())) {
                numeric[i] = false;
            }
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            if i > 0 {
                out.push_str("  ");
            }
            if numeric[i] {
                out.push_str(&format!("{cell:>w$}", w = width[i]));
            } else {
                out.push_str(&format!("{cell:<w$}", w = width[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    println!(
        "{}",
        "-".repeat(width.iter().sum::<usize>() + 2 * (cols - 1))
    );
    for row in rows {
        line(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_numbers() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(ratio(Some(10.0), Some(4.0)), "2.50x");
    }
}
