//! The service's partition order: a Scan returns items in the order of a
//! hash of their partition key, and a parallel Scan's segments are ranges
//! of that hash, not of the keys. The hash is the MD5 of `Outliers` and the
//! key's own bytes (a string's UTF-8, a binary's bytes, a number's
//! [`Number::hash_bytes`](super::number::Number::hash_bytes)); its first
//! three bytes order the partitions and its first 12 bits place an item in
//! one of 4,096 slots that the segments share out: the scheme dynalite's
//! suite recorded from the service (which items a segment of 4,096 holds,
//! the order of a Scan of numbers and of strings).
//!
//! Tables created since 2026-12-03 store every key behind this tag (table
//! id + tag + partition key + sort key), so a Scan is one ordered range
//! read in the service's order and a segment one contiguous slice of it.
//! Tables created before keep their plain keys ([`TableMeta::hashed`]):
//! their Scans run in key order and their segments filter by the tag.

use md5::{Digest, Md5};

use super::service::TableMeta;
use super::value::AttributeValue;

/// The first three bytes of a key's partition hash.
pub(crate) type Tag = [u8; 3];

/// The slots the segments of a parallel Scan share out.
const SLOTS: u64 = 4096;

/// The bytes of a key value the service hashes (None for a non-key type).
fn hashed_bytes(v: &AttributeValue) -> Option<std::borrow::Cow<'_, [u8]>> {
    match v {
        AttributeValue::S(s) => Some(s.as_bytes().into()),
        AttributeValue::B(b) => Some(b.as_slice().into()),
        AttributeValue::N(n) => Some(n.hash_bytes().into()),
        _ => None,
    }
}

/// The tag of a partition key `hash` (with `range`: of a whole table key,
/// which orders the entries of an index that share the index's key).
pub(crate) fn tag(hash: &AttributeValue, range: Option<&AttributeValue>) -> Tag {
    let mut md5 = Md5::new();
    md5.update(b"Outliers");
    for v in std::iter::once(hash).chain(range) {
        if let Some(bytes) = hashed_bytes(v) {
            md5.update(&bytes);
        }
    }
    let digest = md5.finalize();
    [digest[0], digest[1], digest[2]]
}

/// The slot (0..4096) of a tag: its first 12 bits.
pub(crate) fn slot(tag: &[u8]) -> u64 {
    match tag {
        [a, b, ..] => u64::from(*a) << 4 | u64::from(*b) >> 4,
        _ => 0,
    }
}

/// The slots of `segment` of `total`: from the first, up to the second
/// (excluded); empty when there are more segments than slots to share.
pub(crate) fn segment_slots(segment: u64, total: u64) -> (u64, u64) {
    let at = |s: u64| (SLOTS * s).div_ceil(total.max(1));
    (at(segment), at(segment + 1))
}

/// The first key of `slot` in the key space starting with `prefix` (the
/// end of the space for the slot past the last).
pub(crate) fn slot_key(prefix: &[u8], slot: u64) -> Option<Vec<u8>> {
    if slot >= SLOTS {
        return super::query::successor(prefix);
    }
    let mut key = prefix.to_vec();
    key.extend([(slot >> 4) as u8, ((slot & 0xf) << 4) as u8]);
    Some(key)
}

impl TableMeta {
    /// Whether the table's keys carry the partition tag (tables created
    /// since the tag was introduced; older ones keep plain keys).
    pub(crate) fn hashed(&self) -> bool {
        self.key_layout >= HASHED_LAYOUT
    }
}

/// [`TableMeta::key_layout`] of tables whose keys carry the tag.
pub(crate) const HASHED_LAYOUT: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::number::Number;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(v).unwrap())
    }

    fn sorted(mut keys: Vec<AttributeValue>) -> Vec<AttributeValue> {
        keys.sort_by_key(|k| tag(k, None));
        keys
    }

    #[test]
    fn strings_scan_in_the_recorded_order() {
        let order = [
            "2", "8", "9", "1", "6", "hello", "0", "5", "4", "äáöü", "aardman", "7", "3", "zapf",
        ];
        let mut keys: Vec<_> = order.iter().map(|k| s(k)).collect();
        keys.reverse();
        assert_eq!(sorted(keys), order.iter().map(|k| s(k)).collect::<Vec<_>>());
    }

    #[test]
    fn numbers_scan_in_the_recorded_order() {
        let order = [
            "7", "999.9", "8", "3", "2", "-999.9", "9", "4", "-0.09", "6", "1", "0", "0.012345",
            "5",
        ];
        let mut keys: Vec<_> = order.iter().map(|k| n(k)).collect();
        keys.reverse();
        assert_eq!(sorted(keys), order.iter().map(|k| n(k)).collect::<Vec<_>>());
    }

    #[test]
    fn keys_land_in_the_recorded_slots() {
        for (key, want) in [
            (s("3635"), 0),
            (s("228"), 0),
            (s("1668"), 1),
            (s("3435"), 4),
        ] {
            assert_eq!(slot(&tag(&key, None)), want, "{key:?}");
        }
        assert_eq!(slot(&tag(&n("251"), None)), 1);
        assert_eq!(slot(&tag(&n("2388"), None)), 4095);
    }

    #[test]
    fn segments_share_out_every_slot_once() {
        for total in [1, 2, 3, 7, 4096, 5000, 1_000_000] {
            let mut next = 0;
            for segment in [0, 1, 2, total / 2, total - 1] {
                if segment >= total {
                    continue;
                }
                let (lo, hi) = segment_slots(segment, total);
                assert!(lo <= hi && hi <= SLOTS, "{segment}/{total}");
                if segment == 0 {
                    assert_eq!(lo, 0);
                }
                if segment == total - 1 {
                    assert_eq!(hi, SLOTS);
                }
                next = next.max(hi);
            }
            assert_eq!(next, SLOTS);
            // Consecutive segments meet.
            for segment in 0..total.min(64) - 1 {
                assert_eq!(
                    segment_slots(segment, total).1,
                    segment_slots(segment + 1, total).0
                );
            }
        }
        // Segments 0 and 1 of 4 make up segment 0 of 2.
        assert_eq!(segment_slots(0, 4).0, segment_slots(0, 2).0);
        assert_eq!(segment_slots(1, 4).1, segment_slots(0, 2).1);
    }

    #[test]
    fn a_slot_key_orders_before_its_slot_and_after_the_previous() {
        let prefix = [0, 0, 0, 1];
        let t = tag(&s("1668"), None);
        let mut key = prefix.to_vec();
        key.extend(t);
        let at = slot(&t);
        assert!(slot_key(&prefix, at).unwrap() <= key);
        assert!(slot_key(&prefix, at + 1).unwrap() > key);
        assert_eq!(slot_key(&prefix, SLOTS), Some(vec![0, 0, 0, 2]));
    }
}
