//! Copies: CopyObject (a new object with the source's bytes) and
//! UploadPartCopy (a part of a multipart upload copied from an object, whole
//! or a byte range of it, `x-amz-copy-source-range`). The AWS CLI and boto3
//! copy objects of 8 MB or more between S3 locations with the latter (`aws s3
//! cp`, `mv` and `sync` from S3 to S3).

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::blob::{self, Received};
use super::checksum::{self, Algorithm};
use super::multipart::{check_part_number, file_of, store_part, upload_exists};
use super::objects::{
    blob_err, commit_object, headers, hex, parse_tagging, precondition_failed, read_conditions,
    read_object, NewHeaders, ReadConditions,
};
use super::store::{ObjectMeta, Part};
use super::upload_checksum::Kind;
use super::{quoted, store_err, timestamp, Backend};

/// The copy-source conditions of a CopyObject or UploadPartCopy input.
macro_rules! copy_conditions {
    ($i:expr) => {
        ReadConditions {
            if_match: $i.copy_source_if_match.clone(),
            if_none_match: $i.copy_source_if_none_match.clone(),
            if_modified_since: $i.copy_source_if_modified_since.clone(),
            if_unmodified_since: $i.copy_source_if_unmodified_since.clone(),
        }
    };
}

/// What a copy reads: the source's record, its copy-source conditions held
/// (412 if not), and the bytes `plan` picks of it (or its refusal), copied
/// into a new blob (a file with `file`). The source may be replaced while
/// it is read: its file is then gone, and its record is read again.
async fn copy_bytes(
    b: &Backend,
    (bucket, key): (&str, &str),
    conditions: ReadConditions,
    plan: impl Fn(&ObjectMeta) -> S3Result<(std::ops::Range<u64>, Option<Algorithm>)>,
    file: bool,
) -> S3Result<(ObjectMeta, Received)> {
    for _ in 0..8 {
        let src = read_object(b, bucket.to_string(), key.to_string()).await?;
        read_conditions(&conditions, &src).map_err(|_| precondition_failed())?;
        let (range, algorithm) = plan(&src)?;
        let Some(reader) = blob::open(&b.store, &src.data).await.map_err(store_err)? else {
            continue;
        };
        let body = blob::stream(reader, range).await.map_err(store_err)?;
        let copied = blob::receive(&b.store, Some(body), file, algorithm, b.body_idle)
            .await
            .map_err(blob_err)?;
        return Ok((src, copied));
    }
    Err(super::internal(
        "the source object kept changing while it was copied",
    ))
}

/// The algorithm of a copy's checksum: the one the request asks for, else
/// the source's, else CRC64NVME (S3's default).
fn copy_algorithm(asked: Option<&ChecksumAlgorithm>, src: &ObjectMeta) -> S3Result<Algorithm> {
    if let Some(name) = asked {
        return super::upload_checksum::named(name);
    }
    let stored = src.checksums.first().map(|(a, _)| a.as_str());
    Ok(stored
        .and_then(Algorithm::of_name)
        .unwrap_or(Algorithm::Crc64Nvme))
}

/// The bucket and key a copy reads.
fn copy_source(source: &CopySource) -> S3Result<(String, String)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(
            NotImplemented,
            "copying from an access point is not supported"
        )),
    }
}

