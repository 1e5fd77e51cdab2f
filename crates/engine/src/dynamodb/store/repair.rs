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

use super::journal::{files, scan, Scan};
use crate::store::dir::sync_dir;
use crate::store::log;

/// What a repair of the journal found and dropped.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    /// One line per loss.
    pub(crate) lines: Vec<String>,
    /// Bytes of journal dropped.
    pub(crate) lost_bytes: u64,
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
        let scanned = scan(&File::open(path)?, i + 1 == listed.len())?;
        match scanned {
            Some(d) if d.salt.is_none() || !d.damage.is_empty() => damaged.push((path, d)),
            _ => {}
        }
    }
    if damaged.is_empty() {
        return Ok(out);
    }
    let saved = saved()?;
    for (path, d) in damaged {
        let name = path
            .file_name()
            .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(path)?;
        let Scan {
            salt: Some(salt),
            frames,
            damage,
            torn,
            ..
        } = d
        else {
            std::fs::write(saved.join(&name), &bytes)?;
            std::fs::remove_file(path)?;
            out.lost_bytes += bytes.len() as u64;
            out.lines.push(format!(
                "{}: its header is damaged; the whole file ({} bytes) is set aside in {}: the DynamoDB writes it held are lost",
                path.display(),
                bytes.len(),
                saved.display()
            ));
            continue;
        };
        for (from, to, reason) in damage {
            let region = bytes.get(from as usize..to as usize).unwrap_or_default();
            std::fs::write(saved.join(format!("{name}.{from}-{to}")), region)?;
            out.lost_bytes += to - from;
            out.lines.push(format!(
                "{} bytes {from}..{to} ({reason}, {} bytes): the DynamoDB writes of that region are lost",
                path.display(),
                to - from
            ));
        }
        if let Some(at) = torn {
            out.lines.push(format!(
                "{}: an incomplete last write at byte {at} is cut (never acknowledged)",
                path.display()
            ));
        }
        // The file again: its header and its intact frames, written beside
        // it, synced, then renamed over it.
        let mut again = bytes[..log::SEG_HEADER as usize].to_vec();
        for payload in &frames {
            log::frame(payload, salt, &mut again);
        }
        let tmp = path.with_extension("log.repaired");
        let mut file = File::create(&tmp)?;
        file.write_all(&again)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
    }
    sync_dir(dir)?;
    Ok(out)
}
