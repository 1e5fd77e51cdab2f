//! Multipart uploads: parts, listings, the `md5-of-md5s-N` ETag, part size
//! rules and abort.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;

use super::{body, client, code, md5_hex};

async fn upload_part(c: &Client, key: &str, id: &str, n: i32, data: Vec<u8>) -> CompletedPart {
    let out = c
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(n)
        .e_tag(out.e_tag().unwrap())
        .build()
}

/// Starts a multipart upload of `key` in `bkt`, with a checksum algorithm
/// or none.
pub(super) async fn start(
    c: &Client,
    key: &str,
    algorithm: Option<aws_sdk_s3::types::ChecksumAlgorithm>,
) -> aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput {
    c.create_multipart_upload()
        .bucket("bkt")
        .key(key)
        .set_checksum_algorithm(algorithm)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn multipart_uploads_complete_with_the_md5_of_md5s_etag() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .content_type("text/csv")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let one = vec![1u8; 5 << 20];
    let two = vec![2u8; 1000];
    let parts = vec![
        upload_part(&c, "big", &id, 1, one.clone()).await,
        upload_part(&c, "big", &id, 2, two.clone()).await,
    ];
    let listed = c
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.parts()[1].size(), Some(1000));
    let uploads = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let done = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for p in [&one, &two] {
        use md5::{Digest, Md5};
        md5s.extend_from_slice(&Md5::digest(p));
    }
    assert_eq!(
        done.e_tag(),
        Some(format!("\"{}-2\"", md5_hex(&md5s)).as_str())
    );
    let mut all = one.clone();
    all.extend_from_slice(&two);
    assert_eq!(body(&c, "bkt", "big").await, all);
    let head = c
        .head_object()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/csv"));
    let gone = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert!(gone.uploads().is_empty());

    // A part under 5 MiB that is not the last: EntityTooSmall; abort.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("small")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let parts = vec![
        upload_part(&c, "small", &id, 1, vec![1; 10]).await,
        upload_part(&c, "small", &id, 2, vec![2; 10]).await,
    ];
    let small = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(small.as_service_error().unwrap()), "EntityTooSmall");
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let aborted = c
        .list_parts()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(aborted.as_service_error().unwrap()), "NoSuchUpload");
}

/// The SHA-256 digest of `data`.
fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn uploads_with_a_checksum_algorithm_check_parts_and_compose_the_objects() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType};
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let up = start(&c, "k", Some(ChecksumAlgorithm::Sha256)).await;
    assert_eq!(up.checksum_type(), Some(&ChecksumType::Composite));
    let typed_alone = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&typed_alone), "InvalidRequest");
    let id = up.upload_id().unwrap();
    let (a, b) = (vec![7u8; 5 << 20], b"tail".to_vec());
    let send = |n: i32, data: Vec<u8>, algorithm: ChecksumAlgorithm| {
        c.upload_part()
            .bucket("bkt")
            .key("k")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(algorithm)
            .body(ByteStream::from(data))
            .send()
    };
    let other = send(2, b.clone(), ChecksumAlgorithm::Crc32)
        .await
        .unwrap_err();
    assert_eq!(code(&other), "InvalidRequest");
    let p1 = send(1, a.clone(), ChecksumAlgorithm::Sha256).await.unwrap();
    let p2 = send(2, b.clone(), ChecksumAlgorithm::Sha256).await.unwrap();
    assert_eq!(p1.checksum_sha256(), Some(b64(&sha256(&a)).as_str()));
    let listed = c
        .list_parts()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let sums: Vec<_> = listed.parts().iter().map(|p| p.checksum_sha256()).collect();
    assert_eq!(sums, [p1.checksum_sha256(), p2.checksum_sha256()]);
    // A composite upload's completion names each part's checksum.
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    let bare = [(1, &p1), (2, &p2)].map(|(n, p)| {
        CompletedPart::builder()
            .part_number(n)
            .e_tag(p.e_tag().unwrap())
            .build()
    });
    let missing = complete(bare.to_vec()).await.unwrap_err();
    assert_eq!(code(&missing), "InvalidRequest");
    let swapped = [(1, &p1, &p2), (2, &p2, &p1)].map(|(n, p, other)| {
        CompletedPart::builder()
            .part_number(n)
            .e_tag(p.e_tag().unwrap())
            .checksum_sha256(other.checksum_sha256().unwrap())
            .build()
    });
    let wrong = complete(swapped.to_vec()).await.unwrap_err();
    assert_eq!(code(&wrong), "InvalidPart");
    let parts = [(1, &p1), (2, &p2)].map(|(n, p)| {
        CompletedPart::builder()
            .part_number(n)
            .e_tag(p.e_tag().unwrap())
            .checksum_sha256(p.checksum_sha256().unwrap())
            .build()
    });
    let done = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // SHA-256 over the parts' digests, then `-N`.
    let composite = format!("{}-2", b64(&sha256(&[sha256(&a), sha256(&b)].concat())));
    assert_eq!(done.checksum_sha256(), Some(composite.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let head = c
        .head_object()
        .bucket("bkt")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(composite.as_str()));
    // A copy is one part: its checksum is over its bytes.
    let copied = c
        .copy_object()
        .bucket("bkt")
        .key("copy")
        .copy_source("bkt/k")
        .send()
        .await
        .unwrap();
    let result = copied.copy_object_result().unwrap();
    let whole = b64(&sha256(&[a, b].concat()));
    assert_eq!(result.checksum_sha256(), Some(whole.as_str()));
    assert_eq!(result.checksum_type(), Some(&ChecksumType::FullObject));
}

#[tokio::test]
async fn uploads_without_an_algorithm_get_the_crc64nvme_of_their_bytes() {
    use aws_sdk_s3::types::ChecksumType;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let up = start(&c, "k", None).await;
    let id = up.upload_id().unwrap();
    let part = upload_part(&c, "k", id, 1, b"hello".to_vec()).await;
    let done = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .unwrap();
    // CRC64NVME of "hello".
    assert_eq!(done.checksum_crc64_nvme(), Some("M3eFcAZSQlc="));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
}

#[tokio::test]
async fn parts_copied_into_an_upload_with_an_algorithm_answer_their_checksums() {
    use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType};
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let up = start(&c, "k", Some(ChecksumAlgorithm::Crc32)).await;
    let id = up.upload_id().unwrap();
    let copied = c
        .upload_part_copy()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap();
    let result = copied.copy_part_result().unwrap();
    // CRC32 of "hello".
    assert_eq!(result.checksum_crc32(), Some("NhCmhg=="));
    let part = CompletedPart::builder()
        .part_number(1)
        .e_tag(result.e_tag().unwrap())
        .checksum_crc32(result.checksum_crc32().unwrap())
        .build();
    let done = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("k")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .unwrap();
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    assert!(done.checksum_crc32().unwrap().ends_with("-1"));
}
