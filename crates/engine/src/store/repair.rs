//! The explicit repair of a damaged data dir (`wildrydes repair DIR`).
//!
//! It keeps every intact frame on both sides of each damaged region: a
//! region followed by intact frames is overwritten by a padding frame of the
//! same length (format 2), a damaged end of a sealed segment (or anything
//! after a damaged format-1 frame) is cut, and the damaged bytes are saved
//! next to the report. Missing segments are accepted as lost. The repaired
//! log then gets a snapshot in which every shard continues past any sequence
//! number that may have been handed out for a lost record: a region of `n`
//! bytes held at most `n / MIN_RECORD` records of a shard.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::codec::{encode_pad, encode_snapshot, MIN_RECORD, TAG_META};
use super::dir::{lock_dir, sync_dir, Damage, Replay, Scanned};
use super::log::{
    frame, io, read_exact_at, sealed_name, segment_header, Format, FRAME_HEADER, SEG_HEADER,
};
use super::recovery::Replayer;
use crate::error::EngineError;
use crate::kinesis::state::Snapshot;

/// What a repair found and dropped.
#[derive(Debug, Clone, Default)]
pub struct RepairReport {
    /// One line per loss, then a summary line.
    pub lines: Vec<String>,
    /// Bytes of log dropped (damaged regions and cut ends).
    pub lost_bytes: u64,
    /// Missing segments accepted as lost.
    pub missing_segments: Vec<String>,
    /// Where the report and the damaged bytes were saved (in the data dir),
    /// when anything was repaired.
    pub saved: Option<PathBuf>,
}

impl RepairReport {
    /// Whether the data dir needed no repair.
    pub fn is_clean(&self) -> bool {
        self.lost_bytes == 0 && self.missing_segments.is_empty()
    }
}

impl std::fmt::Display for RepairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Where a repair of `dir` saves its report and the damaged bytes:
/// `repair-<unix time>`.
pub(crate) fn saved_folder(dir: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    dir.join(format!("repair-{stamp}"))
}

/// The sequence number of the record at `pos` of shard `idx` (the engine's
/// format: `491`, the shard in 11 digits, `pos + 1` in 42).
fn seq(idx: u32, pos: u64) -> String {
    format!("491{idx:011}{:042}", u128::from(pos) + 1)
}

/// A loss: a damaged region, or a hole where a segment is missing.
struct Loss {
    what: String,
    /// Positions lost per (incarnation, shard): first..=last.
    gaps: Vec<(u64, u32, u64, u64)>,
    /// Set for holes: the missing segment ids between two present ones.
    hole: Option<(u32, u32)>,
}

/// Follows positions through the scan to name what each loss took.
#[derive(Default)]
struct Tracker {
    /// Position after the last one known to exist, and the number of
    /// losses then, per (incarnation, shard).
    next: HashMap<(u64, u32), (u64, usize)>,
    losses: Vec<Loss>,
    names: HashMap<u64, String>,
    /// Records of streams whose metadata is gone (incarnation → count).
    orphans: BTreeMap<u64, u64>,
    prev_seg: Option<u32>,
}

impl Tracker {
    /// The record at `pos` was read: positions from the last known one up
    /// to it, not seen since a loss, were lost in it.
    fn saw_record(&mut self, key: (u64, u32), pos: u64) {
        self.known(key, pos, pos + 1);
    }

    /// A snapshot says positions before `tail` existed.
    fn saw_tail(&mut self, key: (u64, u32), tail: u64) {
        self.known(key, tail, tail);
    }

    /// Positions before `unseen_end` were handed out; the next one known is
    /// `next`.
    fn known(&mut self, key: (u64, u32), unseen_end: u64, next: u64) {
        let n = self.losses.len();
        if let Some(&(expected, mark)) = self.next.get(&key) {
            if unseen_end > expected && mark < n {
                if let Some(loss) = self.losses.last_mut() {
                    loss.gaps.push((key.0, key.1, expected, unseen_end - 1));
                }
            }
            if next <= expected {
                return;
            }
        }
        self.next.insert(key, (next, n));
    }

    /// After a stream change: shards new to the tracker start at position 0.
    fn shards_known(&mut self, replay: &Replayer) {
        let n = self.losses.len();
        for s in replay.state.streams.values() {
            self.names
                .entry(s.meta.incarnation)
                .or_insert_with(|| s.meta.name.clone());
            for i in 0..s.meta.shards.len() {
                self.next
                    .entry((s.meta.incarnation, i as u32))
                    .or_insert((0, n));
            }
        }
    }

