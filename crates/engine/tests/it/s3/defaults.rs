//! What S3 answers today around writes and deletes: conditional deletes
//! (DeleteObject's If-Match, DeleteObjects' per-key ETags), conditional
//! completion of an upload, DeleteObjects' required integrity header, the
//! CRC64NVME, checksum type and SSE-S3 every object gets, the settings a new
//! bucket reads as (Terraform reads them all), ListObjectVersions without
//! versioning, whole-second times in listings, a HEAD of a part, the
//! location constraint us-east-1, and messages for bare error codes.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership, Permission,
    ServerSideEncryption,
};
use aws_sdk_s3::Client;
use base64::Engine as _;

use super::checksums::raw;
use super::{client, code, status};

async fn bucket_with(keys: &[&str]) -> (engine::EngineHandle, Client) {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    for k in keys {
        c.put_object()
            .bucket("bkt")
            .key(*k)
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await
            .unwrap();
    }
    (e, c)
}

async fn exists(c: &Client, key: &str) -> bool {
    c.head_object().bucket("bkt").key(key).send().await.is_ok()
}

#[tokio::test]
async fn deletes_with_conditions_keep_objects_that_do_not_hold_them() {
    let (_e, c) = bucket_with(&["a", "b", "c"]).await;
    let etag = c
        .head_object()
        .bucket("bkt")
        .key("a")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    let refused = c
        .delete_object()
        .bucket("bkt")
        .key("a")
        .if_match("\"0123\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (code(&refused), status(&refused)),
        ("PreconditionFailed".into(), 412)
    );
    assert!(exists(&c, "a").await);
    let refused = c
        .delete_object()
        .bucket("bkt")
        .key("a")
        .if_match_size(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&refused), 412);
    c.delete_object()
        .bucket("bkt")
        .key("a")
        .if_match(&etag)
        .if_match_size(5)
        .send()
        .await
        .unwrap();
    assert!(!exists(&c, "a").await);
    // A missing object is no failure.
    c.delete_object()
        .bucket("bkt")
        .key("a")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    // DeleteObjects: each key's ETag is its own condition.
    let ids = [("b", "\"0123\""), ("c", etag.as_str())]
        .map(|(k, t)| ObjectIdentifier::builder().key(k).e_tag(t).build().unwrap());
    let out = c
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .set_objects(Some(ids.to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["c"]);
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    assert_eq!(errors, [("b", "PreconditionFailed")]);
    assert!(exists(&c, "b").await && !exists(&c, "c").await);
}

#[tokio::test]
async fn an_upload_completed_with_if_none_match_does_not_replace_an_object() {
    let (_e, c) = bucket_with(&["k"]).await;
    let up = super::multipart::start(&c, "k", None).await;
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let complete = || {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(id)
            .multipart_upload(parts.clone())
    };
    let refused = complete().if_none_match("*").send().await.unwrap_err();
    assert_eq!(
        (code(&refused), status(&refused)),
        ("PreconditionFailed".into(), 412)
    );
    let refused = complete().if_match("\"0123\"").send().await.unwrap_err();
    assert_eq!(status(&refused), 412);
    assert_eq!(super::body(&c, "bkt", "k").await, b"hello");
    // The upload is kept: completed without conditions, it replaces the object.
    complete().send().await.unwrap();
    assert_eq!(super::body(&c, "bkt", "k").await, b"new");
}

