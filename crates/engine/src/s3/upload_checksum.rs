//! The checksums of a multipart upload: the algorithm and type it was
//! created with (CreateMultipartUpload's `ChecksumAlgorithm` and
//! `ChecksumType`), each part's (claimed, or computed with the upload's
//! algorithm; a part claiming another algorithm is refused), and the
//! object's at completion: COMPOSITE, the algorithm over the parts' digests
//! followed by `-N`, or FULL_OBJECT, over the object's bytes. An upload
//! created without an algorithm gets the CRC64NVME of its bytes, as S3
//! gives every object one.

use std::io::Read;

use s3s::dto::{ChecksumAlgorithm, ChecksumType};
use s3s::{s3_error, S3Result};

use super::checksum::{Algorithm, Claim, Hasher};
use super::store::{Part, Store, StoreError};

/// What an upload's parts and object are checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kind {
    pub(crate) algorithm: Algorithm,
    pub(crate) full_object: bool,
}

impl Kind {
    /// CreateMultipartUpload's algorithm and type (CRC64NVME is only ever
    /// FULL_OBJECT; the others are COMPOSITE unless asked otherwise); stored
    /// as the pair (algorithm name, type).
    pub(crate) fn asked(
        algorithm: Option<&ChecksumAlgorithm>,
        ty: Option<&ChecksumType>,
    ) -> S3Result<Option<(String, String)>> {
        let Some(name) = algorithm else {
            return Ok(None);
        };
        let upper = name.as_str().to_ascii_uppercase();
        let a = Algorithm::of_name(&upper).ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            )
        })?;
        let full = match ty.map(|t| t.as_str()) {
            Some(ChecksumType::FULL_OBJECT) => true,
            Some(_) => false,
            None => a == Algorithm::Crc64Nvme,
        };
        let composable = !matches!(a, Algorithm::Crc64Nvme);
        let whole = !matches!(a, Algorithm::Sha1 | Algorithm::Sha256);
        if (full && !whole) || (!full && !composable) {
            return Err(s3_error!(
                InvalidRequest,
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                if full { "FULL_OBJECT" } else { "COMPOSITE" },
                a.name().to_ascii_lowercase()
            ));
        }
        let ty = if full { "FULL_OBJECT" } else { "COMPOSITE" };
        Ok(Some((a.name().to_string(), ty.to_string())))
    }

    /// The kind stored with an upload.
    pub(crate) fn of(stored: Option<&(String, String)>) -> Option<Kind> {
        let (name, ty) = stored?;
        Some(Kind {
            algorithm: Algorithm::of_name(name)?,
            full_object: ty == "FULL_OBJECT",
        })
    }

    /// The algorithm a part of this upload is computed with: a part claiming
    /// another one is refused, in S3's words.
    pub(crate) fn for_part(
        kind: Option<Kind>,
        claim: Option<&Claim>,
    ) -> S3Result<Option<Algorithm>> {
        let Some(kind) = kind else {
            return Ok(None);
        };
        match claim.map(|c| c.algorithm) {
            Some(a) if a != kind.algorithm => Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                kind.algorithm.name().to_ascii_lowercase(),
                a.name().to_ascii_lowercase()
            )),
            _ => Ok(Some(kind.algorithm)),
        }
    }
}

/// The completed object's checksum (algorithm name, value): COMPOSITE from
/// the parts' stored digests, else computed over the object's file (the
/// upload's algorithm, or CRC64NVME).
pub(crate) async fn of_object(
    store: &Store,
    kind: Option<Kind>,
    parts: &[Part],
    file: &str,
) -> S3Result<(String, String)> {
    if let Some(k) = kind.filter(|k| !k.full_object) {
        let mut h = Hasher::new(k.algorithm);
        for (n, p) in parts.iter().enumerate() {
            let digest = p
                .checksum
                .as_deref()
                .and_then(|v| k.algorithm.decode(v))
                .ok_or_else(|| {
                    s3_error!(
                        InvalidRequest,
                        "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                        k.algorithm.name().to_ascii_lowercase(),
                        n + 1
                    )
                })?;
            h.update(&digest);
        }
        return Ok((
            k.algorithm.name().to_string(),
            format!("{}-{}", h.finalize(), parts.len()),
        ));
    }
    let algorithm = kind.map_or(Algorithm::Crc64Nvme, |k| k.algorithm);
    Ok((
        algorithm.name().to_string(),
        of_file(store, file, algorithm).await?,
    ))
}

/// The checksum (base64) of the file `file` with `algorithm`.
pub(crate) async fn of_file(store: &Store, file: &str, algorithm: Algorithm) -> S3Result<String> {
    let path = store.blob_path(file);
    let value = tokio::task::spawn_blocking(move || -> Result<String, std::io::Error> {
        let mut f = std::fs::File::open(&path)?;
        let mut h = Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(h.finalize());
            }
            h.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| StoreError::Db(e.to_string()))?
    .map_err(|e| StoreError::Db(format!("reading {file}: {e}")))?;
    Ok(value)
}

/// Compares the checksum a CompleteMultipartUpload request gives for the
/// whole object (if any) with the object's.
pub(crate) fn check_asked(sent: [Option<&str>; 5], computed: &(String, String)) -> S3Result<()> {
    for (a, v) in Algorithm::ALL.into_iter().zip(sent) {
        let Some(v) = v else { continue };
        let same =
            a.name() == computed.0 && v.trim().split('-').next() == computed.1.split('-').next();
        if !same {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                a.name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn algorithms_get_their_types_and_refuse_the_other() {
        let crc = ChecksumAlgorithm::from_static(ChecksumAlgorithm::CRC32);
        let nvme = ChecksumAlgorithm::from_static(ChecksumAlgorithm::CRC64NVME);
        let sha = ChecksumAlgorithm::from_static(ChecksumAlgorithm::SHA256);
        let full = ChecksumType::from_static(ChecksumType::FULL_OBJECT);
        let composite = ChecksumType::from_static(ChecksumType::COMPOSITE);
        let asked = |a, t| Kind::asked(Some(a), t).map(|k| k.unwrap().1);
        assert_eq!(asked(&crc, None).unwrap(), "COMPOSITE");
        assert_eq!(asked(&crc, Some(&full)).unwrap(), "FULL_OBJECT");
        assert_eq!(asked(&nvme, None).unwrap(), "FULL_OBJECT");
        assert!(asked(&nvme, Some(&composite)).is_err());
        assert!(asked(&sha, Some(&full)).is_err());
        assert!(Kind::asked(None, None).unwrap().is_none());
    }

    #[test]
    fn a_composite_checksum_is_over_the_parts_digests() {
        let digest = |v: u32| base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes());
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(&1u32.to_be_bytes());
        h.update(&2u32.to_be_bytes());
        let expected = format!("{}-2", h.finalize());
        let part = |v| Part {
            size: 1,
            etag: String::new(),
            modified_ms: 0,
            blob: String::new(),
            checksum: Some(digest(v)),
        };
        let kind = Kind {
            algorithm: Algorithm::Crc32,
            full_object: false,
        };
        let store = Store::open(None).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt
            .block_on(of_object(&store, Some(kind), &[part(1), part(2)], "none"))
            .unwrap();
        assert_eq!(got, ("CRC32".to_string(), expected));
    }
}
