//! Object operations: put, get (ranges, conditions) and head.

use redb::{ReadableTable, WriteTransaction};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::blob::{self, BlobError};
use super::buckets::{read_bucket, rules, write_bucket};
use super::checksum;
use super::events::{self, Cause, Created};
use super::store::{db_err, decode, encode, object_key, Headers, ObjectMeta, Store, OBJECTS};
use super::{millis, quoted, store_err, timestamp, Backend};

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn blob_err(e: BlobError) -> S3Error {
    match e {
        BlobError::Read(m) => s3_error!(IncompleteBody, "{m}"),
        BlobError::Idle(_) => s3_error!(
            RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
        ),
        BlobError::Store(e) => store_err(e),
    }
}

/// SSE-S3, with which S3 encrypts every object since 2023 (the engine
/// stores bytes as they come: the header says what S3 would have done).
pub(crate) fn sse_s3() -> ServerSideEncryption {
    ServerSideEncryption::from_static(ServerSideEncryption::AES256)
}

/// S3's NoSuchKey, in its words.
pub(crate) fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

/// `k1=v1&k2=v2` (the `x-amz-tagging` header) as pairs, within S3's limits.
pub(crate) fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = header
        .map(|h| form_urlencoded::parse(h.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    super::tagging::check_object_tags(&tags)?;
    Ok(tags)
}

fn sorted_metadata(m: Option<Metadata>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m.unwrap_or_default().into_iter().collect();
    v.sort();
    v
}

pub(crate) struct NewHeaders {
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_disposition: Option<String>,
    pub(crate) content_language: Option<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) expires: Option<Timestamp>,
    pub(crate) metadata: Option<Metadata>,
}

pub(crate) fn headers(h: NewHeaders) -> Headers {
    let expires = h.expires.map(|t| {
        let mut out = Vec::new();
        let _ = t.format(TimestampFormat::HttpDate, &mut out);
        String::from_utf8(out).unwrap_or_default()
    });
    Headers {
        content_type: h.content_type.map(|c| c.to_string()),
        content_encoding: h.content_encoding,
        content_disposition: h.content_disposition,
        content_language: h.content_language,
        cache_control: h.cache_control,
        expires,
        metadata: sorted_metadata(h.metadata),
    }
}

/// The object's Content-Type: S3's `binary/octet-stream` when it was
/// stored without one.
fn content_type_of(h: &Headers) -> Option<String> {
    Some(
        h.content_type
            .clone()
            .unwrap_or_else(|| "binary/octet-stream".to_string()),
    )
}

fn metadata_map(h: &Headers) -> Option<Metadata> {
    (!h.metadata.is_empty()).then(|| h.metadata.iter().cloned().collect())
}

fn expires_of(h: &Headers) -> Option<Timestamp> {
    h.expires
        .as_deref()
        .and_then(|e| Timestamp::parse(TimestampFormat::HttpDate, e).ok())
}

/// Stores `meta` under `bucket`/`key` in `tx` and appends its event when the
/// bucket's configuration asks; returns the object it replaced and the
/// event's position. Checks the bucket and `check` before writing anything.
pub(crate) fn store_object(
    tx: &WriteTransaction,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    cause: &Cause,
    check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
) -> S3Result<(Option<ObjectMeta>, Option<u64>)> {
    let b = write_bucket(tx, bucket)?;
    let k = object_key(bucket, key);
    let mut t = tx.open_table(OBJECTS).map_err(db_err)?;
    let old: Option<ObjectMeta> = match t.get(k.as_slice()).map_err(db_err)? {
        Some(v) => Some(decode(key, v.value())?),
        None => None,
    };
    check(old.as_ref())?;
    t.insert(k.as_slice(), encode(meta).as_slice())
        .map_err(db_err)?;
    drop(t);
    let position = events::append(
        tx,
        &rules(&b),
        &Created {
            name: cause.name,
            request_id: &cause.request_id,
            bucket,
            key,
            size: meta.size,
            etag: &meta.etag,
            region: &b.region,
            time_ms: meta.modified_ms,
        },
    )?;
    Ok((old, position))
}

/// Writes an object durably, then deletes the bytes it replaced; on failure
/// deletes the new bytes.
pub(crate) async fn commit_object(
    b: &Backend,
    bucket: String,
    key: String,
    meta: ObjectMeta,
    cause: Cause,
    check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()> + Send + 'static,
) -> S3Result<()> {
    let data = meta.data.clone();
    let result = b
        .blocking(move |store: &Store| {
            store.write(|tx| store_object(tx, &bucket, &key, &meta, &cause, check))
        })
        .await;
    match result {
        Ok((old, position)) => {
            if let Some(old) = old.filter(|o| o.data != data) {
                b.store.forget(&old.data);
            }
            b.announce(position);
            Ok(())
        }
        Err(e) => {
            b.store.forget(&data);
            Err(e)
        }
    }
}

