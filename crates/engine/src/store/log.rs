//! Log frames and segment files.
//!
//! A segment (format 2) starts with a 20-byte header
//! `["WRYDLOG" 0x02][segment id u32][salt u32][crc32 of the 16 bytes before u32]`
//! followed by frames
//! `["WRf2"][len u32][crc32 of payload u32][crc32 of the 12 bytes before, seeded with the salt u32][payload]`
//! (little endian). The marker and the header checksum make frames findable
//! after a damaged region: a scan tries every offset holding the marker and
//! keeps the first whose header and payload checksums hold. The salt is drawn
//! when the data dir is created and never leaves it, so a frame embedded by a
//! client in its record data cannot pass for a frame of the log.
//!
//! Segments written before format 2 (no header, frames `[len u32][crc32
//! u32][payload]`) are still read; they cannot be scanned past a damaged frame.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

pub(crate) const ACTIVE: &str = "kinesis.log";

const SEG_MAGIC: [u8; 8] = *b"WRYDLOG\x02";
/// Length of a format-2 segment header.
pub(crate) const SEG_HEADER: u64 = 20;
const FRAME_MAGIC: [u8; 4] = *b"WRf2";
/// Length of a format-2 frame header.
pub(crate) const FRAME_HEADER: usize = 16;

/// Appends one frame holding `payload` to `out` (format 2, `salt` of the
/// data dir).
pub(crate) fn frame(payload: &[u8], salt: u32, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let hcrc = header_crc(salt, &out[start..start + 12]);
    out.extend_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(payload);
}

fn header_crc(salt: u32, head: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(head);
    h.finalize()
}

/// The header of a new format-2 segment.
pub(crate) fn segment_header(id: u32, salt: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEG_HEADER as usize);
    out.extend_from_slice(&SEG_MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&salt.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
    out
}

/// A salt for a new data dir (random keys of the standard library's hasher).
pub(crate) fn new_salt() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// How a segment's frames are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Before format 2: no segment header, no marker, no header checksum.
    V1,
    /// Format 2, with the segment's id and salt.
    V2 { id: u32, salt: u32 },
}

impl Format {
    /// Offset of the first frame.
    pub(crate) fn data_start(self) -> u64 {
        match self {
            Format::V1 => 0,
            Format::V2 { .. } => SEG_HEADER,
        }
    }
}

/// Reads the format of a segment file of `len` bytes: `Ok(None)` when the
/// header is damaged (a format-2 marker with a bad checksum, or a file too
/// short to say).
pub(crate) fn read_format(file: &File, len: u64) -> std::io::Result<Option<Format>> {
    if len == 0 {
        return Ok(Some(Format::V1));
    }
    let mut head = [0u8; SEG_HEADER as usize];
    let n = (len as usize).min(head.len());
    read_exact_at(file, &mut head[..n], 0)?;
    if n < SEG_HEADER as usize {
        // A format-1 file starts with a frame length (little endian, far
        // below 2^30): never with the marker.
        return Ok(if head[..n.min(4)] == SEG_MAGIC[..n.min(4)] {
            None
        } else {
            Some(Format::V1)
        });
    }
    let crc = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
    if head[..8] == SEG_MAGIC && crc32fast::hash(&head[..16]) == crc {
        let id = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        let salt = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        return Ok(Some(Format::V2 { id, salt }));
    }
    // A damaged header (some of the marker survived) or a format-1 file.
    let marker = head[..8]
        .iter()
        .zip(&SEG_MAGIC)
        .filter(|(a, b)| a == b)
        .count();
    Ok(if marker >= 4 { None } else { Some(Format::V1) })
}

/// An open segment file: readers `pread` it through shared handles. Its path
/// follows the file when the active segment is sealed (renamed).
#[derive(Debug)]
pub(crate) struct SegFile {
    pub(crate) file: File,
    pub(crate) format: Format,
    path: Mutex<PathBuf>,
}