    fn after(&mut self, replay: &mut Replayer, snap: Option<Snapshot>) {
        let positions = replay
            .positions
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for (inc, shard, pos) in positions {
            if !self.names.contains_key(&inc) {
                *self.orphans.entry(inc).or_default() += 1;
                continue;
            }
            self.saw_record((inc, shard), pos);
        }
        if let Some(snap) = snap {
            for s in snap.streams {
                self.names.insert(s.meta.incarnation, s.meta.name.clone());
                for (i, &tail) in s.tails.iter().enumerate() {
                    self.saw_tail((s.meta.incarnation, i as u32), tail);
                }
            }
        }
    }

    fn name(&self, inc: u64) -> String {
        self.names
            .get(&inc)
            .cloned()
            .unwrap_or_else(|| format!("(unknown, incarnation {inc})"))
    }
}

/// Repairs the data dir `dir` (see the module docs). Nothing is changed
/// when no damage is found.
pub fn repair(dir: &Path) -> Result<RepairReport, EngineError> {
    if !dir.is_dir() {
        return Err(EngineError::Io {
            context: format!("data dir {} does not exist", dir.display()),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    let lock = lock_dir(dir)?;
    let mut replay = Replayer::new(0);
    replay.positions = Some(Vec::new());
    let mut tracker = Tracker::default();
    let mut damages: Vec<Damage> = Vec::new();
    let mut seg_lens: Vec<u64> = Vec::new();
    let scanned = Scanned::scan(dir, lock, true, |event| {
        match &event {
            Replay::Damage(d) => {
                damages.push((*d).clone());
                tracker.losses.push(Loss {
                    what: format!(
                        "{} bytes {}..{} ({}, {} bytes)",
                        d.path.display(),
                        d.offset,
                        d.end,
                        d.reason,
                        d.end - d.offset
                    ),
                    gaps: Vec::new(),
                    hole: None,
                });
            }
            Replay::Segment { id, len, .. } => {
                seg_lens.push(*len);
                if let Some(prev) = tracker.prev_seg {
                    if *id > prev + 1 {
                        tracker.losses.push(Loss {
                            what: String::new(),
                            gaps: Vec::new(),
                            hole: Some((prev + 1, *id - 1)),
                        });
                    }
                }
                tracker.prev_seg = Some(*id);
            }
            Replay::Frame { .. } => {}
        }
        let meta =
            matches!(&event, Replay::Frame { payload, .. } if payload.first() == Some(&TAG_META));
        let snap = replay.on(dir, event)?;
        if meta {
            tracker.shards_known(&replay);
        }
        tracker.after(&mut replay, snap);
        Ok(())
    })?;
    let missing = replay.missing(&scanned.sealed, scanned.active_id);
    let mut report = RepairReport::default();
    if let Some(torn) = scanned.torn() {
        report.lines.push(format!(
            "an incomplete last write at offset {torn} of {} is cut (never acknowledged)",
            dir.join(super::log::ACTIVE).display()
        ));
    }
    if damages.is_empty() && missing.is_empty() {
        report.lines.push(format!(
            "repair: no damage found in {}; nothing changed",
            dir.display()
        ));
        return Ok(report);
    }
    // Losses: damaged regions, and holes only where a segment is missing
    // (other gaps in the ids are segments deleted by retention).
    let mut bump: u64 = 0;
    for loss in &mut tracker.losses {
        if let Some((from, to)) = loss.hole {
            let gone: Vec<u32> = (from..=to).filter(|id| missing.contains(id)).collect();
            if gone.is_empty() {
                loss.what.clear();
                continue;
            }
            loss.what = format!(
                "missing segment(s) {}",
                gone.iter()
                    .map(|id| sealed_name(*id))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let biggest = seg_lens.iter().copied().max().unwrap_or(0).max(128 << 20);
            bump += gone.len() as u64 * (biggest / MIN_RECORD + 1);
        }
    }
    let saved = saved_folder(dir);
    std::fs::create_dir_all(&saved).map_err(io(format!("creating {}", saved.display())))?;
    for d in &damages {
        bump += (d.end - d.offset) / MIN_RECORD + 1;
        report.lost_bytes += d.end - d.offset;
        fix(d, &saved, scanned.salt)?;
    }
    report.missing_segments = missing.iter().map(|id| sealed_name(*id)).collect();
    for loss in tracker.losses.iter().filter(|l| !l.what.is_empty()) {
        if loss.gaps.is_empty() {
            report.lines.push(format!(
                "{}: no record positions known to be lost",
                loss.what
            ));
        }
        for &(inc, shard, first, last) in &loss.gaps {
            report.lines.push(format!(
                "{}: stream {} shardId-{shard:012} lost sequence numbers {} to {} (positions {first}..={last}, at most {} records)",
                loss.what,
                tracker.name(inc),
                seq(shard, first),
                seq(shard, last),
                last - first + 1
            ));
        }
    }
    // Damage after a shard's last intact record: how many is unknown.
    let n = tracker.losses.len();
    let mut tails: Vec<_> = tracker.next.iter().collect();
    tails.sort();
    for (&(inc, shard), &(next, mark)) in tails {
        let damage_after = tracker.losses[mark.min(n)..]
            .iter()
            .any(|l| !l.what.is_empty() && l.hole.is_none());
        if damage_after {
            report.lines.push(format!(
                "stream {} shardId-{shard:012}: records from sequence number {} on may have been lost in a damaged region (how many is unknown)",
                tracker.name(inc),
                seq(shard, next)
            ));
        }
    }
    for (inc, count) in &tracker.orphans {
        report.lines.push(format!(
            "{count} intact records of a stream whose metadata was lost (incarnation {inc}) are dropped"
        ));
    }
    // Persist: the repaired log continues with a snapshot whose shards skip
    // every position a lost record may have had.
    let mut data = scanned.finish()?;
    let mut snap = replay.state.snapshot();
    for s in &mut snap.streams {
        // Closed shards take no more records.
        for (t, m) in s.tails.iter_mut().zip(&s.meta.shards) {
            if m.closed_end.is_none() {
                *t = t.saturating_add(bump);
            }
        }
    }
    let mut bytes = Vec::new();
    frame(&encode_snapshot(&snap), data.salt, &mut bytes);
    let writing = io(format!("writing a snapshot to {}", data.log_path.display()));
    if matches!(data.active.format, Format::V2 { .. }) && data.active_len <= SEG_HEADER {
        data.append(&bytes).map_err(writing)?;
    } else {
        data.rotate(&bytes).map_err(writing)?;
    }
    report.lines.push(format!(
        "repair: {} damaged region(s), {} missing segment(s), {} bytes dropped; every shard continues {bump} positions past the last one seen, so no sequence number is handed out twice; damaged bytes saved in {}",
        damages.len(),
        missing.len(),
        report.lost_bytes,
        saved.display()
    ));
    let text = report.to_string();
    let file = saved.join("report.txt");
    std::fs::write(&file, text).map_err(io(format!("writing {}", file.display())))?;
    sync_dir(dir).map_err(io(format!("syncing {}", dir.display())))?;
    report.saved = Some(saved);
    Ok(report)
}

/// Saves the damaged bytes of `d` under `saved`, then pads over the region
/// (intact frames follow) or cuts the file there.
fn fix(d: &Damage, saved: &Path, salt: u32) -> Result<(), EngineError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&d.path)
        .map_err(io(format!("opening {}", d.path.display())))?;
    let len = (d.end - d.offset) as usize;
    let mut bytes = vec![0u8; len];
    read_exact_at(&file, &mut bytes, d.offset)
        .map_err(io(format!("reading {}", d.path.display())))?;
    let name = d.path.file_name().map_or_else(
        || "segment".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let copy = saved.join(format!("{name}-{}.bin", d.offset));
    std::fs::write(&copy, &bytes).map_err(io(format!("writing {}", copy.display())))?;
    let writing = io(format!("repairing {}", d.path.display()));
    if let (Format::V2 { id, .. }, true) = (
        d.format,
        d.offset == 0 && d.reason == "damaged segment header",
    ) {
        let header = segment_header(id, salt);
        write_at(&file, &header, 0).map_err(writing)?;
    } else if d.end < d.file_len && matches!(d.format, Format::V2 { .. }) {
        if len <= FRAME_HEADER {
            return Err(EngineError::Corrupt {
                path: d.path.clone(),
                offset: d.offset,
                reason: format!("a damaged region of {len} bytes is too short to pad over"),
            });
        }
        let mut pad = Vec::with_capacity(len);
        frame(&encode_pad(len - FRAME_HEADER), salt, &mut pad);
        write_at(&file, &pad, d.offset).map_err(writing)?;
    } else {
        file.set_len(d.offset).map_err(writing)?;
    }
    file.sync_all()
        .map_err(io(format!("syncing {}", d.path.display())))
}

#[cfg(unix)]
fn write_at(file: &std::fs::File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &std::fs::File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        let n = file.seek_write(bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}
