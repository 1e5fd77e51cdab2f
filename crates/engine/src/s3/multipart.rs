//! Multipart uploads: create, upload part (each part a durable file), complete
//! (the parts concatenated into one file; ETag `md5-of-md5s-N`), abort, list
//! parts, list uploads.

use md5::{Digest, Md5};
use redb::ReadableTable;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::blob;
use super::buckets::{owner, read_bucket, write_bucket};
use super::checksum;
use super::objects::{headers, hex, parse_tagging, store_object, write_conditions, NewHeaders};
use super::store::{
    db_err, decode, encode, part_key, Data, ObjectMeta, Part, Store, Upload, PARTS, UPLOADS,
};
use super::upload_checksum::{self, Kind};
use super::{quoted, timestamp, Backend};

/// Every part but the last must be at least this large.
const MIN_PART: u64 = 5 << 20;

const COMPLETED: &str = "ObjectCreated:CompleteMultipartUpload";

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn read_upload(store: &Store, bucket: &str, key: &str, id: &str) -> S3Result<Upload> {
    let tx = store.read()?;
    read_bucket(&tx, bucket)?;
    let t = tx.open_table(UPLOADS).map_err(db_err)?;
    let up: Upload = match t.get(id).map_err(db_err)? {
        Some(v) => decode(id, v.value())?,
        None => return Err(no_such_upload()),
    };
    if up.bucket != bucket || up.key != key {
        return Err(no_such_upload());
    }
    Ok(up)
}

/// The parts of an upload, ascending, in a read or write transaction.
trait PartsTable {
    fn parts(&self, id: &str) -> S3Result<Vec<(u32, Part)>>;
}

fn collect_parts(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: &str,
) -> S3Result<Vec<(u32, Part)>> {
    let lo = part_key(id, 0);
    let hi = part_key(id, u32::MAX);
    let mut out = Vec::new();
    for row in t.range(lo.as_slice()..=hi.as_slice()).map_err(db_err)? {
        let (k, v) = row.map_err(db_err)?;
        let k = k.value();
        let mut n = [0u8; 4];
        n.copy_from_slice(&k[k.len() - 4..]);
        out.push((u32::from_be_bytes(n), decode::<Part>("part", v.value())?));
    }
    Ok(out)
}

impl PartsTable for redb::ReadTransaction {
    fn parts(&self, id: &str) -> S3Result<Vec<(u32, Part)>> {
        collect_parts(&self.open_table(PARTS).map_err(db_err)?, id)
    }
}

impl PartsTable for redb::WriteTransaction {
    fn parts(&self, id: &str) -> S3Result<Vec<(u32, Part)>> {
        collect_parts(&self.open_table(PARTS).map_err(db_err)?, id)
    }
}

pub(crate) async fn create(
    b: &Backend,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let i = req.input;
    // Ordered by initiation (milliseconds, then a random part), as
    // ListMultipartUploads lists a key's uploads and pages through them.
    let id = format!("{:012x}{:020x}", b.now(), rand::random::<u128>() >> 48);
    let up = Upload {
        bucket: i.bucket.clone(),
        key: i.key.clone(),
        initiated_ms: b.now(),
        headers: headers(NewHeaders {
            content_type: i.content_type,
            content_encoding: i.content_encoding,
            content_disposition: i.content_disposition,
            content_language: i.content_language,
            cache_control: i.cache_control,
            expires: i.expires,
            metadata: i.metadata,
        }),
        tags: parse_tagging(i.tagging.as_deref())?,
        checksum: Kind::asked(i.checksum_algorithm.as_ref(), i.checksum_type.as_ref())?,
    };
    let kind = up.checksum.clone();
    let uid = id.clone();
    b.blocking(move |store: &Store| {
        store.write(|tx| {
            write_bucket(tx, &up.bucket)?;
            let mut t = tx.open_table(UPLOADS).map_err(db_err)?;
            t.insert(uid.as_str(), encode(&up).as_slice())
                .map_err(db_err)?;
            Ok(())
        })
    })
    .await?;
    let (checksum_algorithm, checksum_type) = kind
        .map(|(a, t)| (ChecksumAlgorithm::from(a), ChecksumType::from(t)))
        .unzip();
    Ok(S3Response::new(CreateMultipartUploadOutput {
        server_side_encryption: Some(super::objects::sse_s3()),
        checksum_algorithm,
        checksum_type,
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id),
        ..Default::default()
    }))
}

