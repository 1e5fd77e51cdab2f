//! The write buffer: changes kept in memory, in key order, in front of the
//! B-tree, which receives them at checkpoints only.
//!
//! Every redb transaction copies each B-tree page it touches (copy on
//! write). Committed once per write group, that was a 4 KiB page copied,
//! checksummed and written for nearly every item of a ride file (each item
//! of a batch goes to another unicorn's partition): half of the server's
//! work under a load (measured 2026-12-03: server CPU per 100,000 items
//! 3.3-3.8 s with a redb transaction per group, 1.9 s without). So a write
//! group is staged in a [`Layer`] (the request's reads see it), made
//! durable by its journal frame, then absorbed into the store's buffer
//! layer, which reads merge over the B-tree ([`visit`]); at a checkpoint
//! the buffer is written into the B-tree in one transaction, in key order
//! (each page copied once for all the groups since), and emptied. It holds
//! at most about a journal's worth of changes
//! ([`CHECKPOINT_BYTES`](super::journal::CHECKPOINT_BYTES)).
//!
//! A layer holds, per key space, the newest value of each key it changed
//! (`None`: deleted) and the key prefixes cleared in it, which hide the keys
//! of the layers under it (the values put after a clear are in its map).
//! Its changes are recorded as journal frames (one per write group), which
//! hold the values' bytes: an entry is its key, kept inline in the map's
//! nodes up to [`INLINE_KEY`] bytes, and where its value is in a frame. So
//! a change costs no allocation of its own. (Under glibc's malloc the
//! buffer's memory, allocated by many request threads, stayed in their
//! arenas either way: RSS 257-302 MB after a million items; the `wildrydes`
//! binary uses jemalloc, 166-175 MB.)

use std::collections::BTreeMap;
use std::ops::Bound;

use smallvec::SmallVec;

use super::journal::{self, CLEAR};

/// Key spaces, by their journal numbers (META 0, ITEMS 1, INDEX 2, EXPIRY 3,
/// STATS 4).
pub(super) const SPACES: usize = 5;

/// Key bytes kept in the map's nodes (longer keys are allocated).
const INLINE_KEY: usize = 64;

type Key = SmallVec<[u8; INLINE_KEY]>;

/// Where a value is: its frame and its bytes there.
#[derive(Debug, Clone, Copy)]
struct Loc {
    frame: u32,
    at: u32,
    len: u32,
}

type Map = BTreeMap<Key, Option<Loc>>;

/// A layer's changes in a range: keys with their values (None: deleted).
type Changes<'a> = Box<dyn Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a>;

/// Changes of some key spaces, newer than the layers under them.
#[derive(Default)]
pub(super) struct Layer {
    maps: [Map; SPACES],
    cleared: [Vec<Vec<u8>>; SPACES],
    /// The journal frames of its changes, in order; the last one is the
    /// one being recorded.
    frames: Vec<Vec<u8>>,
    /// Bytes of its frames, a measure of its memory.
    bytes: usize,
}

/// What a layer says of a key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Seen<'a> {
    /// Its newest value.
    Value(&'a [u8]),
    /// Deleted (or cleared) here.
    Gone,
    /// Not changed here: ask the layer under it.
    Below,
}

