//! The DynamoDB write journal: what makes a write durable between two
//! checkpoints of the B-tree.
//!
//! A redb commit with immediate durability rewrites every B-tree page the
//! transaction touched and syncs them: a ride file loaded in time order puts
//! each item of a batch into another unicorn's partition, so every item cost
//! a 4 KiB page write (measured on 2026-12-03: 640 KiB written and synced per
//! group of ~90 items, 8 ms on this machine's disk). Instead, each write
//! group is appended to this journal as one frame (its key/value changes,
//! ~200 bytes an item) and synced before the group is committed to redb
//! without a sync and answered; every [`CHECKPOINT_BYTES`] or
//! [`CHECKPOINT_AFTER`], a group is committed with immediate durability (the
//! pages of all the groups since, each written once) and the journal starts
//! again.
//!
//! The file, `dynamodb/journal.log`, uses the Kinesis log's layout
//! ([`crate::store::log`]: a checksummed header with a salt, then frames
//! with a marker, their length and checksums). At start, every intact frame
//! is applied again, in order, on top of the last durable commit: a frame
//! holds absolute puts, deletes and range clears, so applying frames that
//! the B-tree already holds changes nothing. A torn frame at the end (a
//! crash during its write: never acknowledged) is cut, with a warning; a
//! damaged frame followed by an intact one refuses the start and names the
//! file.
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

/// The open journal.
#[derive(Debug)]
pub(crate) struct Journal {
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

/// What [`Journal::open`] found.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub journal: Journal,
    /// The payloads of the intact frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// Bytes of a torn last frame that were cut.
    pub cut: u64,
}

impl Journal {
    /// Opens `dir/journal.log` (creating it when missing) and reads its
    /// intact frames. A damaged frame with an intact one after it, or a
    /// damaged header on a file longer than a header, is refused with
    /// `Err(detail)`; the file is left as it was.
    pub(crate) fn open(dir: &Path) -> Result<Recovered, String> {
        let path = dir.join("journal.log");
        let shown = path.display().to_string();
        let io = |what: &str, e: std::io::Error| format!("{what} {shown}: {e}");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("opening", e))?;
        let len = file.metadata().map_err(|e| io("reading", e))?.len();
        let mut frames = Vec::new();
        let mut cut = 0;
        let format = log::read_format(&file, len).map_err(|e| io("reading", e))?;
        // A file no longer than a header holds no frame (frames follow a
        // synced header): a journal torn while it was started again.
        if len > log::SEG_HEADER {
            let Some(format @ log::Format::V2 { .. }) = format else {
                return Err("its header is damaged".into());
            };
            let mut reader = FrameReader::with_format(&file, format, format.data_start(), len);
            loop {
                match reader.next().map_err(|e| io("reading", e))? {
                    Next::End => break,
                    Next::Frame { payload, .. } => frames.push(payload.to_vec()),
                    Next::Bad { offset, reason } => {
                        if let Some(next) = reader.resync(offset).map_err(|e| io("reading", e))? {
                            return Err(format!(
                                "{reason} at byte {offset}, with an intact frame at byte {next} after it"
                            ));
                        }
                        cut = len - offset;
                        break;
                    }
                }
            }
        }
        let mut journal = Journal {
            file,
            path,
            salt: 0,
            len,
            since: Instant::now(),
            every: CHECKPOINT_AFTER,
            frame: Vec::new(),
            stopped: None,
        };
        if frames.is_empty() {
            // Nothing to keep (a torn frame alone is cut with the rest).
            journal.restart().map_err(|e| io("starting", e))?;
            sync_dir(dir).map_err(|e| io("syncing the folder of", e))?;
        }
        Ok(Recovered {
            journal,
            frames,
            cut,
        })
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

    /// Stops writes: after a frame was synced, its group's commit (or the
    /// journal's restart) failed, so the journal no longer follows the
    /// B-tree. A restart of the engine applies the journal again.
    pub(crate) fn stop(&mut self, why: String) {
        self.stopped.get_or_insert(why);
    }

    /// Why writes stopped, if they did.
    pub(crate) fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Whether the next group should be a checkpoint.
    pub(crate) fn due(&self) -> bool {
        self.len >= CHECKPOINT_BYTES || self.since.elapsed() >= self.every
    }

    /// Checkpoints by size only (tests that need frames to stay).
    #[cfg(test)]
    pub(crate) fn checkpoint_by_size_only(&mut self) {
        self.every = Duration::MAX;
    }

    /// Starts the journal again (after a durable commit holding every
    /// frame's changes): a new header, with a new salt.
    pub(crate) fn restart(&mut self) -> std::io::Result<()> {
        self.salt = log::new_salt();
        self.file.set_len(0)?;
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

    fn written(dir: &Path, frames: &[&[u8]]) -> PathBuf {
        let mut j = Journal::open(dir).unwrap().journal;
        for f in frames {
            j.append(f).unwrap();
        }
        j.path().to_path_buf()
    }

    #[test]
    fn frames_come_back_in_order_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), &[b"\x01one", b"\x01two"]);
        let r = Journal::open(dir.path()).unwrap();
        assert_eq!(r.frames, vec![b"\x01one".to_vec(), b"\x01two".to_vec()]);
        assert_eq!(r.cut, 0);
    }

    #[test]
    fn a_torn_last_frame_is_cut_and_nothing_before_it_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"\x01one", b"\x01two"]);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 2).unwrap();
        let r = Journal::open(dir.path()).unwrap();
        assert_eq!(r.frames, vec![b"\x01one".to_vec()]);
        assert!(r.cut > 0);
    }

    #[test]
    fn a_damaged_frame_before_an_intact_one_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"\x01first-frame", b"\x01second-frame"]);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"first").unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(err.contains("intact frame"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_damaged_header_is_refused_and_a_torn_one_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"\x01one"]);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(Journal::open(dir.path())
            .unwrap_err()
            .contains("header is damaged"));
        // Torn while started again: part of a header, or a header's length
        // of zeros (its bytes never reached the disk).
        for torn in [bytes[..7].to_vec(), vec![0u8; log::SEG_HEADER as usize]] {
            std::fs::write(&path, &torn).unwrap();
            let r = Journal::open(dir.path()).unwrap();
            assert!(r.frames.is_empty());
            assert_eq!(std::fs::metadata(&path).unwrap().len(), log::SEG_HEADER);
        }
    }
}
