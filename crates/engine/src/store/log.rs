//! The durable log: append-only segment files of checksummed frames
//! `[len u32 LE][crc32 u32 LE][payload]`, written by a single writer task that
//! group-commits every pending append with one `fdatasync`.
//!
//! The active segment is `kinesis.log`; when it grows past the segment size it
//! is renamed to `kinesis-<id>.log` (sealed, never written again) and a new
//! `kinesis.log` starts with a metadata snapshot, so sealed segments whose
//! records are all past retention can be deleted. Readers `pread` frames of any
//! segment through shared file handles.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::EngineError;

/// Largest payload a frame may carry. A PutRecords call is at most ~5 MiB,
/// but stream metadata and snapshots grow with the shards ever created
/// (~150 bytes each, closed ones included), so the bound is far above both;
/// writers check it ([`fits`]) so that recovery never meets a frame it cuts.
pub(crate) const MAX_FRAME: u32 = 1 << 30;

/// Whether a payload of `len` bytes fits in one frame.
pub(crate) fn fits(len: usize) -> bool {
    len <= MAX_FRAME as usize
}

/// Bytes read ahead when scanning frames (one index entry's span).
const CHUNK: usize = 256 << 10;

const ACTIVE: &str = "kinesis.log";

pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Fills `buf` from `offset` without moving a shared cursor (`pread`), so
/// readers share file handles.
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `offset` with positioned reads (`ReadFile` with an
/// offset; the handle's cursor is not relied upon).
#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let context = context.into();
    move |source| EngineError::Io { context, source }
}

fn sealed_name(id: u32) -> String {
    format!("kinesis-{id:010}.log")
}

