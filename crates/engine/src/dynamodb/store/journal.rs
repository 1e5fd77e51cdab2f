//! The DynamoDB write journal: what makes a write durable between two
//! checkpoints of the B-tree.
//!
//! A redb commit with immediate durability rewrites every B-tree page the
//! transaction touched and syncs them: a ride file loaded in time order puts
//! each item of a batch into another unicorn's partition, so every item cost
//! a 4 KiB page write (measured on 2026-12-03: 640 KiB written and synced per
//! group of ~90 items, 8 ms on this machine's disk). Instead, each write
//! group is appended to the journal as one frame (its key/value changes,
//! ~200 bytes an item) and synced before the group joins the write buffer
//! and is answered; every [`CHECKPOINT_BYTES`] or [`CHECKPOINT_AFTER`], the
//! buffer is frozen, the journal goes on in a new file, and a background
//! thread writes the frozen changes into the B-tree with immediate
//! durability (each page written once), then removes the file that held
//! them (RocksDB's memtable flush and WAL switch, in small).
//!
//! The files, `dynamodb/journal.N.log` (N counts up; `journal.log`, from
//! files written before 2026-12-03, comes first), use the Kinesis log's
//! layout ([`crate::store::log`]: a checksummed header with a salt, then
//! frames with a marker, their length and checksums). At start, every
//! intact frame of every file is applied again, oldest first, on top of the
//! last durable commit: a frame holds absolute puts, deletes and range
//! clears, so applying frames that the B-tree already holds changes
//! nothing. A torn frame at the end of the newest file (a crash during its
//! write: never acknowledged) is cut, with a warning; a damaged frame
//! followed by an intact one, or any damage in an older file, refuses the
//! start and names the file.
//!
//! A frame's payload: a version byte (1), then operations
//! `[kind u8][space u8][key len u32 LE][key]` and, for a put,
//! `[value len u32 LE][value]`; kinds 1 put, 2 delete, 3 clear every key
//! starting with `key`.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::dir::sync_dir;
use crate::store::log::{self, FrameReader, Next};

/// Journal bytes after which the next group is a checkpoint.
pub(crate) const CHECKPOINT_BYTES: u64 = 8 << 20;
/// Time after which the next group is a checkpoint.
pub(crate) const CHECKPOINT_AFTER: Duration = Duration::from_secs(1);

const VERSION: u8 = 1;
pub(crate) const PUT: u8 = 1;
pub(crate) const DELETE: u8 = 2;
pub(crate) const CLEAR: u8 = 3;

/// One change of a journal frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Op<'a> {
    pub kind: u8,
    pub space: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Appends one change to a frame's payload (started with [`begin`]).
