//! Unit tests of the stream model.

use super::*;
use crate::store::codec::*;

fn meta(name: &str, incarnation: u64, retention_hours: u32) -> StreamMeta {
    StreamMeta {
        name: name.into(),
        incarnation,
        arn: String::new(),
        created_ms: 0,
        active_at_ms: 0,
        on_demand: false,
        retention_hours,
        tags: BTreeMap::new(),
        shards: vec![ShardMeta {
            start: "0".into(),
            end: u128::MAX.to_string(),
            parent: None,
            adjacent: None,
            created_ms: 0,
            closed_end: None,
        }],
        consumers: Vec::new(),
        settings: Box::default(),
    }
}

fn batch(incarnation: u64, pos: u64, ts_ms: u64) -> RecordBatch {
    RecordBatch {
        incarnation,
        recs: vec![(
            0,
            pos,
            Rec {
                ts_ms,
                pk: "k".into(),
                data: Bytes::from_static(&[7; 100]),
            },
        )],
    }
}

#[test]
fn cache_and_run_queue_stay_bounded_with_mixed_retention() {
    const LIMIT: u64 = 64 << 10;
    let mut st = State::durable(LIMIT);
    st.apply_meta(MetaOp::Upsert(meta("long", 0, 168)));
    st.apply_meta(MetaOp::Upsert(meta("short", 1, 24)));
    let hour = 3_600_000;
    st.apply_records(batch(0, 0, 0), Some(Loc { seg: 0, offset: 0 }));
    // A day and a half of single records on the short stream, trimmed as
    // they go; the long stream's one run stays at the queue's front.
    for i in 0..50_000u64 {
        let now = i * (36 * hour / 50_000);
        st.apply_records(batch(1, i, now), Some(Loc { seg: 0, offset: i }));
        st.trim("short", now);
        let queued = st.store.as_ref().map_or(0, |s| s.fifo.len() as u64);
        assert!(st.cached_bytes + queued * FIFO_COST <= LIMIT + 300);
    }
    let short = &st.streams["short"].shards[0];
    assert_eq!(short.tail, 50_000);
    assert!(short.cache.len() < 1_000);
    // Index entries are per 256 KiB of log, not per record.
    assert!(short.index.len() < 5, "{}", short.index.len());
}

#[test]
fn recount_matches_accounting() {
    let mut st = State::durable(10_000);
    st.apply_meta(MetaOp::Upsert(meta("s", 0, 24)));
    for i in 0..500 {
        st.apply_records(
            batch(0, i, i),
            Some(Loc {
                seg: 0,
                offset: i * 200,
            }),
        );
    }
    let actual: u64 = st.streams.values().map(Stream::cache_cost).sum();
    assert_eq!(st.cached_bytes, actual);
    assert!(actual <= 10_000);
    st.apply_meta(MetaOp::Delete {
        name: "s".into(),
        incarnation: 0,
    });
    assert_eq!(st.cached_bytes, 0);
}
