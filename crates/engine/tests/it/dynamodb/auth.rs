//! `serve --auth` with DynamoDB: a request signed by the SDK for service
//! `dynamodb` with a configured key passes (the scope is checked against the
//! service the request is routed to, not Kinesis'); a wrong secret or an
//! unknown key gets the service's error. Kinesis and S3 on the same port
//! keep their own scopes.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use engine::Config;

use super::{create_workshop_table, summary, TABLE};

#[tokio::test]
async fn requests_signed_for_dynamodb_with_a_known_key_pass() {
    let e = engine::spawn(Config {
        auth: vec![("AKIDTEST".into(), "secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();
    let c = testkit::dynamodb_signed_by(&url, "AKIDTEST", "secret");
    create_workshop_table(&c).await;
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(summary("Rocinante", 1)))
        .send()
        .await
        .unwrap();
    let got = c
        .get_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("2026-12-02 01:01:00.000".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["Distance"], Av::N("101".into()));

    let refused = |key: &str, secret: &str| {
        let c = testkit::dynamodb_signed_by(&url, key, secret);
        async move {
            let err = c.list_tables().send().await.unwrap_err();
            let status = err.raw_response().map(|r| r.status().as_u16());
            let service = err.into_service_error();
            (
                status,
                service.code().map(str::to_owned),
                service.message().map(str::to_owned),
            )
        }
    };
    let (status, code, message) = refused("AKIDTEST", "wrong").await;
    assert_eq!(status, Some(400));
    assert_eq!(code.as_deref(), Some("InvalidSignatureException"));
    assert!(
        message.unwrap().starts_with(
            "The request signature we calculated does not match the signature you provided."
        ),
        "wrong secret"
    );
    let (_, code, message) = refused("AKIDNOBODY", "secret").await;
    assert_eq!(code.as_deref(), Some("UnrecognizedClientException"));
    assert_eq!(
        message.as_deref(),
        Some("The security token included in the request is invalid.")
    );

    // Kinesis and S3 on the same port, each signed for its own service.
    let k = testkit::kinesis_signed_by(&url, "AKIDTEST", "secret");
    k.list_streams().send().await.unwrap();
    let s3 = testkit::s3_signed_by(&url, "AKIDTEST", "secret");
    s3.create_bucket().bucket("signed").send().await.unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets()[0].name(), Some("signed"));
    let bad_s3 = testkit::s3_signed_by(&url, "AKIDTEST", "wrong");
    assert!(bad_s3.list_buckets().send().await.is_err());
    e.shutdown().await.unwrap();
}
