//! The data dir: the lock, the segment files, scanning them at start and
//! appending to the active one.
//!
//! The active segment is `kinesis.log`; when it grows past the segment size it
//! is renamed to `kinesis-<id>.log` (sealed, never written again) and a new
//! `kinesis.log` starts with a metadata snapshot, so sealed segments whose
//! records are all past retention can be deleted.
//!
//! Scanning never changes a file. Only an incomplete last write (bytes after
//! the last intact frame of the active segment with no intact frame after
//! them) is cut, by [`Scanned::finish`]; any other damaged region is
//! [`EngineError::Damaged`] unless the scan is a repair's.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::log::{
    io, new_salt, parse_sealed, read_format, sealed_name, segment_header, segment_path, Format,
    FrameReader, Next, SegFile, ACTIVE, SEG_HEADER,
};
use crate::error::EngineError;

/// A damaged region met by a scan: `offset..end` of a segment, where `end`
/// is the next intact frame or the end of the file.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    pub(crate) offset: u64,
    pub(crate) end: u64,
    pub(crate) file_len: u64,
    pub(crate) reason: &'static str,
}

/// What a scan reports, in log order.
pub(crate) enum Replay<'a> {
    /// A segment and its length.
    Segment {
        id: u32,
        file: &'a Arc<SegFile>,
        len: u64,
    },
    /// An intact frame.
    Frame {
        seg: u32,
        offset: u64,
        payload: &'a [u8],
    },
    /// A damaged region (repair scans only; other scans stop with an error).
    Damage(&'a Damage),
}

/// Locks `dir` (creating it): one engine per data dir.
pub(crate) fn lock_dir(dir: &Path) -> Result<Arc<File>, EngineError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating data dir {}", dir.display())))?;
    let lock_path = dir.join("LOCK");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(format!("opening {}", lock_path.display())))?;
    match lock.try_lock() {
        Ok(()) => Ok(Arc::new(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(io(format!("locking {}", lock_path.display()))(e))
        }
    }
}

/// A scanned data dir, not yet changed (see [`Scanned::finish`]).
pub(crate) struct Scanned {
    dir: PathBuf,
    lock: Arc<File>,
    pub(crate) salt: u32,
    /// Sealed segments found, in order.
    pub(crate) sealed: Vec<u32>,
    /// The active segment when its file exists, and its length.
    active: Option<(Arc<SegFile>, u64)>,
    pub(crate) active_id: u32,
    /// Where an incomplete last write starts in the active segment.
    torn: Option<u64>,
}

fn open_segment(path: &Path, write: bool) -> Result<(File, u64), EngineError> {
    let file = OpenOptions::new()
        .read(true)
        .append(write)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    let len = file
        .metadata()
        .map_err(io(format!("reading the size of {}", path.display())))?
        .len();
    Ok((file, len))
}

/// Whether a bad format-1 frame at `offset` is an incomplete last write: it
/// runs past the end of the file, or ends exactly there.
fn v1_torn(file: &File, offset: u64, len: u64, reason: &str) -> std::io::Result<bool> {
    if reason != "checksum mismatch" {
        return Ok(true);
    }
    let mut h = [0u8; 4];
    super::log::read_exact_at(file, &mut h, offset)?;
    Ok(offset + 8 + u64::from(u32::from_le_bytes(h)) >= len)
}