impl Layer {
    pub(super) fn is_empty(&self) -> bool {
        self.maps.iter().all(Map::is_empty) && self.cleared.iter().all(Vec::is_empty)
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The journal frame of the changes recorded (the first frame: a
    /// staged layer has one), if any.
    pub(super) fn frame(&self) -> Option<&[u8]> {
        self.frames.first().map(Vec::as_slice)
    }

    /// Records one change (a journal operation: put, delete, or clear every
    /// key starting with `key`).
    pub(super) fn record(&mut self, kind: u8, space: u8, key: &[u8], value: Option<&[u8]>) {
        if self.frames.is_empty() {
            let mut frame = Vec::new();
            journal::begin(&mut frame);
            self.bytes += frame.len();
            self.frames.push(frame);
        }
        let frame = self.frames.len() - 1;
        let buf = &mut self.frames[frame];
        let before = buf.len();
        journal::push(buf, kind, space, key, value);
        self.bytes += buf.len() - before;
        let end = buf.len();
        if kind == CLEAR {
            let map = &mut self.maps[usize::from(space)];
            map.retain(|k, _| !k.starts_with(key));
            self.cleared[usize::from(space)].push(key.to_vec());
            return;
        }
        let loc = value.map(|v| Loc {
            frame: frame as u32,
            at: (end - v.len()) as u32,
            len: v.len() as u32,
        });
        self.maps[usize::from(space)].insert(Key::from_slice(key), loc);
    }

    fn value(&self, loc: Loc) -> &[u8] {
        let at = loc.at as usize;
        &self.frames[loc.frame as usize][at..at + loc.len as usize]
    }

    /// The newest value of `key` in this layer.
    pub(super) fn get(&self, space: u8, key: &[u8]) -> Seen<'_> {
        match self.maps[usize::from(space)].get(key) {
            Some(Some(loc)) => Seen::Value(self.value(*loc)),
            Some(None) => Seen::Gone,
            None if self.hides(space, key) => Seen::Gone,
            None => Seen::Below,
        }
    }

    /// Whether this layer changes a key of `space` starting with `prefix`.
    pub(super) fn touches(&self, space: u8, prefix: &[u8]) -> bool {
        let s = usize::from(space);
        self.maps[s]
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
            || self.cleared[s].iter().any(|p| p.starts_with(prefix))
    }

    /// Whether a clear in this layer removed `key` of the layers under it.
    pub(super) fn hides(&self, space: u8, key: &[u8]) -> bool {
        self.cleared[usize::from(space)]
            .iter()
            .any(|p| key.starts_with(p))
    }

    /// Takes in the changes of `newer`, which were made after this layer's.
    pub(super) fn absorb(&mut self, newer: Layer) {
        for (space, prefixes) in newer.cleared.iter().enumerate() {
            for prefix in prefixes {
                self.maps[space].retain(|k, _| !k.starts_with(prefix));
                self.cleared[space].push(prefix.clone());
            }
        }
        let shift = self.frames.len() as u32;
        self.bytes += newer.bytes;
        self.frames.extend(newer.frames);
        for (mine, theirs) in self.maps.iter_mut().zip(newer.maps) {
            let moved = theirs.into_iter().map(|(k, loc)| {
                let loc = loc.map(|l| Loc {
                    frame: l.frame + shift,
                    ..l
                });
                (k, loc)
            });
            if mine.is_empty() {
                *mine = moved.collect();
            } else {
                mine.extend(moved);
            }
        }
    }

    /// The prefixes cleared in `space` and the changes of `space`, in key
    /// order: what a checkpoint writes into the B-tree, in that order.
    pub(super) fn changes(&self, space: u8) -> (&[Vec<u8>], Changes<'_>) {
        let s = usize::from(space);
        let changes = self.maps[s]
            .iter()
            .map(|(k, loc)| (k.as_slice(), loc.map(|l| self.value(l))));
        (&self.cleared[s], Box::new(changes))
    }

    /// The changes of `space` with keys in `(from, to)`, in the direction
    /// asked.
    fn range<'a>(
        &'a self,
        space: u8,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        forward: bool,
    ) -> Changes<'a> {
        let map = &self.maps[usize::from(space)];
        if !valid(from, to) {
            return Box::new(std::iter::empty());
        }
        let range = map
            .range::<[u8], _>((from, to))
            .map(|(k, loc)| (k.as_slice(), loc.map(|l| self.value(l))));
        if forward {
            Box::new(range)
        } else {
            Box::new(range.rev())
        }
    }
}

/// Whether `(from, to)` is a range `BTreeMap::range` accepts (it panics on
/// a start after the end, or an equal start and end both excluded).
fn valid(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a < b,
        _ => true,
    }
}

/// What `layers` (newest first) say of `key`.
pub(super) fn lookup<'a>(layers: &[&'a Layer], space: u8, key: &[u8]) -> Seen<'a> {
    for layer in layers {
        match layer.get(space, key) {
            Seen::Below => {}
            seen => return seen,
        }
    }
    Seen::Below
}

