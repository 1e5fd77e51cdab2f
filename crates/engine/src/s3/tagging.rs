//! Object tagging: put, get, delete.

use redb::ReadableTable;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::buckets::{tag_set, write_bucket};
use super::objects::{no_such_key, read_object};
use super::store::{db_err, decode, encode, object_key, ObjectMeta, Store, OBJECTS};
use super::Backend;

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
    set_tags(b, i.bucket, i.key, super::buckets::tags_of(i.tagging)).await?;
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