/// If-Match / If-None-Match on a write (`*` or an ETag).
pub(crate) fn write_conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> impl FnOnce(Option<&ObjectMeta>) -> S3Result<()> + Send + 'static {
    move |old| {
        if let Some(c) = &if_none_match {
            if old.is_some_and(|o| etag_matches(c, o)) {
                return Err(precondition_failed());
            }
        }
        if let Some(c) = &if_match {
            match old {
                None => return Err(no_such_key()),
                Some(o) if !etag_matches(c, o) => return Err(precondition_failed()),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

pub(crate) fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

pub(crate) fn etag_matches(c: &ETagCondition, meta: &ObjectMeta) -> bool {
    match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == meta.etag,
    }
}

pub(crate) async fn put(
    b: &Backend,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let i = req.input;
    let claim = checksum::claim(
        checksum::sent_checksums!(i),
        req.headers.get("x-amz-trailer"),
    )?;
    // A missing bucket is answered before the body is read.
    let bucket = i.bucket.clone();
    b.blocking(move |store: &Store| read_bucket(&store.read()?, &bucket).map(drop))
        .await?;
    let (received, verified) = checksum::receive_checked(
        b,
        i.body,
        false,
        checksum::Checks {
            content_md5: i.content_md5.as_deref(),
            claim: claim.as_ref(),
            default: Some(checksum::Algorithm::Crc64Nvme),
        },
        req.trailing_headers.as_ref(),
        &req.extensions,
    )
    .await?;
    let checksums: Vec<(String, String)> = verified.into_iter().collect();
    let [crc32, crc32c, crc64nvme, sha1, sha256] = checksum::fields(&checksums);
    let meta = ObjectMeta {
        size: received.size,
        etag: hex(&received.md5),
        modified_ms: b.now(),
        headers: headers(NewHeaders {
            content_type: i.content_type,
            content_encoding: i.content_encoding,
            content_disposition: i.content_disposition,
            content_language: i.content_language,
            cache_control: i.cache_control,
            expires: i.expires,
            metadata: i.metadata,
        }),
        data: received.data,
        tags: parse_tagging(i.tagging.as_deref())?,
        checksums,
        parts: Vec::new(),
    };
    let etag = meta.etag.clone();
    let checksum_type = checksum::checksum_type(&meta);
    let check = write_conditions(i.if_match, i.if_none_match);
    let cause = Cause::of("ObjectCreated:Put", &req.extensions);
    commit_object(b, i.bucket, i.key, meta, cause, check).await?;
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(quoted(&etag)),
        checksum_type,
        server_side_encryption: Some(sse_s3()),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64nvme,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        ..Default::default()
    }))
}

/// The object `bucket`/`key` (NoSuchBucket, NoSuchKey).
pub(crate) async fn read_object(b: &Backend, bucket: String, key: String) -> S3Result<ObjectMeta> {
    b.blocking(move |store: &Store| {
        let tx = store.read()?;
        read_bucket(&tx, &bucket)?;
        let t = tx.open_table(OBJECTS).map_err(db_err)?;
        let v = t
            .get(object_key(&bucket, &key).as_slice())
            .map_err(db_err)?
            .ok_or_else(no_such_key)?;
        Ok(decode(&key, v.value())?)
    })
    .await
}

pub(crate) struct ReadConditions {
    pub(crate) if_match: Option<ETagCondition>,
    pub(crate) if_none_match: Option<ETagCondition>,
    pub(crate) if_modified_since: Option<Timestamp>,
    pub(crate) if_unmodified_since: Option<Timestamp>,
}

/// RFC 9110's order: If-Match (412), else If-Unmodified-Since (412);
/// If-None-Match (304), else If-Modified-Since (304).
pub(crate) fn read_conditions(c: &ReadConditions, meta: &ObjectMeta) -> S3Result<()> {
    let modified_s = (meta.modified_ms / 1000) as i128;
    match (&c.if_match, &c.if_unmodified_since) {
        (Some(m), _) if !etag_matches(m, meta) => return Err(precondition_failed()),
        (None, Some(t)) if modified_s > millis(t).div_euclid(1000) => {
            return Err(precondition_failed())
        }
        _ => {}
    }
    // A 304 carries the object's ETag and Last-Modified, as S3's does.
    let not_modified = || {
        let mut e = s3_error!(NotModified);
        let mut h = axum::http::HeaderMap::new();
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
            h.insert(axum::http::header::ETAG, v);
        }
        let mut date = Vec::new();
        let _ = timestamp(meta.modified_ms).format(TimestampFormat::HttpDate, &mut date);
        if let Ok(v) = axum::http::HeaderValue::from_bytes(&date) {
            h.insert(axum::http::header::LAST_MODIFIED, v);
        }
        e.set_headers(h);
        e
    };
    match (&c.if_none_match, &c.if_modified_since) {
        (Some(m), _) if etag_matches(m, meta) => Err(not_modified()),
        (None, Some(t)) if modified_s <= millis(t).div_euclid(1000) => Err(not_modified()),
        _ => Ok(()),
    }
}