/// Visits the keys of `space` in `(from, to)` of `layers` (newest first)
/// over `lower` (the B-tree's rows in the same range and direction), each
/// key once with its newest value, deleted keys left out, until `visit`
/// returns false.
pub(super) fn visit<L, K, V, E>(
    layers: &[&Layer],
    space: u8,
    (from, to): (Bound<&[u8]>, Bound<&[u8]>),
    forward: bool,
    lower: L,
    mut visit: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), E>
where
    L: Iterator<Item = Result<(K, V), E>>,
    K: AsBytes,
    V: AsBytes,
{
    let mut upper = Merged::new(layers, space, from, to, forward);
    let mut lower = lower.peekable();
    let before = |a: &[u8], b: &[u8]| if forward { a < b } else { a > b };
    loop {
        // The B-tree's next key that no layer hides.
        let low = loop {
            match lower.peek() {
                None => break None,
                Some(Err(_)) => {
                    return Err(lower.next().and_then(Result::err).expect("peeked an error"))
                }
                Some(Ok((k, _))) if layers.iter().any(|l| l.hides(space, k.bytes())) => {
                    lower.next();
                }
                Some(Ok(row)) => break Some(row),
            }
        };
        let up = upper.peek();
        let from_upper = match (up, low) {
            (None, None) => return Ok(()),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((uk, _)), Some((lk, _))) => !before(lk.bytes(), uk),
        };
        let go_on = if let (true, Some((uk, uv))) = (from_upper, up) {
            // A key in both: the layer's value is the newer.
            let same = low.is_some_and(|(lk, _)| lk.bytes() == uk);
            let go_on = uv.is_none_or(|v| visit(uk, v));
            upper.next();
            if same {
                lower.next();
            }
            go_on
        } else if let Some((lk, lv)) = low {
            let go_on = visit(lk.bytes(), lv.bytes());
            lower.next();
            go_on
        } else {
            return Ok(());
        };
        if !go_on {
            return Ok(());
        }
    }
}

/// Bytes of a row of the layer under the buffer (redb's access guards).
pub(super) trait AsBytes {
    fn bytes(&self) -> &[u8];
}

impl AsBytes for redb::AccessGuard<'_, &'static [u8]> {
    fn bytes(&self) -> &[u8] {
        self.value()
    }
}

impl AsBytes for redb::AccessGuard<'_, &'static str> {
    fn bytes(&self) -> &[u8] {
        self.value().as_bytes()
    }
}

/// The changes of several layers as one, in key order: the newest layer's
/// value of each key, keys hidden by a newer layer's clear left out.
struct Merged<'a> {
    heads: Vec<std::iter::Peekable<Changes<'a>>>,
    layers: Vec<&'a Layer>,
    space: u8,
    forward: bool,
    next: Option<(&'a [u8], Option<&'a [u8]>)>,
}

