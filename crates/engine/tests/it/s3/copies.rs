//! Copies as the AWS CLI and boto3 make them (UploadPartCopy for objects of
//! 8 MB or more, CopyObject below), and what S3 answers around them: the
//! copy's own ETag, reads of one part, the default Content-Type, a 304's
//! headers, Range headers S3 ignores, request ids, empty listings, owners on
//! request and paging through a key's uploads; object tag limits and an
//! undecodable Content-MD5.

use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use super::{body, client, code, md5_hex, status};

/// An engine with bucket `bkt` holding `k` (one byte), a client, and the put's answer.
async fn bucket_with_k() -> (engine::EngineHandle, Client, PutObjectOutput) {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let put = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    (e, c, put)
}

#[tokio::test]
async fn a_multipart_copy_reads_ranges_of_the_source() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let data: Vec<u8> = (0..(12u32 << 20)).map(|i| (i % 251) as u8).collect();
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("dst")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let half = 6u64 << 20;
    let mut parts = Vec::new();
    for (n, range) in [
        (1, format!("bytes=0-{}", half - 1)),
        (2, format!("bytes={half}-{}", data.len() - 1)),
    ] {
        let copied = c
            .upload_part_copy()
            .bucket("bkt")
            .key("dst")
            .upload_id(id)
            .part_number(n)
            .copy_source("bkt/src")
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let etag = copied
            .copy_part_result()
            .unwrap()
            .e_tag()
            .unwrap()
            .to_string();
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let beyond = c
        .upload_part_copy()
        .bucket("bkt")
        .key("dst")
        .upload_id(id)
        .part_number(3)
        .copy_source("bkt/src")
        .copy_source_range(format!("bytes=0-{}", data.len()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&beyond), "InvalidRange");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("dst")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(body(&c, "bkt", "dst").await == data);
    // A part of it, read by its number (a ranged read of that part).
    let second = c
        .get_object()
        .bucket("bkt")
        .key("dst")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.content_range(),
        Some(format!("bytes {half}-{}/{}", data.len() - 1, data.len()).as_str())
    );
    assert_eq!(second.parts_count(), Some(2));
    let bytes = second.body.collect().await.unwrap().into_bytes();
    assert!(bytes[..] == data[half as usize..]);
    let third = c
        .head_object()
        .bucket("bkt")
        .key("dst")
        .part_number(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&third), 416);

    // A copy of the multipart object is a new object: its ETag is the MD5
    // of its bytes, not the source's `md5-of-md5s-2`.
    let copied = c
        .copy_object()
        .bucket("bkt")
        .key("copy")
        .copy_source("bkt/dst")
        .send()
        .await
        .unwrap();
    let etag = copied.copy_object_result().unwrap().e_tag().unwrap();
    assert_eq!(etag.trim_matches('"'), md5_hex(&data));
    let head = c
        .head_object()
        .bucket("bkt")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(head.parts_count(), None);
    // Stored without a Content-Type: S3's default; every answer has an id.
    assert_eq!(head.content_type(), Some("binary/octet-stream"));
    assert!(head.request_id().is_some_and(|id| id.len() == 16));
}

#[tokio::test]
async fn not_modified_names_the_etag_and_a_missing_key_is_worded_as_s3_does() {
    let (_e, c, put) = bucket_with_k().await;
    let etag = put.e_tag().unwrap();
    let err = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .if_none_match(etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 304);
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.headers().get("etag"), Some(etag));
    assert!(raw.headers().get("last-modified").is_some());
    // A Range S3 cannot read (reversed, or several ranges) is ignored.
    for range in ["bytes=5-2", "bytes=0-0,0-0", "bytes=abc"] {
        let whole = c
            .get_object()
            .bucket("bkt")
            .key("k")
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (whole.content_length(), whole.content_range()),
            (Some(1), None),
            "{range}"
        );
    }
    let missing = c
        .get_object()
        .bucket("bkt")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    let missing = missing.into_service_error();
    assert_eq!(
        missing.meta().message(),
        Some("The specified key does not exist.")
    );
}

#[tokio::test]
async fn listings_of_no_keys_are_complete_and_a_keys_uploads_page_by_upload_id() {
    let (_e, c, _) = bucket_with_k().await;
    let none = c
        .list_objects_v2()
        .bucket("bkt")
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (none.key_count(), none.is_truncated()),
        (Some(0), Some(false))
    );
    let owned = |fetch: bool| c.list_objects_v2().bucket("bkt").fetch_owner(fetch).send();
    assert!(owned(false).await.unwrap().contents()[0].owner().is_none());
    assert!(owned(true).await.unwrap().contents()[0].owner().is_some());
    for key in ["a", "a", "a", "b"] {
        c.create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        let page = c
            .list_multipart_uploads()
            .bucket("bkt")
            .max_uploads(1)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        for u in page.uploads() {
            seen.push((
                u.key().unwrap().to_string(),
                u.upload_id().unwrap().to_string(),
            ));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
    let keys: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "a", "a", "b"]);
    let ids: std::collections::BTreeSet<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), 4);
}

#[tokio::test]
async fn object_tags_and_content_md5_are_checked_as_s3_checks_them() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let (_e, c, _) = bucket_with_k().await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let put_tags = |tags: Vec<Tag>| {
        c.put_object_tagging()
            .bucket("bkt")
            .key("k")
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build().unwrap())
            .send()
    };
    let eleven: Vec<Tag> = (0..11).map(|i| tag(&format!("k{i}"), "v")).collect();
    let long_key = "k".repeat(129);
    for (tags, message) in [
        (eleven, "Object tags cannot be greater than 10"),
        (
            vec![tag(&long_key, "v")],
            "The TagKey you have provided is too long, max 128",
        ),
        (
            vec![tag("k", &"v".repeat(257))],
            "The TagValue you have provided is too long, max 256",
        ),
        (
            vec![tag("k", "a"), tag("k", "b")],
            "Cannot provide multiple Tags with the same key",
        ),
    ] {
        let err = put_tags(tags).await.unwrap_err().into_service_error();
        assert_eq!(code(&err), "InvalidTag");
        assert_eq!(err.meta().message(), Some(message));
    }
    put_tags((0..10).map(|i| tag(&format!("k{i}"), "v")).collect())
        .await
        .unwrap();
    let header = (0..11)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let err = c
        .put_object()
        .bucket("bkt")
        .key("t")
        .tagging(header)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidTag");
    let err = c
        .put_object()
        .bucket("bkt")
        .key("m")
        .content_md5("YWJyYWNhZGFicmE=")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidDigest");
}
