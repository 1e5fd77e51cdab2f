//! The explicit repair of the DynamoDB write journal (`wildrydes repair
//! DIR`, beside the Kinesis log's). The start refuses a journal with a
//! damaged frame that intact ones follow, or a damaged end of a file a newer
//! one follows: those frames held acknowledged writes. The repair keeps
//! every intact frame of every file, drops each damaged region (saving its
//! bytes beside the report), sets aside a file whose header is damaged, and
//! names each loss. The torn end of the newest file is left for the start to
//! cut (never acknowledged). The B-tree file is not repaired: redb checks
//! every page at open, and a damaged one must be restored from a copy.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::journal::{files, zeros};
use crate::store::dir::sync_dir;
use crate::store::log::{self, FrameReader, Next};

/// What a repair of the journal found and dropped.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    /// One line per loss.
    pub(crate) lines: Vec<String>,
    /// Bytes of journal dropped.
    pub(crate) lost_bytes: u64,
}

/// One journal file's damage: the regions to drop (or the whole file when
/// its header is damaged) and the intact frames to keep.
struct Damaged {
    path: PathBuf,
    header: Option<(Vec<u8>, u32)>,
    regions: Vec<(u64, u64, &'static str)>,
    kept: Vec<Vec<u8>>,
    /// Where a torn last write starts (the newest file only).
    torn: Option<u64>,
}

/// Repairs the journal files of `dir` (`DATA_DIR/dynamodb`); the damaged
/// bytes go to `saved()`, a folder made only when something is dropped.
pub(crate) fn repair(
    dir: &Path,
    saved: impl FnOnce() -> std::io::Result<PathBuf>,
) -> std::io::Result<Dropped> {
    let mut out = Dropped::default();
    if !dir.is_dir() {
        return Ok(out);
    }
    let listed = files(dir)?;
    let mut damaged = Vec::new();
    for (i, (_, path)) in listed.iter().enumerate() {
        if let Some(d) = scan(path, i + 1 == listed.len())? {
            damaged.push(d);
        }
    }
    if damaged.is_empty() {
        return Ok(out);
    }
    let saved = saved()?;
    for d in damaged {
        let name = d
            .path
            .file_name()
            .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(&d.path)?;
        let Some((header, salt)) = &d.header else {
            std::fs::write(saved.join(&name), &bytes)?;
            std::fs::remove_file(&d.path)?;
            out.lost_bytes += bytes.len() as u64;
            out.lines.push(format!(
                "{}: its header is damaged; the whole file ({} bytes) is set aside in {}: the DynamoDB writes it held are lost",
                d.path.display(),
                bytes.len(),
                saved.display()
            ));
            continue;
        };
        for &(from, to, reason) in &d.regions {
            let region = bytes.get(from as usize..to as usize).unwrap_or_default();
            std::fs::write(saved.join(format!("{name}.{from}-{to}")), region)?;
            out.lost_bytes += to - from;
            out.lines.push(format!(
                "{} bytes {from}..{to} ({reason}, {} bytes): the DynamoDB writes of that region are lost",
                d.path.display(),
                to - from
            ));
        }
        if let Some(at) = d.torn {
            out.lines.push(format!(
                "{}: an incomplete last write at byte {at} is cut (never acknowledged)",
                d.path.display()
            ));
        }
        // The file again: its header and its intact frames, written beside
        // it, synced, then renamed over it.
        let mut again = header.clone();
        for payload in &d.kept {
            log::frame(payload, *salt, &mut again);
        }
        let tmp = d.path.with_extension("log.repaired");
        let mut file = File::create(&tmp)?;
        file.write_all(&again)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &d.path)?;
    }
    sync_dir(dir)?;
    Ok(out)
}

/// The damage of one journal file, if any (`newest`: its damaged end is a
/// torn last write, which the start cuts).
fn scan(path: &Path, newest: bool) -> std::io::Result<Option<Damaged>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if zeros(&file, log::SEG_HEADER, len)? {
        return Ok(None);
    }
    let mut damaged = Damaged {
        path: path.to_path_buf(),
        header: None,
        regions: Vec::new(),
        kept: Vec::new(),
        torn: None,
    };
    let format = log::read_format(&file, len)?;
    let Some(format @ log::Format::V2 { salt, .. }) = format else {
        return Ok(Some(damaged));
    };
    let mut header = vec![0u8; log::SEG_HEADER as usize];
    log::read_exact_at(&file, &mut header, 0)?;
    damaged.header = Some((header, salt));
    let mut at = format.data_start();
    'file: loop {
        let mut reader = FrameReader::with_format(&file, format, at, len);
        loop {
            match reader.next()? {
                Next::End => break 'file,
                Next::Frame { payload, .. } => damaged.kept.push(payload.to_vec()),
                Next::Bad { offset, .. } if zeros(&file, offset, len)? => break 'file,
                Next::Bad { offset, reason } => match reader.resync(offset)? {
                    Some(next) => {
                        damaged.regions.push((offset, next, reason));
                        at = next;
                        continue 'file;
                    }
                    None if newest => {
                        damaged.torn = Some(offset);
                        break 'file;
                    }
                    None => {
                        damaged.regions.push((offset, len, reason));
                        break 'file;
                    }
                },
            }
        }
    }
    Ok((!damaged.regions.is_empty()).then_some(damaged))
}
