//! Object bytes: received from a streamed body into the record (small) or a
//! file written aside, fsynced and renamed (large), and sent back as a stream
//! of file reads, so no body is ever held whole in memory.

use std::ops::Range;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use s3s::dto::StreamingBlob;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::checksum::{Algorithm, Hasher};
use super::store::{io_err, Data, Store, StoreError, INLINE_MAX};

/// Why a body was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlobError {
    #[error("could not read the request body: {0}")]
    Read(String),
    #[error("no bytes of the request body arrived for {0:?}")]
    Idle(std::time::Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A body received and made durable (not yet pointed to by any record).
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) data: Data,
    pub(crate) size: u64,
    pub(crate) md5: [u8; 16],
    /// The checksum asked of [`receive`] (base64).
    pub(crate) checksum: Option<String>,
}

fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A file in `tmp/` that is deleted unless it was renamed into `blobs/`.
struct Aside {
    path: PathBuf,
    kept: bool,
}

impl Drop for Aside {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Fsyncs a directory so that a rename in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing {}", dir.display())))
}

/// Renames `aside` into `blobs/<id>` and makes the rename durable.
async fn keep(store: &Store, mut aside: Aside, id: &str) -> Result<(), StoreError> {
    let target = store.blob_path(id);
    tokio::fs::rename(&aside.path, &target)
        .await
        .map_err(io_err(format!("renaming into {}", target.display())))?;
    aside.kept = true;
    if store.durable() {
        let dir = store.blob_dir();
        tokio::task::spawn_blocking(move || sync_dir(&dir))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
    }
    Ok(())
}

/// Receives `body`: kept inline when it ends within [`INLINE_MAX`] bytes
/// (unless `file` is asked), else streamed to a file; its MD5 and the
/// `checksum` asked are computed in the same pass. No bytes for `idle` is
/// [`BlobError::Idle`] (the file written so far is deleted).
pub(crate) async fn receive(
    store: &Store,
    body: Option<StreamingBlob>,
    file: bool,
    checksum: Option<Algorithm>,
    idle: std::time::Duration,
) -> Result<Received, BlobError> {
    let mut md5 = Md5::new();
    let mut hasher = checksum.map(Hasher::new);
    let mut size = 0u64;
    let mut small = Vec::new();
    let mut out: Option<(tokio::io::BufWriter<tokio::fs::File>, Aside)> = None;
    if let Some(mut body) = body {
        while let Some(chunk) = tokio::time::timeout(idle, body.next())
            .await
            .map_err(|_| BlobError::Idle(idle))?
        {
            let chunk = chunk.map_err(|e| BlobError::Read(e.to_string()))?;
            md5.update(&chunk);
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            size += chunk.len() as u64;
            if out.is_none() && (file || small.len() + chunk.len() > INLINE_MAX) {
                out = Some(start_file(store).await?);
                if let Some((w, _)) = out.as_mut() {
                    write(w, &small).await?;
                }
                small = Vec::new();
            }
            match out.as_mut() {
                Some((w, _)) => write(w, &chunk).await?,
                None => small.extend_from_slice(&chunk),
            }
        }
    }
    if out.is_none() && file {
        out = Some(start_file(store).await?);
    }
    let md5: [u8; 16] = md5.finalize().into();
    let data = match out {
        None => Data::Inline(base64::engine::general_purpose::STANDARD.encode(&small)),
        Some((mut w, aside)) => {
            w.flush().await.map_err(io_err("writing an object"))?;
            let f = w.into_inner();
            if store.durable() {
                f.sync_all().await.map_err(io_err("syncing an object"))?;
            }
            drop(f);
            let id = new_id();
            keep(store, aside, &id).await?;
            Data::File(id)
        }
    };
    Ok(Received {
        data,
        size,
        md5,
        checksum: hasher.map(Hasher::finalize),
    })
}