impl SegFile {
    pub(crate) fn new(file: File, format: Format, path: PathBuf) -> Self {
        SegFile {
            file,
            format,
            path: Mutex::new(path),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.path.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_path(&self, path: PathBuf) {
        *self.path.lock().unwrap_or_else(|p| p.into_inner()) = path;
    }
}

impl std::ops::Deref for SegFile {
    type Target = File;
    fn deref(&self) -> &File {
        &self.file
    }
}

/// Fills `buf` from `offset` without moving a shared cursor (`pread`), so
/// readers share file handles.
#[cfg(unix)]
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `offset` with positioned reads (`ReadFile` with an
/// offset; the handle's cursor is not relied upon).
#[cfg(windows)]
pub(crate) fn read_exact_at(
    file: &File,
    mut buf: &mut [u8],
    mut offset: u64,
) -> std::io::Result<()> {
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

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let context = context.into();
    move |source| EngineError::Io { context, source }
}

pub(crate) fn sealed_name(id: u32) -> String {
    format!("kinesis-{id:010}.log")
}

pub(crate) fn parse_sealed(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("kinesis-")?.strip_suffix(".log")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The path of segment `id` in `dir` (sealed or active).
pub(crate) fn segment_path(dir: &Path, id: u32, active: bool) -> PathBuf {
    if active {
        dir.join(ACTIVE)
    } else {
        dir.join(sealed_name(id))
    }
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
    format: Format,
    len: u64,
    at: u64,
    buf: Vec<u8>,
    buf_at: u64,
}

impl<'f> FrameReader<'f> {
    /// Reads frames of `seg` from `at` up to `len` bytes.
    pub(crate) fn new(seg: &'f SegFile, at: u64, len: u64) -> Self {
        Self::with_format(&seg.file, seg.format, at, len)
    }

    pub(crate) fn with_format(file: &'f File, format: Format, at: u64, len: u64) -> Self {
        FrameReader {
            file,
            format,
            len,
            at,
            buf: Vec::new(),
            buf_at: 0,
        }
    }

    /// Goes on reading at `at` (after a damaged region).
    pub(crate) fn seek(&mut self, at: u64) {
        self.at = at;
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

    /// Checks the frame at `at` without moving on: its total length, or why
    /// it is bad.
    fn check(&mut self, at: u64) -> std::io::Result<Result<u64, &'static str>> {
        let salt = match self.format {
            Format::V1 => None,
            Format::V2 { salt, .. } => Some(salt),
        };
        let head = if salt.is_some() { FRAME_HEADER } else { 8 };
        if self.len - at < head as u64 {
            return Ok(Err("torn frame header"));
        }
        self.fill(at, head)?;
        let h = self.slice(at, head);
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (len, crc) = match salt {
            None => (word(0), word(4)),
            Some(salt) => {
                if h[..4] != FRAME_MAGIC {
                    return Ok(Err("no frame marker"));
                }
                if header_crc(salt, &h[..12]) != word(12) {
                    return Ok(Err("frame header checksum mismatch"));
                }
                (word(4), word(8))
            }
        };
        if len > MAX_FRAME {
            return Ok(Err("frame length out of range"));
        }
        if self.len - at - (head as u64) < u64::from(len) {
            return Ok(Err("torn frame"));
        }
        self.fill(at, head + len as usize)?;
        if crc32fast::hash(self.slice(at + head as u64, len as usize)) != crc {
            return Ok(Err("checksum mismatch"));
        }
        Ok(Ok(head as u64 + u64::from(len)))
    }

    pub(crate) fn next(&mut self) -> std::io::Result<Next<'_>> {
        let at = self.at;
        if at >= self.len {
            return Ok(Next::End);
        }
        match self.check(at)? {
            Err(reason) => Ok(Next::Bad { offset: at, reason }),
            Ok(total) => {
                self.at = at + total;
                let head = self.head_len();
                Ok(Next::Frame {
                    offset: at,
                    payload: self.slice(at + head, (total - head) as usize),
                })
            }
        }
    }

    fn head_len(&self) -> u64 {
        match self.format {
            Format::V1 => 8,
            Format::V2 { .. } => FRAME_HEADER as u64,
        }
    }

    /// The offset of the first intact frame after `from` (format 2 only;
    /// format-1 frames cannot be told from data), or `None`.
    pub(crate) fn resync(&mut self, from: u64) -> std::io::Result<Option<u64>> {
        if self.format == Format::V1 {
            return Ok(None);
        }
        let mut at = from + 1;
        while at + FRAME_HEADER as u64 <= self.len {
            let n = (CHUNK as u64).min(self.len - at) as usize;
            let mut chunk = vec![0u8; n];
            read_exact_at(self.file, &mut chunk, at)?;
            let mut found = None;
            for i in 0..n.saturating_sub(3) {
                if chunk[i..i + 4] == FRAME_MAGIC {
                    let cand = at + i as u64;
                    if self.check(cand)?.is_ok() {
                        found = Some(cand);
                        break;
                    }
                }
            }
            if found.is_some() {
                return Ok(found);
            }
            // Overlap by the marker's length so one split across chunks is seen.
            at += n.saturating_sub(3).max(1) as u64;
        }
        Ok(None)
    }
}