pub(crate) async fn upload_part(
    b: &Backend,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let i = req.input;
    check_part_number(i.part_number)?;
    let claim = checksum::claim(
        checksum::sent_checksums!(i),
        req.headers.get("x-amz-trailer"),
    )?;
    let up = upload_exists(b, &i.bucket, &i.key, &i.upload_id).await?;
    let default = Kind::for_part(Kind::of(up.checksum.as_ref()), claim.as_ref())?;
    let (received, verified) = checksum::receive_checked(
        b,
        i.body,
        true,
        checksum::Checks {
            content_md5: i.content_md5.as_deref(),
            claim: claim.as_ref(),
            default,
        },
        req.trailing_headers.as_ref(),
        &req.extensions,
    )
    .await?;
    let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields(&verified);
    let part = Part {
        size: received.size,
        etag: hex(&received.md5),
        modified_ms: b.now(),
        blob: file_of(&received.data)?,
        checksum: verified
            .as_ref()
            .filter(|(a, _)| default.is_some_and(|d| d.name() == a))
            .map(|(_, v)| v.clone()),
    };
    let etag = store_part(b, &i.upload_id, i.part_number as u32, part).await?;
    Ok(S3Response::new(UploadPartOutput {
        server_side_encryption: Some(super::objects::sse_s3()),
        e_tag: Some(quoted(&etag)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64nvme,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        ..Default::default()
    }))
}

/// A part number S3 takes.
pub(crate) fn check_part_number(n: i32) -> S3Result<()> {
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    Ok(())
}

/// The upload `id` of `key` in `bucket` exists.
/// The upload `id` of `bucket`/`key` (NoSuchBucket, NoSuchUpload).
pub(crate) async fn upload_exists(
    b: &Backend,
    bucket: &str,
    key: &str,
    id: &str,
) -> S3Result<Upload> {
    let (bucket, key, id) = (bucket.to_string(), key.to_string(), id.to_string());
    b.blocking(move |store: &Store| read_upload(store, &bucket, &key, &id))
        .await
}

/// The file a part was received into.
pub(crate) fn file_of(data: &Data) -> S3Result<String> {
    match data {
        Data::File(file) => Ok(file.clone()),
        Data::Inline(_) => Err(super::internal("a part was not written to a file")),
    }
}

/// Records `part` as part `n` of upload `id` (replacing the part of that
/// number, whose file goes); its file goes if the upload is gone. Returns
/// the part's ETag.
pub(crate) async fn store_part(b: &Backend, id: &str, n: u32, part: Part) -> S3Result<String> {
    let (etag, file, id) = (part.etag.clone(), part.blob.clone(), id.to_string());
    let result = b
        .blocking(move |store: &Store| {
            store.write(|tx| {
                let t = tx.open_table(UPLOADS).map_err(db_err)?;
                if t.get(id.as_str()).map_err(db_err)?.is_none() {
                    return Err(no_such_upload());
                }
                drop(t);
                let mut parts = tx.open_table(PARTS).map_err(db_err)?;
                let old = parts
                    .insert(part_key(&id, n).as_slice(), encode(&part).as_slice())
                    .map_err(db_err)?
                    .map(|v| decode::<Part>("part", v.value()))
                    .transpose()?;
                Ok(old)
            })
        })
        .await;
    match result {
        Ok(old) => {
            if let Some(old) = old {
                b.store.forget_file(&old.blob);
            }
            Ok(etag)
        }
        Err(e) => {
            b.store.forget_file(&file);
            Err(e)
        }
    }
}

fn unquote(s: &str) -> &str {
    s.trim_matches('"')
}

pub(crate) async fn complete(
    b: &Backend,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let i = req.input;
    let asked: Vec<CompletedPart> = i.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    if asked.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "You must specify at least one part"
        ));
    }
    let (bucket, key, id) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
    let (up, stored) = b
        .blocking(move |store: &Store| {
            let up = read_upload(store, &bucket, &key, &id)?;
            let parts = store.read()?.parts(&id)?;
            Ok((up, parts))
        })
        .await?;
    let kind = Kind::of(up.checksum.as_ref());
    let mut chosen = Vec::new();
    let mut last = 0;
    for (at, p) in asked.iter().enumerate() {
        let n = p.part_number.unwrap_or(0);
        if n <= last {
            return Err(s3_error!(InvalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number."));
        }
        last = n;
        let Some((_, part)) = stored.iter().find(|(k, _)| *k as i32 == n) else {
            return Err(s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found: part {n}"
            ));
        };
        if let Some(e) = &p.e_tag {
            if unquote(e.value()) != part.etag {
                return Err(s3_error!(InvalidPart, "One or more of the specified parts could not be found: part {n} has another ETag"));
            }
        }
        let sent = checksum::sent_checksums!(p);
        upload_checksum::check_part_sent(kind, sent, n, part.checksum.as_deref())?;
        if at + 1 < asked.len() && part.size < MIN_PART {
            return Err(s3_error!(
                EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed size: part {n}"
            ));
        }
        chosen.push(part.clone());
    }
    let mut md5 = Md5::new();
    for p in &chosen {
        let bytes: Vec<u8> = (0..p.etag.len() / 2)
            .filter_map(|j| u8::from_str_radix(&p.etag[2 * j..2 * j + 2], 16).ok())
            .collect();
        md5.update(&bytes);
    }
    let etag = format!("{}-{}", hex(&md5.finalize()), chosen.len());
    let sources = chosen.iter().map(|p| p.blob.clone()).collect();
    let (file, whole) =
        blob::concat(&b.store, sources, upload_checksum::whole_object(kind)).await?;
    let sent = checksum::sent_checksums!(i);
    let sum = upload_checksum::of_object(kind, &chosen, whole)
        .and_then(|sum| upload_checksum::check_asked(sent, &sum).map(|()| sum));
    let sum = sum.inspect_err(|_| b.store.forget(&Data::File(file.clone())))?;
    let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields([&sum]);
    let meta = ObjectMeta {
        size: chosen.iter().map(|p| p.size).sum(),
        etag: etag.clone(),
        modified_ms: b.now(),
        headers: up.headers,
        data: Data::File(file),
        tags: up.tags,
        checksums: vec![sum],
        parts: chosen.iter().map(|p| p.size).collect(),
    };
    let data = meta.data.clone();
    let checksum_type = checksum::checksum_type(&meta);
    let (bucket, key, id) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
    // If-Match / If-None-Match hold against the object the upload replaces;
    // a failed one keeps the upload, which may be completed again.
    let check = write_conditions(i.if_match, i.if_none_match);
    let cause = super::events::Cause::of(COMPLETED, &req.extensions);
    // The object, its event and the removal of the upload are one transaction.
    let result = b
        .blocking(move |store: &Store| {
            store.write(|tx| {
                let u = tx.open_table(UPLOADS).map_err(db_err)?;
                if u.get(id.as_str()).map_err(db_err)?.is_none() {
                    return Err(no_such_upload());
                }
                drop(u);
                let parts = tx.parts(&id)?;
                let (old, position) = store_object(tx, &bucket, &key, &meta, &cause, check)?;
                let mut t = tx.open_table(PARTS).map_err(db_err)?;
                for (n, _) in &parts {
                    t.remove(part_key(&id, *n).as_slice()).map_err(db_err)?;
                }
                let mut u = tx.open_table(UPLOADS).map_err(db_err)?;
                u.remove(id.as_str()).map_err(db_err)?;
                Ok((old, position, parts))
            })
        })
        .await;
    let (old, position, gone) = match result {
        Ok(done) => done,
        Err(e) => {
            b.store.forget(&data);
            return Err(e);
        }
    };
    if let Some(old) = old {
        b.store.forget(&old.data);
    }
    for (_, p) in gone {
        b.store.forget_file(&p.blob);
    }
    b.announce(position);
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        server_side_encryption: Some(super::objects::sse_s3()),
        bucket: Some(i.bucket.clone()),
        key: Some(i.key.clone()),
        e_tag: Some(quoted(&etag)),
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64nvme,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type,
        ..Default::default()
    }))
}