fn parse_sealed(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("kinesis-")?.strip_suffix(".log")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What [`FrameReader::next`] found.
pub(crate) enum Next<'a> {
    /// An intact frame at `offset`.
    Frame { offset: u64, payload: &'a [u8] },
    /// Clean end of the readable bytes.
    End,
    /// A torn or corrupt frame starts at this offset.
    Bad { offset: u64, reason: &'static str },
}

/// Sequential frame reader over a file with positioned reads (no shared cursor).
pub(crate) struct FrameReader<'f> {
    file: &'f File,
    len: u64,
    at: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

impl<'f> FrameReader<'f> {
    /// Reads frames of `file` from `at` up to `len` bytes.
    pub(crate) fn new(file: &'f File, at: u64, len: u64) -> Self {
        FrameReader {
            file,
            len,
            at,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// Makes `n` bytes at `at` available in the buffer.
    fn fill(&mut self, at: u64, n: usize) -> std::io::Result<()> {
        let end = at + n as u64;
        if at >= self.buf_at && end <= self.buf_at + self.buf.len() as u64 {
            return Ok(());
        }
        let size = (n.max(CHUNK) as u64).min(self.len - at) as usize;
        self.buf.clear();
        self.buf.resize(size, 0);
        read_exact_at(self.file, &mut self.buf, at)?;
        self.buf_at = at;
        Ok(())
    }

    fn slice(&self, at: u64, n: usize) -> &[u8] {
        let start = (at - self.buf_at) as usize;
        &self.buf[start..start + n]
    }

    pub(crate) fn next(&mut self) -> std::io::Result<Next<'_>> {
        let at = self.at;
        if at >= self.len {
            return Ok(Next::End);
        }
        if self.len - at < 8 {
            return Ok(Next::Bad {
                offset: at,
                reason: "torn frame header",
            });
        }
        self.fill(at, 8)?;
        let h = self.slice(at, 8);
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len > MAX_FRAME {
            return Ok(Next::Bad {
                offset: at,
                reason: "frame length out of range",
            });
        }
        if self.len - at - 8 < u64::from(len) {
            return Ok(Next::Bad {
                offset: at,
                reason: "torn frame",
            });
        }
        self.fill(at, 8 + len as usize)?;
        if crc32fast::hash(self.slice(at + 8, len as usize)) != crc {
            return Ok(Next::Bad {
                offset: at,
                reason: "checksum mismatch",
            });
        }
        self.at = at + 8 + u64::from(len);
        Ok(Next::Frame {
            offset: at,
            payload: self.slice(at + 8, len as usize),
        })
    }
}

/// An open data dir: the lock file and the log segments.
pub(crate) struct DataDir {
    dir: PathBuf,
    _lock: File,
    /// The active segment (`kinesis.log`).
    pub(crate) active: Arc<File>,
    pub(crate) active_id: u32,
    /// Durable length of the active segment.
    pub(crate) active_len: u64,
    pub(crate) log_path: PathBuf,
}

/// A segment found by [`DataDir::open`].
pub(crate) struct OpenedSegment {
    pub(crate) id: u32,
    pub(crate) file: Arc<File>,
    pub(crate) len: u64,
}

/// What [`DataDir::open`] reports while replaying, in log order.
pub(crate) enum Replay<'a> {
    /// A segment (reported again with its final length after a tail cut).
    Segment(&'a OpenedSegment),
    /// An intact frame.
    Frame {
        seg: u32,
        offset: u64,
        payload: &'a [u8],
    },
}

impl DataDir {
    /// Locks `dir` and reads every intact frame of its segments in order
    /// (`on_frame(segment id, offset, payload)`); cuts a torn or corrupt tail of
    /// the active segment. A bad frame in a sealed segment is an error.
    pub(crate) fn open(
        dir: &Path,
        mut on: impl FnMut(Replay<'_>) -> Result<(), EngineError>,
    ) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating data dir {}", dir.display())))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::Locked(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io(format!("locking {}", lock_path.display()))(e))
            }
        }
        let mut sealed: Vec<u32> = std::fs::read_dir(dir)
            .map_err(io(format!("listing data dir {}", dir.display())))?
            .filter_map(|e| e.ok())
            .filter_map(|e| parse_sealed(e.file_name().to_str()?))
            .collect();
        sealed.sort_unstable();
        for &id in &sealed {
            let path = dir.join(sealed_name(id));
            let file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
            let len = file
                .metadata()
                .map_err(io(format!("reading the size of {}", path.display())))?
                .len();
            let seg = OpenedSegment {
                id,
                file: Arc::new(file),
                len,
            };
            on(Replay::Segment(&seg))?;
            let mut reader = FrameReader::new(&seg.file, 0, len);
            loop {
                match reader
                    .next()
                    .map_err(io(format!("reading {}", path.display())))?
                {
                    Next::Frame { offset, payload } => on(Replay::Frame {
                        seg: id,
                        offset,
                        payload,
                    })?,
                    Next::End => break,
                    Next::Bad { offset, reason } => {
                        return Err(EngineError::Corrupt {
                            path,
                            offset,
                            reason: format!(
                            "{reason} in a sealed segment; move the file away to start without it"
                        ),
                        })
                    }
                }
            }
        }
        let active_id = sealed.last().map_or(0, |id| id + 1);
        let log_path = dir.join(ACTIVE);
        let log = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        let len = log
            .metadata()
            .map_err(io(format!("reading the size of {}", log_path.display())))?
            .len();
        let seg = OpenedSegment {
            id: active_id,
            file: Arc::new(log),
            len,
        };
        on(Replay::Segment(&seg))?;
        let mut reader = FrameReader::new(&seg.file, 0, len);
        let good_end = loop {
            match reader
                .next()
                .map_err(io(format!("reading {}", log_path.display())))?
            {
                Next::Frame { offset, payload } => on(Replay::Frame {
                    seg: active_id,
                    offset,
                    payload,
                })?,
                Next::End => break len,
                Next::Bad { offset, .. } => break offset,
            }
        };
        if good_end < len {
            tracing::warn!(
                path = %log_path.display(),
                kept = good_end,
                cut = len - good_end,
                "cutting a torn or corrupt log tail"
            );
            seg.file
                .set_len(good_end)
                .and_then(|()| seg.file.sync_all())
                .map_err(io(format!("truncating {}", log_path.display())))?;
        }
        on(Replay::Segment(&OpenedSegment {
            id: active_id,
            file: seg.file.clone(),
            len: good_end,
        }))?;
        sync_dir(dir).map_err(io(format!("syncing {}", dir.display())))?;
        Ok(DataDir {
            dir: dir.to_path_buf(),
            _lock: lock,
            active: seg.file,
            active_id,
            active_len: good_end,
            log_path,
        })
    }

    /// Appends `bytes` (whole frames) and makes them durable; returns the
    /// offset they start at.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let at = self.active_len;
        let mut f: &File = &self.active;
        f.write_all(bytes)?;
        f.sync_data()?;
        self.active_len += bytes.len() as u64;
        Ok(at)
    }

    /// Seals the active segment and starts a new one holding `first` (whole
    /// frames, made durable). Returns the sealed id.
    pub(crate) fn rotate(&mut self, first: &[u8]) -> std::io::Result<u32> {
        let sealed = self.active_id;
        self.active.sync_all()?;
        std::fs::rename(&self.log_path, self.dir.join(sealed_name(sealed)))?;
        let log = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.log_path)?;
        log.set_len(0)?;
        self.active = Arc::new(log);
        self.active_id = sealed + 1;
        self.active_len = 0;
        let mut f: &File = &self.active;
        f.write_all(first)?;
        f.sync_all()?;
        self.active_len = first.len() as u64;
        // The rename and the new file must be durable before records written
        // to it are acknowledged.
        sync_dir(&self.dir)?;
        Ok(sealed)
    }

    /// Deletes a sealed segment.
    pub(crate) fn remove(&self, id: u32) -> std::io::Result<()> {
        std::fs::remove_file(self.dir.join(sealed_name(id)))?;
        sync_dir(&self.dir)
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.active.sync_all()
    }
}

/// Makes renames, creations and deletions in `dir` durable. Windows cannot
/// open a directory as a file (and NTFS journals its metadata): a no-op there.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
