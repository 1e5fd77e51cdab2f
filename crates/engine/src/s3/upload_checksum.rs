//! The checksums of a multipart upload: the algorithm and type it was
//! created with (CreateMultipartUpload's `ChecksumAlgorithm` and
//! `ChecksumType`), each part's (claimed, or computed with the upload's
//! algorithm; a part claiming another algorithm is refused), and the
//! object's at completion: COMPOSITE, the algorithm over the parts' digests
//! followed by `-N`, or FULL_OBJECT, over the object's bytes (computed as
//! the parts are joined). An upload created without an algorithm gets the
//! CRC64NVME of its bytes, as S3 gives every object one.

use s3s::dto::{ChecksumAlgorithm, ChecksumType};
use s3s::{s3_error, S3Result};

use super::checksum::{Algorithm, Claim, Hasher};
use super::store::Part;

/// The algorithm a request names (`x-amz-checksum-algorithm`), or S3's
/// refusal of one it does not know.
pub(crate) fn named(name: &ChecksumAlgorithm) -> S3Result<Algorithm> {
    Algorithm::of_name(&name.as_str().to_ascii_uppercase()).ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
        )
    })
}

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
            return match ty {
                Some(_) => Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                )),
                None => Ok(None),
            };
        };
        let a = named(name)?;
        let full = match ty.map(|t| t.as_str()) {
            Some(ChecksumType::FULL_OBJECT) => true,
            Some(ChecksumType::COMPOSITE) => false,
            Some(_) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Value for x-amz-checksum-type header is invalid."
                ))
            }
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

/// A COMPOSITE upload's completion names each part's checksum, which must be
/// the one stored for that part: missing, `InvalidRequest`; another,
/// `InvalidPart` (S3's words for both).
pub(crate) fn check_part_sent(
    kind: Option<Kind>,
    sent: [Option<&str>; 5],
    number: i32,
    stored: Option<&str>,
) -> S3Result<()> {
    let Some(k) = kind.filter(|k| !k.full_object) else {
        return Ok(());
    };
    let at = Algorithm::ALL.iter().position(|a| *a == k.algorithm);
    let Some(value) = at.and_then(|i| sent[i]) else {
        return Err(s3_error!(
            InvalidRequest,
            "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {number} in the request.",
            k.algorithm.name().to_ascii_lowercase()
        ));
    };
    if Some(value.trim()) != stored {
        return Err(s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        ));
    }
    Ok(())
}

/// The algorithm the bytes of a completed upload are checksummed with as
/// they are joined: the upload's FULL_OBJECT one, CRC64NVME for an upload
/// without one, none for a COMPOSITE one.
pub(crate) fn whole_object(kind: Option<Kind>) -> Option<Algorithm> {
    match kind {
        None => Some(Algorithm::Crc64Nvme),
        Some(k) if k.full_object => Some(k.algorithm),
        Some(_) => None,
    }
}

/// The completed object's checksum (algorithm name, value): COMPOSITE from
/// the parts' stored digests, else `whole`, the checksum of its bytes with
/// [`whole_object`]'s algorithm.
pub(crate) fn of_object(
    kind: Option<Kind>,
    parts: &[Part],
    whole: Option<String>,
) -> S3Result<(String, String)> {
    if let Some(a) = whole_object(kind) {
        let value =
            whole.ok_or_else(|| super::internal("the object's checksum was not computed"))?;
        return Ok((a.name().to_string(), value));
    }
    let k = kind.ok_or_else(|| super::internal("no checksum kind"))?;
    let mut h = Hasher::new(k.algorithm);
    for p in parts {
        // Every part of such an upload was stored with its checksum.
        let digest = p
            .checksum
            .as_deref()
            .and_then(|v| k.algorithm.decode(v))
            .ok_or_else(|| super::internal("a part of the upload has no checksum"))?;
        h.update(&digest);
    }
    Ok((
        k.algorithm.name().to_string(),
        format!("{}-{}", h.finalize(), parts.len()),
    ))
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
        let got = of_object(Some(kind), &[part(1), part(2)], None).unwrap();
        assert_eq!(got, ("CRC32".to_string(), expected));
    }
}