pub(crate) async fn abort(
    b: &Backend,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let i = req.input;
    let (bucket, key, id) = (i.bucket, i.key, i.upload_id);
    let gone = b
        .blocking(move |store: &Store| {
            read_upload(store, &bucket, &key, &id)?;
            store.write(|tx| {
                let parts = tx.parts(&id)?;
                let mut t = tx.open_table(PARTS).map_err(db_err)?;
                for (n, _) in &parts {
                    t.remove(part_key(&id, *n).as_slice()).map_err(db_err)?;
                }
                let mut u = tx.open_table(UPLOADS).map_err(db_err)?;
                u.remove(id.as_str()).map_err(db_err)?;
                Ok(parts)
            })
        })
        .await?;
    for (_, p) in gone {
        b.store.forget_file(&p.blob);
    }
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub(crate) async fn list_parts(
    b: &Backend,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let i = req.input;
    let (bucket, key, id) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
    let (up, parts) = b
        .blocking(move |store: &Store| {
            let up = read_upload(store, &bucket, &key, &id)?;
            Ok((up, store.read()?.parts(&id)?))
        })
        .await?;
    let algorithm = up.checksum.as_ref().map(|(a, _)| a.clone());
    let marker = i.part_number_marker.unwrap_or(0).max(0) as u32;
    let max = i.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
    let after: Vec<&(u32, Part)> = parts.iter().filter(|(n, _)| *n > marker).collect();
    let truncated = after.len() > max;
    let page: Vec<s3s::dto::Part> = after
        .iter()
        .take(max)
        .map(|(n, p)| {
            let stored = algorithm.clone().zip(p.checksum.clone());
            let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields(stored.as_ref());
            s3s::dto::Part {
                part_number: Some(*n as i32),
                e_tag: Some(quoted(&p.etag)),
                size: Some(p.size as i64),
                last_modified: Some(timestamp(p.modified_ms)),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64nvme,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
            }
        })
        .collect();
    let next = page.last().and_then(|p| p.part_number);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(i.upload_id),
        part_number_marker: i.part_number_marker,
        next_part_number_marker: truncated.then_some(next).flatten(),
        max_parts: Some(max as i32),
        is_truncated: Some(truncated),
        parts: Some(page),
        owner: Some(owner()),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        checksum_algorithm: up.checksum.clone().map(|(a, _)| ChecksumAlgorithm::from(a)),
        checksum_type: up.checksum.map(|(_, t)| ChecksumType::from(t)),
        ..Default::default()
    }))
}