async fn start_file(
    store: &Store,
) -> Result<(tokio::io::BufWriter<tokio::fs::File>, Aside), StoreError> {
    let path = store.tmp_dir().join(new_id());
    let f = tokio::fs::File::create(&path)
        .await
        .map_err(io_err(format!("creating {}", path.display())))?;
    Ok((
        tokio::io::BufWriter::with_capacity(1 << 20, f),
        Aside { path, kept: false },
    ))
}

async fn write(
    w: &mut tokio::io::BufWriter<tokio::fs::File>,
    bytes: &[u8],
) -> Result<(), StoreError> {
    w.write_all(bytes)
        .await
        .map_err(io_err("writing an object"))
}

/// Bytes of an inline body.
pub(crate) fn inline_bytes(b64: &str) -> Result<Vec<u8>, StoreError> {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| StoreError::Corrupt("an inline object".into()))
}

/// An open body, ready to be streamed.
pub(crate) enum Reader {
    Inline(Bytes),
    File(tokio::fs::File),
}

/// Opens the bytes of `data`. `Ok(None)`: the file is gone (the object was
/// replaced meanwhile; read its record again).
pub(crate) async fn open(store: &Store, data: &Data) -> Result<Option<Reader>, StoreError> {
    match data {
        Data::Inline(b64) => Ok(Some(Reader::Inline(Bytes::from(inline_bytes(b64)?)))),
        Data::File(id) => match tokio::fs::File::open(store.blob_path(id)).await {
            Ok(f) => Ok(Some(Reader::File(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("opening an object")(e)),
        },
    }
}

/// Streams `range` of an opened body, 256 KiB at a time.
pub(crate) async fn stream(reader: Reader, range: Range<u64>) -> Result<StreamingBlob, StoreError> {
    match reader {
        Reader::Inline(b) => {
            let part = b.slice(range.start as usize..range.end as usize);
            Ok(StreamingBlob::wrap(futures_util::stream::once(
                async move { Ok::<_, std::io::Error>(part) },
            )))
        }
        Reader::File(mut f) => {
            f.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(io_err("seeking in an object"))?;
            let limited = f.take(range.end - range.start);
            Ok(StreamingBlob::wrap(
                tokio_util::io::ReaderStream::with_capacity(limited, 256 << 10),
            ))
        }
    }
}

/// Writes the concatenation of `sources` (blob ids) as a new durable file;
/// returns its id and, with `algorithm`, the checksum of its bytes (computed
/// while they are copied).
pub(crate) async fn concat(
    store: &Store,
    sources: Vec<String>,
    algorithm: Option<Algorithm>,
) -> Result<(String, Option<String>), StoreError> {
    let id = new_id();
    let path = store.tmp_dir().join(format!("c{id}"));
    let aside = Aside {
        path: path.clone(),
        kept: false,
    };
    let paths: Vec<PathBuf> = sources.iter().map(|s| store.blob_path(s)).collect();
    let durable = store.durable();
    let checksum = tokio::task::spawn_blocking(move || -> Result<Option<String>, StoreError> {
        use std::io::{Read, Write};
        let mut out = std::fs::File::create(&path).map_err(io_err("creating an object"))?;
        let mut hasher = algorithm.map(Hasher::new);
        let mut buf = vec![0u8; 1 << 20];
        for p in paths {
            let mut src =
                std::fs::File::open(&p).map_err(io_err(format!("opening {}", p.display())))?;
            loop {
                let n = src.read(&mut buf).map_err(io_err("copying an object"))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])
                    .map_err(io_err("copying an object"))?;
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..n]);
                }
            }
        }
        if durable {
            out.sync_all().map_err(io_err("syncing an object"))?;
        }
        Ok(hasher.map(Hasher::finalize))
    })
    .await
    .map_err(|e| StoreError::Db(e.to_string()))??;
    keep(store, aside, &id).await?;
    Ok((id, checksum))
}