/// Reads every frame of one segment. Damage (other than an incomplete last
/// write of the active segment, returned) is reported to `on` when `repair`,
/// an error otherwise.
fn scan_segment(
    id: u32,
    path: &Path,
    seg: &Arc<SegFile>,
    len: u64,
    active: bool,
    repair: bool,
    on: &mut impl FnMut(Replay<'_>) -> Result<(), EngineError>,
) -> Result<Option<u64>, EngineError> {
    on(Replay::Segment { id, file: seg, len })?;
    let reading = || io(format!("reading {}", path.display()));
    let mut reader = FrameReader::new(seg, seg.format.data_start().min(len), len);
    loop {
        let bad = match reader.next().map_err(reading())? {
            Next::Frame { offset, payload } => {
                on(Replay::Frame {
                    seg: id,
                    offset,
                    payload,
                })?;
                continue;
            }
            Next::End => return Ok(None),
            Next::Bad { offset, reason } => (offset, reason),
        };
        let (offset, reason) = bad;
        let resume = reader.resync(offset).map_err(reading())?;
        if active && resume.is_none() {
            let torn = match seg.format {
                Format::V1 => v1_torn(&seg.file, offset, len, reason).map_err(reading())?,
                Format::V2 { .. } => true,
            };
            if torn {
                return Ok(Some(offset));
            }
        }
        let damage = Damage {
            path: path.to_path_buf(),
            format: seg.format,
            offset,
            end: resume.unwrap_or(len),
            file_len: len,
            reason,
        };
        if !repair {
            return Err(EngineError::Damaged {
                path: damage.path,
                offset,
                reason: reason.to_string(),
                following: len - offset,
            });
        }
        on(Replay::Damage(&damage))?;
        match resume {
            Some(at) => reader.seek(at),
            None => return Ok(None),
        }
    }
}

impl Scanned {
    /// Reads every intact frame of the segments of the locked `dir` in order.
    /// Changes nothing on disk.
    pub(crate) fn scan(
        dir: &Path,
        lock: Arc<File>,
        repair: bool,
        mut on: impl FnMut(Replay<'_>) -> Result<(), EngineError>,
    ) -> Result<Self, EngineError> {
        let mut sealed: Vec<u32> = std::fs::read_dir(dir)
            .map_err(io(format!("listing data dir {}", dir.display())))?
            .filter_map(|e| e.ok())
            .filter_map(|e| parse_sealed(e.file_name().to_str()?))
            .collect();
        sealed.sort_unstable();
        let log_path = dir.join(ACTIVE);
        let mut files = Vec::new();
        for (k, &id) in sealed.iter().enumerate() {
            let path = dir.join(sealed_name(id));
            let (file, len) = open_segment(&path, false)?;
            let format =
                read_format(&file, len).map_err(io(format!("reading {}", path.display())))?;
            files.push((id, path, file, len, format, k));
        }
        let active = if log_path.exists() {
            Some(open_segment(&log_path, true)?)
        } else {
            None
        };
        let active_format = match &active {
            Some((f, len)) => {
                read_format(f, *len).map_err(io(format!("reading {}", log_path.display())))?
            }
            None => Some(Format::V1),
        };
        let salt = std::iter::once(active_format)
            .chain(files.iter().map(|f| f.4))
            .find_map(|f| match f {
                Some(Format::V2 { salt, .. }) => Some(salt),
                _ => None,
            })
            .unwrap_or_else(new_salt);
        let next_id = sealed.last().map_or(0, |id| id + 1);
        let active_id = match active_format {
            Some(Format::V2 { id, .. }) if id < next_id => {
                return Err(EngineError::Corrupt {
                    path: log_path,
                    offset: 0,
                    reason: format!(
                        "the active segment is segment {id} but {} exists",
                        sealed_name(next_id - 1)
                    ),
                })
            }
            Some(Format::V2 { id, .. }) => id,
            _ => next_id,
        };
        // A damaged segment header: frames are looked for with the dir's salt.
        let header_damage = |path: &Path, id: u32, len: u64| Damage {
            path: path.to_path_buf(),
            format: Format::V2 { id, salt },
            offset: 0,
            end: SEG_HEADER.min(len),
            file_len: len,
            reason: "damaged segment header",
        };
        let mut segs = Vec::new();
        for (id, path, file, len, format, _) in files {
            segs.push((id, path, file, len, format, false));
        }
        if let Some((file, len)) = active {
            segs.push((active_id, log_path.clone(), file, len, active_format, true));
        }
        let mut torn = None;
        let mut active_seg = None;
        for (id, path, file, len, format, is_active) in segs {
            let format = match format {
                Some(f) => f,
                // A new active segment whose header was being written.
                None if is_active && len <= SEG_HEADER => {
                    torn = Some(0);
                    Format::V2 { id, salt }
                }
                None => {
                    let d = header_damage(&path, id, len);
                    if !repair {
                        return Err(EngineError::Damaged {
                            path,
                            offset: 0,
                            reason: d.reason.into(),
                            following: len,
                        });
                    }
                    on(Replay::Damage(&d))?;
                    d.format
                }
            };
            let seg = Arc::new(SegFile::new(file, format, path.clone()));
            let cut = scan_segment(id, &path, &seg, len, is_active, repair, &mut on)?;
            if is_active {
                torn = torn.or(cut);
                active_seg = Some((seg, len));
            }
        }
        Ok(Scanned {
            dir: dir.to_path_buf(),
            lock,
            salt,
            sealed,
            active: active_seg,
            active_id,
            torn,
        })
    }

    /// Where an incomplete last write starts, if any.
    pub(crate) fn torn(&self) -> Option<u64> {
        self.torn
    }

    /// Makes the dir writable: cuts an incomplete last write and creates the
    /// active segment (with its header) if it is missing or empty.
    pub(crate) fn finish(self) -> Result<DataDir, EngineError> {
        let log_path = self.dir.join(ACTIVE);
        let ctx = |what: &str| io(format!("{what} {}", log_path.display()));
        let existing = match self.active {
            Some((seg, _)) => {
                // A repair may have cut the file since the scan.
                let mut len = seg
                    .file
                    .metadata()
                    .map_err(ctx("reading the size of"))?
                    .len();
                if let Some(good_end) = self.torn.filter(|t| *t < len) {
                    tracing::warn!(
                        path = %log_path.display(),
                        kept = good_end,
                        cut = len - good_end,
                        "cutting an incomplete last write"
                    );
                    seg.file
                        .set_len(good_end)
                        .and_then(|()| seg.file.sync_all())
                        .map_err(ctx("truncating"))?;
                    len = good_end;
                }
                Some((seg, len))
            }
            None => None,
        };
        let (active, len) = match existing {
            Some((seg, len)) if len > 0 => (seg, len),
            _ => {
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .append(true)
                    .open(&log_path)
                    .map_err(ctx("creating"))?;
                let header = segment_header(self.active_id, self.salt);
                file.set_len(0)
                    .and_then(|()| (&file).write_all(&header))
                    .and_then(|()| file.sync_all())
                    .map_err(ctx("writing the header of"))?;
                let format = Format::V2 {
                    id: self.active_id,
                    salt: self.salt,
                };
                (
                    Arc::new(SegFile::new(file, format, log_path.clone())),
                    SEG_HEADER,
                )
            }
        };
        sync_dir(&self.dir).map_err(io(format!("syncing {}", self.dir.display())))?;
        Ok(DataDir {
            dir: self.dir,
            lock: self.lock,
            active,
            active_id: self.active_id,
            active_len: len,
            log_path,
            salt: self.salt,
        })
    }
}

/// An open data dir: the lock file and the active segment.
pub(crate) struct DataDir {
    pub(crate) dir: PathBuf,
    pub(crate) lock: Arc<File>,
    /// The active segment (`kinesis.log`).
    pub(crate) active: Arc<SegFile>,
    pub(crate) active_id: u32,
    /// Durable length of the active segment.
    pub(crate) active_len: u64,
    pub(crate) log_path: PathBuf,
    /// The data dir's frame salt (see [`super::log`]).
    pub(crate) salt: u32,
}

impl DataDir {
    /// Appends `bytes` (whole frames) and makes them durable; returns the
    /// offset they start at.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let at = self.active_len;
        let mut f: &File = &self.active;
        faults::write(&self.dir, &mut f, bytes)?;
        f.sync_data()?;
        self.active_len += bytes.len() as u64;
        Ok(at)
    }

    /// Cuts the active segment back to its durable length after a failed
    /// write (bytes past it were never acknowledged).
    pub(crate) fn cut_back(&self) -> std::io::Result<()> {
        self.active.set_len(self.active_len)?;
        self.active.sync_all()
    }

    /// Seals the active segment and starts a new one holding `first` (whole
    /// frames, made durable). Returns the sealed id.
    pub(crate) fn rotate(&mut self, first: &[u8]) -> std::io::Result<u32> {
        let sealed = self.active_id;
        self.active.sync_all()?;
        let sealed_path = self.dir.join(sealed_name(sealed));
        std::fs::rename(&self.log_path, &sealed_path)?;
        self.active.set_path(sealed_path);
        let log = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&self.log_path)?;
        log.set_len(0)?;
        let id = sealed + 1;
        let format = Format::V2 {
            id,
            salt: self.salt,
        };
        self.active = Arc::new(SegFile::new(log, format, self.log_path.clone()));
        self.active_id = id;
        self.active_len = 0;
        let mut bytes = segment_header(id, self.salt);
        bytes.extend_from_slice(first);
        let mut f: &File = &self.active;
        faults::write(&self.dir, &mut f, &bytes)?;
        f.sync_all()?;
        self.active_len = bytes.len() as u64;
        // The rename and the new file must be durable before records written
        // to it are acknowledged.
        sync_dir(&self.dir)?;
        Ok(sealed)
    }

    /// Deletes a sealed segment.
    pub(crate) fn remove(&self, id: u32) -> std::io::Result<()> {
        std::fs::remove_file(segment_path(&self.dir, id, false))?;
        sync_dir(&self.dir)
    }

    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.active.sync_all()
    }
}

/// Makes renames, creations and deletions in `dir` durable. Windows cannot
/// open a directory as a file (and NTFS journals its metadata): a no-op there.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes that fail on demand, for the library's tests (a full disk without
/// a small filesystem): while a data dir is "full", a write stores half of
/// its bytes and fails with ENOSPC.
pub(crate) mod faults {
    use std::io::Write;
    use std::path::Path;

    #[cfg(test)]
    static FULL: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

    /// Makes writes to `dir` fail (`full`) or succeed again.
    #[cfg(test)]
    pub(crate) fn set_full(dir: &Path, full: bool) {
        let mut dirs = FULL.lock().unwrap_or_else(|p| p.into_inner());
        dirs.retain(|d| d != dir);
        if full {
            dirs.push(dir.to_path_buf());
        }
    }

    #[cfg(test)]
    fn is_full(dir: &Path) -> bool {
        FULL.lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|d| d == dir)
    }

    #[cfg(not(test))]
    fn is_full(_: &Path) -> bool {
        false
    }

    pub(super) fn write(dir: &Path, f: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        if is_full(dir) {
            f.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(28));
        }
        f.write_all(bytes)
    }
}