pub(crate) async fn list_uploads(
    b: &Backend,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let i = req.input;
    let bucket = i.bucket.clone();
    let prefix = i.prefix.clone().unwrap_or_default();
    let mut uploads = b
        .blocking(move |store: &Store| {
            let tx = store.read()?;
            read_bucket(&tx, &bucket)?;
            let t = tx.open_table(UPLOADS).map_err(db_err)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let up: Upload = decode(k.value(), v.value())?;
                if up.bucket == bucket && up.key.starts_with(&prefix) {
                    out.push((up.key.clone(), up.initiated_ms, k.value().to_string()));
                }
            }
            Ok(out)
        })
        .await?;
    uploads.sort();
    let max = i.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
    let key_marker = i.key_marker.clone().unwrap_or_default();
    // Uploads of the key-marker itself after the upload-id-marker (upload
    // ids grow with their initiation time, so this is the listing's order).
    let id_marker = i.upload_id_marker.as_deref().unwrap_or_default();
    let after: Vec<_> = uploads
        .into_iter()
        .filter(|(k, _, id)| {
            key_marker.is_empty()
                || *k > key_marker
                || (*k == key_marker && !id_marker.is_empty() && id.as_str() > id_marker)
        })
        .collect();
    let truncated = after.len() > max;
    let page: Vec<_> = after.into_iter().take(max).collect();
    let next = page.last().cloned();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        prefix: i.prefix,
        key_marker: i.key_marker,
        upload_id_marker: i.upload_id_marker,
        next_key_marker: truncated
            .then(|| next.as_ref().map(|n| n.0.clone()))
            .flatten(),
        next_upload_id_marker: truncated
            .then(|| next.as_ref().map(|n| n.2.clone()))
            .flatten(),
        max_uploads: Some(max as i32),
        is_truncated: Some(truncated),
        uploads: Some(
            page.into_iter()
                .map(|(key, ms, id)| MultipartUpload {
                    key: Some(key),
                    upload_id: Some(id),
                    initiated: Some(timestamp(ms)),
                    owner: Some(owner()),
                    initiator: Some(Initiator {
                        display_name: Some("wildrydes".into()),
                        id: owner().id,
                    }),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }))
}
