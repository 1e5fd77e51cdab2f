//! DeleteObject and DeleteObjects, with their conditions: an object whose
//! ETag, modification time or size does not match is kept.

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::buckets::write_bucket;
use super::checksum;
use super::objects::{etag_matches, precondition_failed};
use super::store::{db_err, decode, object_key, ObjectMeta, Store, OBJECTS};
use super::{millis, Backend};

/// DeleteObject's conditions (`If-Match`, `x-amz-if-match-last-modified-time`,
/// `x-amz-if-match-size`), or those of one key of DeleteObjects: an object
/// that does not hold them is kept (412 PreconditionFailed); a missing
/// object is no failure.
#[derive(Default)]
pub(crate) struct DeleteIf {
    pub(crate) etag: Option<ETagCondition>,
    pub(crate) modified: Option<Timestamp>,
    pub(crate) size: Option<i64>,
}

impl DeleteIf {
    fn holds(&self, meta: &ObjectMeta) -> bool {
        self.etag.as_ref().is_none_or(|c| etag_matches(c, meta))
            && self
                .modified
                .as_ref()
                .is_none_or(|t| millis(t).div_euclid(1000) == (meta.modified_ms / 1000) as i128)
            && self.size.is_none_or(|s| s == meta.size as i64)
    }
}

/// Removes `keys` of `bucket` in one transaction, each unless its
/// conditions fail; returns, in the order of `keys`, whether each one's
/// conditions held.
async fn remove(b: &Backend, bucket: String, keys: Vec<(String, DeleteIf)>) -> S3Result<Vec<bool>> {
    let (gone, held) = b
        .blocking(move |store: &Store| {
            store.write(|tx| {
                write_bucket(tx, &bucket)?;
                let mut t = tx.open_table(OBJECTS).map_err(db_err)?;
                let mut gone = Vec::new();
                let mut held = Vec::new();
                for (key, cond) in &keys {
                    let k = object_key(&bucket, key);
                    let old = match t.get(k.as_slice()).map_err(db_err)? {
                        Some(v) => Some(decode::<ObjectMeta>(key, v.value())?),
                        None => None,
                    };
                    let holds = old.as_ref().is_none_or(|o| cond.holds(o));
                    held.push(holds);
                    if let (true, Some(old)) = (holds, old) {
                        t.remove(k.as_slice()).map_err(db_err)?;
                        gone.push(old);
                    }
                }
                Ok((gone, held))
            })
        })
        .await?;
    for meta in &gone {
        b.store.forget(&meta.data);
    }
    Ok(held)
}

pub(crate) async fn delete(
    b: &Backend,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let i = req.input;
    let cond = DeleteIf {
        etag: i.if_match,
        modified: i.if_match_last_modified_time,
        size: i.if_match_size,
    };
    if remove(b, i.bucket, vec![(i.key, cond)]).await? != [true] {
        return Err(precondition_failed());
    }
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub(crate) async fn delete_many(
    b: &Backend,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    if let Some(refused) = req.extensions.get::<checksum::BodyDigest>() {
        refused.check()?;
    }
    let d = req.input.delete;
    if d.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let keys: Vec<(String, DeleteIf)> = d
        .objects
        .into_iter()
        .map(|o| {
            let cond = DeleteIf {
                etag: o.e_tag.map(ETagCondition::ETag),
                modified: o.last_modified_time,
                size: o.size,
            };
            (o.key, cond)
        })
        .collect();
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let held = remove(b, req.input.bucket, keys).await?;
    let quiet = d.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (key, held) in names.into_iter().zip(held) {
        if held {
            deleted.push(DeletedObject {
                key: Some(key),
                ..Default::default()
            });
        } else {
            errors.push(Error {
                code: Some("PreconditionFailed".into()),
                key: Some(key),
                message: Some(
                    "At least one of the pre-conditions you specified did not hold".into(),
                ),
                ..Default::default()
            });
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: (!quiet).then_some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}