pub(crate) async fn copy(
    b: &Backend,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let i = req.input;
    let (src_bucket, src_key) = copy_source(&i.copy_source)?;
    let replace_meta = i
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let replace_tags = i
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    let to_itself = src_bucket == i.bucket && src_key == i.key && !replace_meta && !replace_tags;
    let (src, copied) = copy_bytes(
        b,
        (&src_bucket, &src_key),
        copy_conditions!(i),
        |src| {
            if to_itself {
                return Err(s3_error!(
                    InvalidRequest,
                    "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
                ));
            }
            // New tags are checked before any byte is copied.
            if replace_tags {
                parse_tagging(i.tagging.as_deref())?;
            }
            Ok((0..src.size, Some(copy_algorithm(i.checksum_algorithm.as_ref(), src)?)))
        },
        false,
    )
    .await?;
    let headers = match replace_meta {
        true => headers(NewHeaders {
            content_type: i.content_type.clone(),
            content_encoding: i.content_encoding.clone(),
            content_disposition: i.content_disposition.clone(),
            content_language: i.content_language.clone(),
            cache_control: i.cache_control.clone(),
            expires: i.expires.clone(),
            metadata: i.metadata.clone(),
        }),
        false => src.headers.clone(),
    };
    let tags = match replace_tags {
        true => parse_tagging(i.tagging.as_deref())?,
        false => src.tags.clone(),
    };
    // The copy's checksum is over its bytes (a composite one of a source
    // uploaded in parts does not describe the copy, which has one part).
    let algorithm = copy_algorithm(i.checksum_algorithm.as_ref(), &src)?;
    let checksums: Vec<(String, String)> = copied
        .checksum
        .clone()
        .map(|v| (algorithm.name().to_string(), v))
        .into_iter()
        .collect();
    let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields(&checksums);
    let meta = ObjectMeta {
        modified_ms: b.now(),
        checksums,
        headers,
        // The copy is a new object: the MD5 of its bytes is its ETag, even
        // when the source was uploaded in parts (as S3 gives it).
        etag: hex(&copied.md5),
        data: copied.data,
        tags,
        parts: Vec::new(),
        ..src
    };
    let (etag, modified) = (meta.etag.clone(), meta.modified_ms);
    let checksum_type = checksum::checksum_type(&meta);
    commit_object(
        b,
        i.bucket.clone(),
        i.key.clone(),
        meta,
        super::events::Cause::of("ObjectCreated:Copy", &req.extensions),
        |_| Ok(()),
    )
    .await?;
    Ok(S3Response::new(CopyObjectOutput {
        server_side_encryption: Some(super::objects::sse_s3()),
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(quoted(&etag)),
            last_modified: Some(timestamp(modified)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64nvme,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type,
        }),
        ..Default::default()
    }))
}

/// `bytes=first-last` (inclusive, zero-based) within an object of `size`
/// bytes; the whole object without a range.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else {
        return Ok(0..size);
    };
    // A Range header's syntax, closed ranges only.
    let parsed = match Range::parse(range) {
        Ok(Range::Int {
            first,
            last: Some(last),
        }) => Some((first, last)),
        _ => None,
    };
    let Some((first, last)) = parsed else {
        return Err(s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        ));
    };
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last + 1)
}

pub(crate) async fn upload_part_copy(
    b: &Backend,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let i = req.input;
    check_part_number(i.part_number)?;
    let (src_bucket, src_key) = copy_source(&i.copy_source)?;
    let up = upload_exists(b, &i.bucket, &i.key, &i.upload_id).await?;
    let algorithm = Kind::of(up.checksum.as_ref()).map(|k| k.algorithm);
    let (_, received) = copy_bytes(
        b,
        (&src_bucket, &src_key),
        copy_conditions!(i),
        |src| {
            Ok((
                copy_range(i.copy_source_range.as_deref(), src.size)?,
                algorithm,
            ))
        },
        true,
    )
    .await?;
    let modified = b.now();
    let part = Part {
        size: received.size,
        etag: hex(&received.md5),
        modified_ms: modified,
        blob: file_of(&received.data)?,
        // A part of an upload with a checksum algorithm gets its checksum,
        // which the completion names.
        checksum: received.checksum.clone().filter(|_| algorithm.is_some()),
    };
    let stored: Option<(String, String)> = algorithm
        .map(|a| a.name().to_string())
        .zip(part.checksum.clone());
    let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields(stored.as_ref());
    let etag = store_part(b, &i.upload_id, i.part_number as u32, part).await?;
    Ok(S3Response::new(UploadPartCopyOutput {
        server_side_encryption: Some(super::objects::sse_s3()),
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(quoted(&etag)),
            last_modified: Some(timestamp(modified)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64nvme,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
        }),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::copy_range;

    #[test]
    fn copy_ranges_are_inclusive_and_within_the_object() {
        assert_eq!(copy_range(None, 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=0-9"), 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=3-3"), 10).unwrap(), 3..4);
        for bad in ["bytes=5-2", "bytes=a-b", "0-1", "bytes=-3", "bytes=1-"] {
            assert!(copy_range(Some(bad), 10).is_err(), "{bad}");
        }
        assert!(copy_range(Some("bytes=0-10"), 10).is_err());
    }
}