impl<'a> Merged<'a> {
    fn new(
        layers: &[&'a Layer],
        space: u8,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        forward: bool,
    ) -> Self {
        let mut m = Merged {
            heads: layers
                .iter()
                .map(|l| l.range(space, from, to, forward).peekable())
                .collect(),
            layers: layers.to_vec(),
            space,
            forward,
            next: None,
        };
        m.advance();
        m
    }

    fn peek(&self) -> Option<(&'a [u8], Option<&'a [u8]>)> {
        self.next
    }

    fn next(&mut self) {
        self.advance();
    }

    /// Finds the next key of any layer, the newest layer's value of it.
    fn advance(&mut self) {
        self.next = loop {
            let mut best: Option<(usize, &'a [u8])> = None;
            for (i, head) in self.heads.iter_mut().enumerate() {
                if let Some(&(k, _)) = head.peek() {
                    let better = best.is_none_or(|(_, b)| if self.forward { k < b } else { k > b });
                    if better {
                        best = Some((i, k));
                    }
                }
            }
            let Some((newest, key)) = best else {
                break None;
            };
            let mut value = None;
            for (i, head) in self.heads.iter_mut().enumerate() {
                if head.peek().is_some_and(|&(k, _)| k == key) {
                    let (_, v) = head.next().expect("peeked");
                    if i == newest {
                        value = Some(v);
                    }
                }
            }
            let hidden = self.layers[..newest]
                .iter()
                .any(|l| l.hides(self.space, key));
            if !hidden {
                break Some((key, value.expect("the newest layer holds the key")));
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::journal::{DELETE, PUT};
    use super::*;

    type Row = (Vec<u8>, Vec<u8>);

    impl AsBytes for Vec<u8> {
        fn bytes(&self) -> &[u8] {
            self
        }
    }

    fn all(layers: &[&Layer], lower: &[Row], forward: bool) -> Vec<(String, String)> {
        let mut rows: Vec<Row> = lower.to_vec();
        if !forward {
            rows.reverse();
        }
        let mut out = Vec::new();
        visit::<_, _, _, ()>(
            layers,
            1,
            (Bound::Unbounded, Bound::Unbounded),
            forward,
            rows.into_iter().map(Ok),
            |k, v| {
                out.push((
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                ));
                true
            },
        )
        .unwrap();
        out
    }

    fn row(k: &str, v: &str) -> Row {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn newest_value_wins_and_deletions_hide_older_values() {
        let lower = [row("a", "0"), row("b", "0"), row("d", "0")];
        let mut buffer = Layer::default();
        buffer.record(PUT, 1, b"b", Some(b"1"));
        buffer.record(PUT, 1, b"c", Some(b"1"));
        buffer.record(DELETE, 1, b"d", None);
        let mut staged = Layer::default();
        staged.record(PUT, 1, b"c", Some(b"2"));
        staged.record(DELETE, 1, b"a", None);
        let want = [("b", "1"), ("c", "2")];
        assert_eq!(all(&[&staged, &buffer], &lower, true), pairs(&want));
        let mut back = pairs(&want);
        back.reverse();
        assert_eq!(all(&[&staged, &buffer], &lower, false), back);
        assert_eq!(lookup(&[&staged, &buffer], 1, b"a"), Seen::Gone);
        assert_eq!(lookup(&[&staged, &buffer], 1, b"c"), Seen::Value(b"2"));
        assert_eq!(lookup(&[&staged, &buffer], 1, b"z"), Seen::Below);
        // Another key space is untouched.
        assert_eq!(lookup(&[&staged, &buffer], 2, b"c"), Seen::Below);
    }

    #[test]
    fn a_clear_hides_older_keys_but_not_those_put_after_it() {
        let lower = [row("p1", "0"), row("p2", "0"), row("q1", "0")];
        let mut buffer = Layer::default();
        buffer.record(PUT, 1, b"p3", Some(b"1"));
        let mut staged = Layer::default();
        staged.record(PUT, 1, b"p4", Some(b"early"));
        staged.record(CLEAR, 1, b"p", None);
        staged.record(PUT, 1, b"p2", Some(b"2"));
        assert_eq!(
            all(&[&staged, &buffer], &lower, true),
            pairs(&[("p2", "2"), ("q1", "0")])
        );
        assert_eq!(lookup(&[&staged, &buffer], 1, b"p3"), Seen::Gone);
        // Absorbed, the buffer says the same.
        buffer.absorb(staged);
        assert_eq!(
            all(&[&buffer], &lower, true),
            pairs(&[("p2", "2"), ("q1", "0")])
        );
        assert_eq!(all(&[&buffer], &lower, false).len(), 2);
    }

    #[test]
    fn visiting_stops_when_asked_and_empty_ranges_are_empty() {
        let lower = [row("a", "0"), row("b", "0")];
        let mut buffer = Layer::default();
        buffer.record(PUT, 1, b"c", Some(b"1"));
        let mut n = 0;
        visit::<_, _, _, ()>(
            &[&buffer],
            1,
            (Bound::Unbounded, Bound::Unbounded),
            true,
            lower.iter().cloned().map(Ok),
            |_, _| {
                n += 1;
                false
            },
        )
        .unwrap();
        assert_eq!(n, 1);
        // A start after the end (BTreeMap::range would panic).
        let mut seen = 0;
        visit::<_, Vec<u8>, Vec<u8>, ()>(
            &[&buffer],
            1,
            (Bound::Included(b"z"), Bound::Excluded(b"a")),
            true,
            std::iter::empty(),
            |_, _| {
                seen += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(seen, 0);
    }
}
