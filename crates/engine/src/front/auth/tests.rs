//! Unit tests of SigV4 checking.

use super::*;
use axum::http::HeaderValue;

const KEYS: &[(&str, &str)] = &[("AKID", "SECRET")];

fn creds() -> Vec<(String, String)> {
    KEYS.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn at(basic: &str) -> SystemTime {
    parse_time(basic).unwrap()
}

/// Signs a request the way an SDK does (with aws-sigv4) and returns its
/// headers.
fn signed_headers(secret: &str, key: &str, time: SystemTime, body: &[u8]) -> HeaderMap {
    let identity = Credentials::new(key, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("kinesis")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let base = [
        ("host", "127.0.0.1:4567"),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "Kinesis_20131202.ListStreams"),
    ];
    let signable = SignableRequest::new(
        "POST",
        "http://127.0.0.1:4567/",
        base.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = HeaderMap::new();
    for (k, v) in base.iter().copied().chain(instructions.headers()) {
        headers.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    headers
}

fn run(headers: &HeaderMap, uri: &str, body: &[u8], now: SystemTime) -> Result<(), ApiError> {
    let uri: Uri = uri.parse().unwrap();
    let request = Request {
        method: &Method::POST,
        uri: &uri,
        headers,
        body,
    };
    check(&creds(), KINESIS, &request, now)
}

#[test]
fn a_request_signed_with_a_known_key_passes() {
    let t = at("20240102T030405Z");
    let h = signed_headers("SECRET", "AKID", t, b"{}");
    run(&h, "/", b"{}", t + Duration::from_secs(60)).unwrap();
}

#[test]
fn the_scope_must_name_the_service_the_request_is_routed_to() {
    let t = at("20240102T030405Z");
    let h = signed_headers("SECRET", "AKID", t, b"{}");
    let uri: Uri = "/".parse().unwrap();
    let request = Request {
        method: &Method::POST,
        uri: &uri,
        headers: &h,
        body: b"{}",
    };
    check(&creds(), KINESIS, &request, t).unwrap();
    let e = check(&creds(), DYNAMODB, &request, t).unwrap_err();
    assert_eq!(e.code, Code::IncompleteSignatureException);
    assert_eq!(
        e.message,
        "Credential should be scoped to correct service: 'dynamodb'. "
    );
}

#[test]
fn each_wrong_part_gives_the_services_error() {
    let t = at("20240102T030405Z");
    let code = |h: &HeaderMap, body: &[u8], now| run(h, "/", body, now).unwrap_err().code;
    let good = signed_headers("SECRET", "AKID", t, b"{}");
    assert_eq!(
        code(&good, b"{\"x\":1}", t),
        Code::InvalidSignatureException
    );
    let wrong = signed_headers("OTHER", "AKID", t, b"{}");
    assert_eq!(code(&wrong, b"{}", t), Code::InvalidSignatureException);
    let unknown = signed_headers("SECRET", "NOBODY", t, b"{}");
    assert_eq!(code(&unknown, b"{}", t), Code::UnrecognizedClientException);
    assert_eq!(
        code(&HeaderMap::new(), b"{}", t),
        Code::MissingAuthenticationTokenException
    );
    let late = t + Duration::from_secs(6 * 60);
    let e = run(&good, "/", b"{}", late).unwrap_err();
    assert_eq!(e.code, Code::InvalidSignatureException);
    assert!(e.message.starts_with("Signature expired: 20240102T030405Z is now earlier than 20240102T030505Z (20240102T031005Z - 5 min.)"), "{}", e.message);
}

#[test]
fn incomplete_headers_list_every_missing_part_as_the_service_does() {
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_static("X"));
    let e = run(&h, "/", b"{}", SystemTime::now()).unwrap_err();
    assert_eq!(e.code, Code::IncompleteSignatureException);
    assert_eq!(e.message, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=X");
    let e = run(&h, "/?X-Amz-Algorithm", b"{}", SystemTime::now()).unwrap_err();
    assert_eq!(e.code, Code::InvalidSignatureException);
    let e = run(
        &HeaderMap::new(),
        "/?X-Amz-Algorithm=a",
        b"{}",
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(e.code, Code::IncompleteSignatureException);
    assert_eq!(e.message, "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.");
    // Without X-Amz-Algorithm the query does not count as a signature.
    let e = run(
        &HeaderMap::new(),
        "/?X-Amz-Credential=a",
        b"{}",
        SystemTime::now(),
    )
    .unwrap_err();
    assert_eq!(e.code, Code::MissingAuthenticationTokenException);
}

#[test]
fn a_presigned_query_string_passes_until_it_expires() {
    let t = at("20240102T030405Z");
    let identity = Credentials::new("AKID", "SECRET", None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesis")
        .time(t)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let base = [("host", "localhost:1")];
    let signable = SignableRequest::new(
        "POST",
        "http://localhost:1/?a=b",
        base.iter().copied(),
        SignableBody::UnsignedPayload,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut query = vec!["a=b".to_string()];
    for (k, v) in instructions.params() {
        query.push(format!(
            "{k}={}",
            form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        ));
    }
    let uri = format!("/?{}", query.join("&"));
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static("localhost:1"));
    run(&h, &uri, b"{}", t + Duration::from_secs(299)).unwrap();
    let e = run(&h, &uri, b"{}", t + Duration::from_secs(301)).unwrap_err();
    assert_eq!(e.code, Code::InvalidSignatureException);
    let tampered = uri.replace("a=b", "a=c");
    let e = run(&h, &tampered, b"{}", t).unwrap_err();
    assert_eq!(e.message, MISMATCH);
}

#[test]
fn without_credentials_anything_passes() {
    let uri: Uri = "/".parse().unwrap();
    let request = Request {
        method: &Method::POST,
        uri: &uri,
        headers: &HeaderMap::new(),
        body: b"",
    };
    check(&[], KINESIS, &request, SystemTime::now()).unwrap();
}
