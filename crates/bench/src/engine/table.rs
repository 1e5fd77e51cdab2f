//! The engine benchmark's table: ours next to each peer, with ratios.

use super::EngineResult;
use crate::stats::{self, print_table};

/// Prints one column per server and one ratio column per peer.
pub(super) fn print_engine_table(results: &[EngineResult]) {
    let Some(ours) = results.first() else {
        return;
    };
    let peers: Vec<&EngineResult> = results[1..].iter().filter(|r| r.error.is_none()).collect();
    let mut header = vec!["".to_owned()];
    header.extend(
        std::iter::once(ours)
            .chain(peers.iter().copied())
            .map(|r| r.label.clone()),
    );
    header.extend(peers.iter().map(|p| format!("ours/{}", p.label)));
    type Get = fn(&EngineResult) -> Option<f64>;
    type Fmt = fn(Option<f64>) -> String;
    let metrics: [(&str, Get, Fmt); 8] = [
        ("PutRecords records/s", |r| r.put_rate, stats::rate),
        ("PutRecord latency p50", |r| r.put_p50, stats::ms),
        ("PutRecord latency p99", |r| r.put_p99, stats::ms),
        ("GetRecords records/s", |r| r.get_rate, stats::rate),
        ("put-to-get latency p50", |r| r.e2e_p50, stats::ms),
        ("put-to-get latency p99", |r| r.e2e_p99, stats::ms),
        ("server RSS at the end", |r| r.rss_mb, stats::mb),
        ("server peak RSS", |r| r.peak_rss_mb, stats::mb),
    ];
    let mut rows = Vec::new();
    for (name, get, fmt) in metrics {
        let mut row = vec![name.to_owned()];
        row.extend(
            std::iter::once(ours)
                .chain(peers.iter().copied())
                .map(|r| fmt(get(r))),
        );
        row.extend(peers.iter().map(|p| stats::ratio(get(ours), get(p))));
        rows.push(row);
    }
    let mut counts = vec!["(records put / read)".to_owned()];
    counts.extend(std::iter::once(ours).chain(peers.iter().copied()).map(|r| {
        format!(
            "{} / {}",
            stats::thousands(r.put_records as f64),
            stats::thousands(r.get_records as f64)
        )
    }));
    rows.push(counts);
    println!();
    print_table(&header, &rows);
    if !peers.is_empty() {
        println!("ratios are ours/peer: above 1 means more records/s; below 1 means lower latency or less memory");
    }
}
