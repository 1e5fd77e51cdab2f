//! ListObjectsV2 (and the older ListObjects): an ordered range scan of a
//! bucket's keys with prefix, delimiter (common prefixes), start-after,
//! continuation token and max-keys.

use base64::Engine as _;
use redb::{ReadTransaction, ReadableTable};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::buckets::{owner, read_bucket};
use super::checksum::checksum_type;
use super::store::{db_err, decode, object_key, ObjectMeta, Store, StoreError, OBJECTS};
use super::{quoted, timestamp, Backend};

/// What a page lists.
pub(crate) struct Query {
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    pub(crate) delimiter: Option<String>,
    /// List keys after this one.
    pub(crate) after: Option<String>,
    /// Also skip every key under `after` (it was a common prefix).
    pub(crate) skip_under: bool,
    pub(crate) max: usize,
}

pub(crate) enum Entry {
    Object(String, Box<ObjectMeta>),
    Prefix(String),
}

pub(crate) struct Page {
    pub(crate) entries: Vec<Entry>,
    pub(crate) truncated: bool,
}

/// The first key of `bucket` strictly after `after` (or after everything
/// under it) that starts with `prefix`.
fn next(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    q: &Query,
    after: Option<(&str, bool)>,
) -> Result<Option<(String, ObjectMeta)>, StoreError> {
    let base = object_key(&q.bucket, &q.prefix);
    let mut start = base.clone();
    if let Some((a, under)) = after {
        let mut from = object_key(&q.bucket, a);
        // UTF-8 never holds 0xFF: `a` + 0xFF sorts after every key under `a`;
        // `a` + 0x00 is the first key after `a` itself.
        from.push(if under { 0xFF } else { 0x00 });
        if from > start {
            start = from;
        }
    }
    let mut range = t.range(start.as_slice()..).map_err(db_err)?;
    if let Some(row) = range.next() {
        let (k, v) = row.map_err(db_err)?;
        if !k.value().starts_with(&base) {
            return Ok(None);
        }
        let key = String::from_utf8_lossy(&k.value()[q.bucket.len() + 1..]).into_owned();
        let meta = decode(&key, v.value())?;
        return Ok(Some((key, meta)));
    }
    Ok(None)
}

pub(crate) fn page(tx: &ReadTransaction, q: &Query) -> S3Result<Page> {
    read_bucket(tx, &q.bucket)?;
    let t = tx.open_table(OBJECTS).map_err(db_err)?;
    let mut entries = Vec::new();
    let mut cursor: Option<(String, bool)> = q.after.clone().map(|a| (a, q.skip_under));
    loop {
        let Some((key, meta)) = next(&t, q, cursor.as_ref().map(|(a, u)| (a.as_str(), *u)))? else {
            return Ok(Page {
                entries,
                truncated: false,
            });
        };
        if entries.len() >= q.max {
            // A listing of no keys at all is not truncated (as S3 answers
            // max-keys=0).
            return Ok(Page {
                entries,
                truncated: q.max > 0,
            });
        }
        let rest = &key[q.prefix.len()..];
        let common = q
            .delimiter
            .as_deref()
            .filter(|d| !d.is_empty())
            .and_then(|d| {
                rest.find(d)
                    .map(|at| format!("{}{}", q.prefix, &rest[..at + d.len()]))
            });
        match common {
            // A common prefix at or before the marker was listed on an
            // earlier page (its keys follow the marker): skip past it.
            Some(p) if q.after.as_deref().is_some_and(|a| p.as_str() <= a) => {
                cursor = Some((p, true));
            }
            Some(p) => {
                cursor = Some((p.clone(), true));
                entries.push(Entry::Prefix(p));
            }
            None => {
                cursor = Some((key.clone(), false));
                entries.push(Entry::Object(key, Box::new(meta)));
            }
        }
    }
}

/// Percent-encodes as S3 does for `encoding-type=url`.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn token_of(entry: &Entry) -> String {
    let raw = match entry {
        Entry::Object(k, _) => format!("k{k}"),
        Entry::Prefix(p) => format!("p{p}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn parse_token(token: &str) -> S3Result<(String, bool)> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The continuation token provided is incorrect"
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    match raw.split_at_checked(1) {
        Some(("k", k)) => Ok((k.to_string(), false)),
        Some(("p", p)) => Ok((p.to_string(), true)),
        _ => Err(bad()),
    }
}

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

async fn run(b: &Backend, q: Query) -> S3Result<(Query, Page)> {
    b.blocking(move |store: &Store| {
        let tx = store.read()?;
        let page = page(&tx, &q)?;
        Ok((q, page))
    })
    .await
}

/// The algorithm of an object's stored checksum, as listings name it.
fn checksum_algorithm(meta: &ObjectMeta) -> Option<ChecksumAlgorithmList> {
    let (name, _) = meta.checksums.first()?;
    Some(vec![ChecksumAlgorithm::from(name.clone())])
}

fn split(entries: Vec<Entry>, url: bool) -> (Vec<Object>, Vec<CommonPrefix>) {
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for e in entries {
        match e {
            Entry::Object(key, meta) => objects.push(Object {
                key: Some(enc(key)),
                size: Some(meta.size as i64),
                e_tag: Some(quoted(&meta.etag)),
                last_modified: Some(timestamp(meta.modified_ms)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                checksum_algorithm: checksum_algorithm(&meta),
                checksum_type: checksum_type(&meta),
                ..Default::default()
            }),
            Entry::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc(p)),
            }),
        }
    }
    (objects, prefixes)
}

