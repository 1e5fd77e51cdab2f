//! Object tagging: put, get, delete.

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::buckets::{tag_set, write_bucket};
use super::objects::{no_such_key, read_object};
use super::store::{db_err, decode, encode, object_key, ObjectMeta, Store, OBJECTS};
use super::Backend;

/// An object's tags within S3's limits: 10 tags, keys of 128 and values of
/// 256 characters, no key twice (`InvalidTag`, in S3's words).
pub(crate) fn check_object_tags(tags: &[(String, String)]) -> S3Result<()> {
    if tags.len() > 10 {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than 10"
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.chars().count() > 128 {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is too long, max 128"
            ));
        }
        if v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is too long, max 256"
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Changes the tags of an existing object.
async fn set_tags(
    b: &Backend,
    bucket: String,
    key: String,
    tags: Vec<(String, String)>,
) -> S3Result<()> {
    b.blocking(move |store: &Store| {
        store.write(|tx| {
            write_bucket(tx, &bucket)?;
            let k = object_key(&bucket, &key);
            let mut t = tx.open_table(OBJECTS).map_err(db_err)?;
            let mut meta: ObjectMeta = match t.get(k.as_slice()).map_err(db_err)? {
                Some(v) => decode(&key, v.value())?,
                None => return Err(no_such_key()),
            };
            meta.tags = tags;
            t.insert(k.as_slice(), encode(&meta).as_slice())
                .map_err(db_err)?;
            Ok(())
        })
    })
    .await
}

pub(crate) async fn put(
    b: &Backend,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let i = req.input;
    let tags = super::buckets::tags_of(i.tagging);
    check_object_tags(&tags)?;
    set_tags(b, i.bucket, i.key, tags).await?;
    Ok(S3Response::new(PutObjectTaggingOutput::default()))
}

pub(crate) async fn get(
    b: &Backend,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let meta = read_object(b, req.input.bucket, req.input.key).await?;
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tag_set(&meta.tags),
        version_id: None,
    }))
}

pub(crate) async fn delete(
    b: &Backend,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    set_tags(b, req.input.bucket, req.input.key, Vec::new()).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}