#[tokio::test]
async fn delete_objects_needs_an_integrity_header_that_matches_its_body() {
    let (e, c) = bucket_with(&["k"]).await;
    let body = b"<Delete><Object><Key>k</Key></Object></Delete>";
    let md5 = |b: &[u8]| {
        use md5::{Digest, Md5};
        base64::engine::general_purpose::STANDARD.encode(Md5::digest(b))
    };
    let addr = e.addr();
    let post = |header: String| async move {
        let head = format!(
            "POST /bkt?delete HTTP/1.1\r\nContent-Length: {}{header}",
            body.len()
        );
        raw(addr, &head, body).await
    };
    let missing = post(String::new()).await;
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    assert!(missing.contains("<Code>InvalidRequest</Code><Message>Missing required header for this request: Content-MD5</Message>"), "{missing}");
    let wrong = post(format!("\r\nContent-MD5: {}", md5(b"other"))).await;
    assert!(wrong.contains("<Code>BadDigest</Code>"), "{wrong}");
    let crc = post("\r\nx-amz-checksum-crc32: AAAAAA==".into()).await;
    assert!(crc.contains("<Code>BadDigest</Code>"), "{crc}");
    assert!(exists(&c, "k").await);
    // A body without a length (chunked) is refused, as S3 refuses it.
    let chunked = "POST /bkt?delete HTTP/1.1\r\nTransfer-Encoding: chunked";
    let framed = [
        format!("{:x}\r\n", body.len()).as_bytes(),
        body,
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    let unframed = raw(addr, chunked, &framed).await;
    assert!(unframed.starts_with("HTTP/1.1 411"), "{unframed}");
    let right = post(format!("\r\nContent-MD5: {}", md5(body))).await;
    assert!(right.contains("<Deleted><Key>k</Key></Deleted>"), "{right}");
    assert!(!exists(&c, "k").await);
}

#[tokio::test]
async fn objects_get_a_crc64nvme_a_checksum_type_and_sse_s3() {
    let (e, c) = bucket_with(&[]).await;
    // No checksum sent (the SDK would add a CRC32).
    let put = raw(
        e.addr(),
        "PUT /bkt/plain HTTP/1.1\r\nContent-Length: 5",
        b"hello",
    )
    .await;
    assert!(
        put.to_ascii_lowercase()
            .contains("x-amz-server-side-encryption: aes256"),
        "{put}"
    );
    let head = c
        .head_object()
        .bucket("bkt")
        .key("plain")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    // CRC64NVME of "hello".
    assert_eq!(head.checksum_crc64_nvme(), Some("M3eFcAZSQlc="));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let listed = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    let o = &listed.contents()[0];
    assert_eq!(o.checksum_algorithm()[0].as_str(), "CRC64NVME");
    assert_eq!(o.checksum_type(), Some(&ChecksumType::FullObject));
    // Listed times are whole seconds, as S3 lists them.
    let xml = raw(e.addr(), "GET /bkt?list-type=2 HTTP/1.1", b"").await;
    assert!(xml.contains(".000Z</LastModified>"), "{xml}");
}

#[tokio::test]
async fn a_new_buckets_settings_read_as_s3_answers_them() {
    let (_e, c) = bucket_with(&["d/x", "e"]).await;
    let v = c
        .get_bucket_versioning()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert!(v.status().is_none());
    let enc = c
        .get_bucket_encryption()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::Aes256);
    let block = c
        .get_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
    let own = c
        .get_bucket_ownership_controls()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let rule = &own.ownership_controls().unwrap().rules()[0];
    assert_eq!(
        rule.object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(acl.grants()[0].permission(), Some(&Permission::FullControl));
    let acl = c
        .get_object_acl()
        .bucket("bkt")
        .key("e")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.grants().len(), 1);
    let absent = [
        (c.get_bucket_cors()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
        (c.get_bucket_policy()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
        (c.get_bucket_lifecycle_configuration()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
        (c.get_bucket_website()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
        (c.get_bucket_replication()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
        (c.get_object_lock_configuration()
            .bucket("bkt")
            .send()
            .await
            .err()
            .map(|e| code(&e))),
    ];
    let absent: Vec<&str> = absent
        .iter()
        .map(|c| c.as_deref().unwrap_or("answered"))
        .collect();
    assert_eq!(
        absent,
        [
            "NoSuchCORSConfiguration",
            "NoSuchBucketPolicy",
            "NoSuchLifecycleConfiguration",
            "NoSuchWebsiteConfiguration",
            "ReplicationConfigurationNotFoundError",
            "ObjectLockConfigurationNotFoundError",
        ]
    );
    c.get_bucket_logging().bucket("bkt").send().await.unwrap();
    c.get_bucket_request_payment()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    c.get_bucket_accelerate_configuration()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let missing = c
        .get_bucket_versioning()
        .bucket("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "NoSuchBucket");
    // Without versioning, each object is its only version, `null`.
    let first = c
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.common_prefixes()[0].prefix(), Some("d/"));
    assert_eq!(first.is_truncated(), Some(true));
    let rest = c
        .list_object_versions()
        .bucket("bkt")
        .delimiter("/")
        .key_marker(first.next_key_marker().unwrap())
        .send()
        .await
        .unwrap();
    // The prefix the marker names is not listed again.
    assert!(rest.common_prefixes().is_empty());
    let v = &rest.versions()[0];
    assert_eq!(
        (v.key(), v.version_id(), v.is_latest()),
        (Some("e"), Some("null"), Some(true))
    );
}

#[tokio::test]
async fn heads_of_parts_bucket_regions_and_bare_codes_answer_as_s3() {
    let (e, c) = bucket_with(&["k"]).await;
    let head = raw(e.addr(), "HEAD /bkt/k?partNumber=1 HTTP/1.1", b"").await;
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    let in_us_east_1 = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::from("us-east-1"))
        .build();
    let refused = c
        .create_bucket()
        .bucket("other")
        .create_bucket_configuration(in_us_east_1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "InvalidLocationConstraint");
    let elsewhere = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::EuWest1)
        .build();
    c.create_bucket()
        .bucket("other")
        .create_bucket_configuration(elsewhere)
        .send()
        .await
        .unwrap();
    let bad = raw(e.addr(), "PUT /b1 HTTP/1.1\r\nContent-Length: 0", b"").await;
    assert!(
        bad.contains(
            "<Code>InvalidBucketName</Code><Message>The specified bucket is not valid.</Message>"
        ),
        "{bad}"
    );
}