fn is_url(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

/// The page of version 1 and ListObjectVersions: keys after a marker.
fn after_marker(
    bucket: &str,
    prefix: &Option<String>,
    delimiter: &Option<String>,
    marker: &Option<String>,
    max: Option<i32>,
) -> S3Result<Query> {
    Ok(Query {
        bucket: bucket.to_string(),
        prefix: prefix.clone().unwrap_or_default(),
        delimiter: delimiter.clone(),
        after: marker.clone().filter(|m| !m.is_empty()),
        skip_under: false,
        max: max_keys(max)?,
    })
}

/// The marker of the page after a truncated one: its last key or prefix.
fn next_marker(page: &Page) -> Option<String> {
    let last = page.entries.last().filter(|_| page.truncated)?;
    Some(match last {
        Entry::Object(k, _) => k.clone(),
        Entry::Prefix(p) => p.clone(),
    })
}

pub(crate) async fn list_v2(
    b: &Backend,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let i = req.input;
    let url = is_url(i.encoding_type.as_ref());
    let (after, skip_under) = match (&i.continuation_token, &i.start_after) {
        (Some(t), _) => parse_token(t)?,
        (None, Some(s)) => (s.clone(), false),
        (None, None) => (String::new(), false),
    };
    let q = Query {
        bucket: i.bucket.clone(),
        prefix: i.prefix.clone().unwrap_or_default(),
        delimiter: i.delimiter.clone(),
        after: (!after.is_empty()).then_some(after),
        skip_under,
        max: max_keys(i.max_keys)?,
    };
    let (q, page) = run(b, q).await?;
    let next = page
        .truncated
        .then(|| page.entries.last().map(token_of))
        .flatten();
    let count = page.entries.len() as i32;
    let (mut objects, prefixes) = split(page.entries, url);
    // Version 2 names the owner only when asked to (`fetch-owner`).
    if i.fetch_owner == Some(true) {
        for o in &mut objects {
            o.owner = Some(owner());
        }
    }
    let enc = |s: Option<String>| s.map(|s| if url { url_encode(&s) } else { s });
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(q.bucket),
        prefix: enc(Some(q.prefix)),
        delimiter: enc(i.delimiter),
        max_keys: Some(q.max as i32),
        key_count: Some(count),
        is_truncated: Some(page.truncated),
        continuation_token: i.continuation_token,
        next_continuation_token: next,
        start_after: enc(i.start_after),
        contents: Some(objects),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}

pub(crate) async fn list_v1(
    b: &Backend,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let i = req.input;
    let url = is_url(i.encoding_type.as_ref());
    let q = after_marker(&i.bucket, &i.prefix, &i.delimiter, &i.marker, i.max_keys)?;
    let (q, page) = run(b, q).await?;
    // NextMarker is only given with a delimiter, as S3 does.
    let next_marker = next_marker(&page).filter(|_| q.delimiter.is_some());
    let (mut objects, prefixes) = split(page.entries, url);
    for o in &mut objects {
        o.owner = Some(owner());
    }
    let enc = |s: Option<String>| s.map(|s| if url { url_encode(&s) } else { s });
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(q.bucket),
        prefix: enc(Some(q.prefix)),
        delimiter: enc(i.delimiter),
        marker: enc(Some(i.marker.unwrap_or_default())),
        next_marker: enc(next_marker),
        max_keys: Some(q.max as i32),
        is_truncated: Some(page.truncated),
        contents: Some(objects),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}

/// ListObjectVersions of a bucket without versioning (the engine keeps no
/// versions): each object is its only version, `null`, and the latest.
pub(crate) async fn versions(
    b: &Backend,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let i = req.input;
    let url = is_url(i.encoding_type.as_ref());
    let q = after_marker(
        &i.bucket,
        &i.prefix,
        &i.delimiter,
        &i.key_marker,
        i.max_keys,
    )?;
    let (q, page) = run(b, q).await?;
    let next_key = next_marker(&page);
    let (objects, prefixes) = split(page.entries, url);
    let versions = objects
        .into_iter()
        .map(|o| ObjectVersion {
            checksum_algorithm: o.checksum_algorithm,
            checksum_type: o.checksum_type,
            e_tag: o.e_tag,
            is_latest: Some(true),
            key: o.key,
            last_modified: o.last_modified,
            owner: Some(owner()),
            size: o.size,
            storage_class: Some(ObjectVersionStorageClass::from_static(
                ObjectVersionStorageClass::STANDARD,
            )),
            version_id: Some("null".into()),
            ..Default::default()
        })
        .collect();
    let enc = |s: Option<String>| s.map(|s| if url { url_encode(&s) } else { s });
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(q.bucket),
        prefix: enc(Some(q.prefix)),
        delimiter: enc(i.delimiter),
        key_marker: enc(Some(i.key_marker.unwrap_or_default())),
        version_id_marker: Some(i.version_id_marker.unwrap_or_default()),
        next_version_id_marker: next_key.as_ref().map(|_| "null".to_string()),
        next_key_marker: enc(next_key),
        max_keys: Some(q.max as i32),
        is_truncated: Some(page.truncated),
        versions: Some(versions),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}