pub(crate) fn push(out: &mut Vec<u8>, kind: u8, space: u8, key: &[u8], value: Option<&[u8]>) {
    out.push(kind);
    out.push(space);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    if let Some(value) = value {
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
}

/// Starts a frame's payload.
pub(crate) fn begin(out: &mut Vec<u8>) {
    out.clear();
    out.push(VERSION);
}

/// Whether a payload holds no change.
pub(crate) fn is_empty(payload: &[u8]) -> bool {
    payload.len() <= 1
}

/// The changes of a payload, or what is wrong with it.
pub(crate) fn ops(payload: &[u8]) -> Result<Vec<Op<'_>>, String> {
    match payload.first() {
        Some(&VERSION) => {}
        Some(v) => return Err(format!("unknown journal format {v}")),
        None => return Err("empty journal frame".into()),
    }
    let mut rest = &payload[1..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let head = take(&mut rest, 2)?;
        let (kind, space) = (head[0], head[1]);
        let n = len(&mut rest)?;
        let key = take(&mut rest, n)?;
        let value = match kind {
            PUT => {
                let n = len(&mut rest)?;
                take(&mut rest, n)?
            }
            DELETE | CLEAR => &[][..],
            k => return Err(format!("unknown journal change {k}")),
        };
        out.push(Op {
            kind,
            space,
            key,
            value,
        });
    }
    Ok(out)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("journal frame ends inside a change".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn len(rest: &mut &[u8]) -> Result<usize, String> {
    let b = take(rest, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// The live journal file, which write groups are appended to.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    number: u64,
    file: File,
    path: PathBuf,
    salt: u32,
    len: u64,
    since: Instant,
    every: Duration,
    frame: Vec<u8>,
    /// Why writes stopped (see [`Journal::stop`]).
    stopped: Option<String>,
}

/// What [`read`] found in a folder's journal files.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The payloads of the intact frames, oldest file first, in order.
    pub frames: Vec<Vec<u8>>,
    /// Bytes of a torn last frame of the newest file (never acknowledged).
    pub cut: u64,
    /// The files read, oldest first.
    pub files: Vec<PathBuf>,
    /// The number for the next journal file.
    pub next: u64,
}

/// The journal files of `dir`, oldest first: `journal.log` (files written
/// before 2026-12-03 kept one file, number 0), then `journal.N.log`.
pub(super) fn files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = match name {
            "journal.log" => Some(0),
            _ => name
                .strip_prefix("journal.")
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok()),
        };
        if let Some(number) = number {
            out.push((number, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The spare journal file: [`PREPARED_BYTES`] of zeros, synced, which the
/// next journal file starts from.
const SPARE: &str = "journal.spare";

/// The bytes a journal file is prepared with. A frame appended within them
/// changes neither the file's size nor its blocks, so its `fdatasync`
/// writes no file-system metadata; appended past a file's end, each sync
/// also commits the file system's journal, which in ext4's ordered mode
/// first writes out the other files' dirty pages (the B-tree's
/// checkpoints). Measured on this machine (ext4, 2026-12-03, 12 KiB
/// frames): 315-432 µs a sync appended, 173-220 µs within written zeros;
/// in the engine under BatchWriteItem, an appended frame's write and sync
/// took 0.7-1.1 ms.
const PREPARED_BYTES: u64 = CHECKPOINT_BYTES + (1 << 20);

/// Leaves a spare journal file in `dir` if there is none: written to a
/// temporary name, synced, then renamed (a crash leaves either no spare or
/// a whole one).
pub(crate) fn prepare(dir: &Path) -> std::io::Result<()> {
    let spare = dir.join(SPARE);
    if spare.exists() {
        return Ok(());
    }
    let tmp = dir.join(format!("{SPARE}.tmp"));
    let mut file = File::create(&tmp)?;
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..PREPARED_BYTES.div_ceil(1 << 20) {
        file.write_all(&zeros)?;
    }
    file.sync_all()?;
    // Closed before it is renamed (Windows renames no open file).
    drop(file);
    std::fs::rename(&tmp, &spare)
}

/// Whether the bytes of `file` from `from` to `to` are all zeros.
pub(super) fn zeros(file: &File, from: u64, to: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        log::read_exact_at(file, &mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Reads every journal file of `dir`, oldest first. Frames end where the
/// file or its prepared zeros begin; the newest file may end in a torn frame
/// (cut); a file holding nothing but zeros after its header holds no frame,
/// whatever its header (torn while it was started). Any other damage is
/// refused with the file and what is wrong with it: a file older than the
/// newest was complete before the next was started.
pub(crate) fn read(dir: &Path) -> Result<Found, (PathBuf, String)> {
    let io = |path: &Path, what: &str, e: std::io::Error| {
        (path.to_path_buf(), format!("{what} it: {e}"))
    };
    let listed = files(dir).map_err(|e| io(dir, "listing", e))?;
    let mut found = Found {
        next: listed.last().map_or(1, |(n, _)| n + 1),
        ..Found::default()
    };
    for (i, (_, path)) in listed.iter().enumerate() {
        let newest = i + 1 == listed.len();
        let file = File::open(path).map_err(|e| io(path, "opening", e))?;
        let len = file.metadata().map_err(|e| io(path, "reading", e))?.len();
        found.files.push(path.clone());
        if zeros(&file, log::SEG_HEADER, len).map_err(|e| io(path, "reading", e))? {
            continue;
        }
        let format = log::read_format(&file, len).map_err(|e| io(path, "reading", e))?;
        let Some(format @ log::Format::V2 { .. }) = format else {
            return Err((path.clone(), "its header is damaged".into()));
        };
        let mut reader = FrameReader::with_format(&file, format, format.data_start(), len);
        loop {
            match reader.next().map_err(|e| io(path, "reading", e))? {
                Next::End => break,
                Next::Frame { payload, .. } => found.frames.push(payload.to_vec()),
                Next::Bad { offset, .. }
                    if zeros(&file, offset, len).map_err(|e| io(path, "reading", e))? =>
                {
                    break
                }
                Next::Bad { offset, reason } => {
                    if let Some(next) = reader.resync(offset).map_err(|e| io(path, "reading", e))? {
                        return Err((
                            path.clone(),
                            format!("{reason} at byte {offset}, with an intact frame at byte {next} after it"),
                        ));
                    }
                    if !newest {
                        return Err((
                            path.clone(),
                            format!(
                                "{reason} at byte {offset}, in a journal file a newer one follows"
                            ),
                        ));
                    }
                    found.cut = len - offset;
                    break;
                }
            }
        }
    }
    Ok(found)
}

impl Journal {
    /// Starts journal file number `number` in `dir`, its header and the
    /// folder synced (a frame appended to it is found after a crash).
    /// The file is the spare one [`prepare`] left, when there is one.
    pub(crate) fn create(dir: &Path, number: u64) -> std::io::Result<Journal> {
        let path = dir.join(format!("journal.{number}.log"));
        let prepared = std::fs::rename(dir.join(SPARE), &path).is_ok();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(!prepared)
            .open(&path)?;
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            number,
            file,
            path,
            salt: 0,
            len: 0,
            since: Instant::now(),
            every: CHECKPOINT_AFTER,
            frame: Vec::new(),
            stopped: None,
        };
        journal.start(!prepared)?;
        sync_dir(dir)?;
        Ok(journal)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one frame and syncs it.
    pub(crate) fn append(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.frame.clear();
        log::frame(payload, self.salt, &mut self.frame);
        if let Err(e) = self
            .file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(&self.frame))
            .and_then(|()| self.file.sync_data())
        {
            // Whatever part reached the file is cut, so that a later frame
            // does not follow a torn one; if even that fails, writes stop.
            if let Err(cut) = self.file.set_len(self.len) {
                self.stop(format!("a failed write could not be cut: {cut}"));
            }
            return Err(e);
        }
        self.len += self.frame.len() as u64;
        Ok(())
    }

    /// Stops writes: after a frame was synced, its group's commit (or a
    /// checkpoint) failed, so the journal no longer follows the B-tree. A
    /// restart of the engine applies the journal again.
    pub(crate) fn stop(&mut self, why: String) {
        self.stopped.get_or_insert(why);
    }

    /// Why writes stopped, if they did.
    pub(crate) fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether the write buffer should be checkpointed.
    pub(crate) fn due(&self) -> bool {
        self.len >= CHECKPOINT_BYTES || self.since.elapsed() >= self.every
    }

    /// Checkpoints by size, or also every `every` (tests).
    #[cfg(test)]
    pub(crate) fn checkpoint_every(&mut self, every: Duration) {
        self.every = every;
    }

    /// Goes on in a new journal file (the next number) and returns the path
    /// of the one before, which a checkpoint of the write buffer as it is
    /// now makes unneeded.
    pub(crate) fn rotate(&mut self) -> std::io::Result<PathBuf> {
        let mut next = Journal::create(&self.dir, self.number + 1)?;
        next.every = self.every;
        next.stopped = self.stopped.take();
        let old = std::mem::replace(self, next);
        Ok(old.path)
    }

    /// Starts this journal file again (after a durable commit holding every
    /// frame's changes): a new header, with a new salt.
    pub(crate) fn restart(&mut self) -> std::io::Result<()> {
        self.start(true)
    }

    /// Writes a new header (a new salt), after emptying the file or over
    /// the zeros of a prepared one, and syncs it.
    fn start(&mut self, empty: bool) -> std::io::Result<()> {
        self.salt = log::new_salt();
        if empty {
            self.file.set_len(0)?;
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&log::segment_header(0, self.salt))?;
        self.file.sync_data()?;
        self.len = log::SEG_HEADER;
        self.since = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change as a test writes it: kind, space, key, value.
    type Change<'a> = (u8, u8, &'a [u8], Option<&'a [u8]>);

    fn payload(ops: &[Change<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        begin(&mut out);
        for &(kind, space, key, value) in ops {
            push(&mut out, kind, space, key, value);
        }
        out
    }

    #[test]
    fn changes_read_back_as_written() {
        let p = payload(&[
            (PUT, 1, b"k1", Some(b"v1")),
            (DELETE, 2, b"k2", None),
            (CLEAR, 3, b"", None),
        ]);
        let ops = ops(&p).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[0].kind, ops[0].key, ops[0].value),
            (PUT, &b"k1"[..], &b"v1"[..])
        );
        assert_eq!(
            (ops[1].kind, ops[1].space, ops[1].key),
            (DELETE, 2, &b"k2"[..])
        );
        assert_eq!((ops[2].kind, ops[2].key), (CLEAR, &b""[..]));
        assert!(is_empty(&payload(&[])));
    }

    #[test]
    fn a_payload_cut_short_or_of_another_version_is_refused() {
        let p = payload(&[(PUT, 1, b"key", Some(b"value"))]);
        for n in 2..p.len() {
            assert!(ops(&p[..n]).is_err(), "cut at {n}");
        }
        let mut other = p.clone();
        other[0] = 9;
        assert!(ops(&other).unwrap_err().contains("format 9"));
        assert!(ops(&[]).is_err());
    }

    /// A journal file numbered `number` in `dir` holding `frames`.
    fn written(dir: &Path, number: u64, frames: &[&[u8]]) -> PathBuf {
        let mut j = Journal::create(dir, number).unwrap();
        for f in frames {
            j.append(f).unwrap();
        }
        j.path().to_path_buf()
    }

    fn frames(found: &Found) -> Vec<&[u8]> {
        found.frames.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn frames_come_back_in_order_oldest_file_first() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), 2, &[b"\x01three"]);
        written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
        let r = read(dir.path()).unwrap();
        assert_eq!(frames(&r), [&b"\x01one"[..], b"\x01two", b"\x01three"]);
        assert_eq!((r.cut, r.files.len(), r.next), (0, 2, 3));
    }

    #[test]
    fn a_rotated_journal_goes_on_in_the_next_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), 1).unwrap();
        j.append(b"\x01one").unwrap();
        let old = j.rotate().unwrap();
        j.append(b"\x01two").unwrap();
        assert_eq!(old, dir.path().join("journal.1.log"));
        assert_eq!(j.path(), dir.path().join("journal.2.log"));
        assert_eq!(
            frames(&read(dir.path()).unwrap()),
            [&b"\x01one"[..], b"\x01two"]
        );
        std::fs::remove_file(old).unwrap();
        assert_eq!(frames(&read(dir.path()).unwrap()), [&b"\x01two"[..]]);
    }

    #[test]
    fn the_single_file_of_earlier_versions_is_read_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), 0, &[b"\x01old"]);
        std::fs::rename(path, dir.path().join("journal.log")).unwrap();
        written(dir.path(), 1, &[b"\x01new"]);
        assert_eq!(
            frames(&read(dir.path()).unwrap()),
            [&b"\x01old"[..], b"\x01new"]
        );
    }

    #[test]
    fn a_prepared_file_ends_where_its_zeros_begin() {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path()).unwrap();
        let path = written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
        assert!(!dir.path().join(SPARE).exists(), "the spare was taken");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), PREPARED_BYTES);
        let r = read(dir.path()).unwrap();
        assert_eq!(frames(&r), [&b"\x01one"[..], b"\x01two"]);
        assert_eq!(r.cut, 0, "zeros are no torn frame");
        // Its header torn in a crash while it was started: nothing in it.
        let mut bytes = std::fs::read(&path).unwrap();
        let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
        bytes[log::SEG_HEADER as usize..end].fill(0);
        bytes[3] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(dir.path()).unwrap().frames.is_empty());
    }

    #[test]
    fn a_torn_last_frame_is_cut_and_nothing_before_it_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), 1, &[b"\x01one", b"\x01two"]);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 2).unwrap();
        let r = read(dir.path()).unwrap();
        assert_eq!(frames(&r), [&b"\x01one"[..]]);
        assert!(r.cut > 0);
        // In a file a newer one follows, the same tear is damage.
        written(dir.path(), 2, &[b"\x01three"]);
        let (file, err) = read(dir.path()).unwrap_err();
        assert_eq!(file, path);
        assert!(err.contains("a newer one follows"), "{err}");
    }

    #[test]
    fn a_damaged_frame_before_an_intact_one_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), 1, &[b"\x01first-frame", b"\x01second-frame"]);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"first").unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (file, err) = read(dir.path()).unwrap_err();
        assert_eq!(file, path);
        assert!(err.contains("intact frame"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_damaged_header_is_refused_and_a_torn_one_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), 1, &[b"\x01one"]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(dir.path())
            .unwrap_err()
            .1
            .contains("header is damaged"));
        // Torn while started: part of a header, or a header's length of
        // zeros (its bytes never reached the disk).
        for torn in [bytes[..7].to_vec(), vec![0u8; log::SEG_HEADER as usize]] {
            std::fs::write(&path, &torn).unwrap();
            let r = read(dir.path()).unwrap();
            assert!(r.frames.is_empty());
            assert_eq!(r.files, std::slice::from_ref(&path));
        }
    }
}