/// The bytes a read asks for: a Range header, or a part of the object
/// (`partNumber`, a ranged read of that part as S3 answers it; an object
/// uploaded whole has one part); `None` for the whole object.
fn byte_range(
    range: Option<&Range>,
    part: Option<i32>,
    meta: &ObjectMeta,
) -> S3Result<Option<std::ops::Range<u64>>> {
    match (range, part) {
        (None, None) => Ok(None),
        (Some(r), None) => r
            .check(meta.size)
            .map(Some)
            .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable")),
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (None, Some(n)) => {
            let whole = [meta.size];
            let parts = if meta.parts.is_empty() {
                &whole[..]
            } else {
                &meta.parts[..]
            };
            let Some(size) = usize::try_from(n)
                .ok()
                .and_then(|n| parts.get(n.wrapping_sub(1)))
            else {
                let mut e = S3Error::with_message(
                    s3s::S3ErrorCode::Custom("InvalidPartNumber".into()),
                    "The requested partnumber is not satisfiable",
                );
                e.set_status_code(axum::http::StatusCode::RANGE_NOT_SATISFIABLE);
                return Err(e);
            };
            let start: u64 = parts[..n as usize - 1].iter().sum();
            Ok(Some(start..start + size))
        }
    }
}

/// The stored checksums when the request enabled checksum mode.
fn checksum_fields(meta: &ObjectMeta, mode: Option<&ChecksumMode>) -> checksum::Fields {
    let enabled = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    checksum::fields(meta.checksums.iter().filter(|_| enabled))
}

pub(crate) async fn get(
    b: &Backend,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let i = req.input;
    let conditions = ReadConditions {
        if_match: i.if_match,
        if_none_match: i.if_none_match,
        if_modified_since: i.if_modified_since,
        if_unmodified_since: i.if_unmodified_since,
    };
    // A concurrent overwrite may delete the file between reading the record
    // and opening it: read the record again.
    for _ in 0..8 {
        let meta = read_object(b, i.bucket.clone(), i.key.clone()).await?;
        read_conditions(&conditions, &meta)?;
        let range = byte_range(i.range.as_ref(), i.part_number, &meta)?;
        let Some(reader) = blob::open(&b.store, &meta.data).await? else {
            continue;
        };
        let span = range.clone().unwrap_or(0..meta.size);
        let body = blob::stream(reader, span.clone()).await?;
        let mode = i.checksum_mode.as_ref().filter(|_| range.is_none());
        let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&meta, mode);
        let checksum_type = mode
            .filter(|m| m.as_str() == ChecksumMode::ENABLED)
            .and_then(|_| checksum::checksum_type(&meta));
        let h = &meta.headers;
        let out = GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some((span.end - span.start) as i64),
            content_range: range.map(|r| {
                format!(
                    "bytes {}-{}/{}",
                    r.start,
                    r.end.saturating_sub(1),
                    meta.size
                )
            }),
            content_type: content_type_of(h),
            content_encoding: h.content_encoding.clone(),
            content_disposition: h.content_disposition.clone(),
            content_language: h.content_language.clone(),
            cache_control: h.cache_control.clone(),
            expires: expires_of(h),
            metadata: metadata_map(h),
            e_tag: Some(quoted(&meta.etag)),
            last_modified: Some(timestamp(meta.modified_ms)),
            tag_count: (!meta.tags.is_empty()).then_some(meta.tags.len() as i32),
            parts_count: (!meta.parts.is_empty()).then_some(meta.parts.len() as i32),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type,
            server_side_encryption: Some(sse_s3()),
            ..Default::default()
        };
        return Ok(S3Response::new(out));
    }
    Err(super::internal(
        "the object kept changing while it was read",
    ))
}

pub(crate) async fn head(
    b: &Backend,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let i = req.input;
    let meta = read_object(b, i.bucket, i.key).await?;
    read_conditions(
        &ReadConditions {
            if_match: i.if_match,
            if_none_match: i.if_none_match,
            if_modified_since: i.if_modified_since,
            if_unmodified_since: i.if_unmodified_since,
        },
        &meta,
    )?;
    let range = byte_range(i.range.as_ref(), i.part_number, &meta)?;
    let span = range.clone().unwrap_or(0..meta.size);
    let [crc32, crc32c, crc64, sha1, sha256] = checksum_fields(&meta, i.checksum_mode.as_ref());
    let checksum_type = i
        .checksum_mode
        .as_ref()
        .filter(|m| m.as_str() == ChecksumMode::ENABLED)
        .and_then(|_| checksum::checksum_type(&meta));
    let h = &meta.headers;
    Ok(S3Response::new(HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        content_length: Some((span.end - span.start) as i64),
        content_range: range.map(|r| {
            format!(
                "bytes {}-{}/{}",
                r.start,
                r.end.saturating_sub(1),
                meta.size
            )
        }),
        content_type: content_type_of(h),
        content_encoding: h.content_encoding.clone(),
        content_disposition: h.content_disposition.clone(),
        content_language: h.content_language.clone(),
        cache_control: h.cache_control.clone(),
        expires: expires_of(h),
        metadata: metadata_map(h),
        e_tag: Some(quoted(&meta.etag)),
        last_modified: Some(timestamp(meta.modified_ms)),
        parts_count: (!meta.parts.is_empty()).then_some(meta.parts.len() as i32),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type,
        server_side_encryption: Some(sse_s3()),
        ..Default::default()
    }))
}
