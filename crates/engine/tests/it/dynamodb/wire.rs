//! DynamoDB's answers before any action, as dynalite's suite recorded them
//! (`connection.js`, `listTables.js`): 52-character request ids, the JSON
//! flavour of the question in the answer, unsigned and half-signed requests
//! under `--auth`, an unknown action before the signature, and requests in
//! DynamoDB's content type that name no target.

use engine::Config;
use serde_json::{json, Value as Json};

/// A raw POST to `/` with `headers`, `body` and the query `query`: the
/// status, the head and the body as JSON.
async fn post(url: &str, query: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, Json) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut req = format!("POST /{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (name, value) in headers {
        req += &format!("{name}: {value}\r\n");
    }
    req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let (head, answer) = out.split_once("\r\n\r\n").unwrap();
    let answer = serde_json::from_str(answer).unwrap_or(Json::Null);
    (status, head.to_string(), answer)
}

/// The value of header `name` (lowercase) in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

const JSON_1_0: (&str, &str) = ("content-type", "application/x-amz-json-1.0");

#[tokio::test]
async fn answers_carry_a_52_character_request_id_in_the_flavour_asked() {
    let e = engine::spawn_in_memory().await.unwrap();
    let target = ("x-amz-target", "DynamoDB_20120810.ListTables");
    let (status, head, body) = post(&e.url(), "", &[target, JSON_1_0], "{}").await;
    assert_eq!((status, body), (200, json!({"TableNames": []})));
    let id = header(&head, "x-amzn-requestid").unwrap();
    assert_eq!(id.len(), 52, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(
        header(&head, "content-type"),
        Some("application/x-amz-json-1.0")
    );
    let plain = ("content-type", "application/json");
    let (status, head, _) = post(&e.url(), "", &[target, plain], "{}").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_request_in_dynamodbs_content_type_without_a_target_is_dynamodbs() {
    let e = engine::spawn_in_memory().await.unwrap();
    let bare = |code: &str| json!({"__type": format!("com.amazon.coral.service#{code}")});
    let (status, _, body) = post(&e.url(), "", &[JSON_1_0], "hi").await;
    assert_eq!((status, body), (400, bare("SerializationException")));
    let (status, head, body) = post(&e.url(), "", &[JSON_1_0], "{}").await;
    assert_eq!((status, body), (400, bare("UnknownOperationException")));
    assert_eq!(header(&head, "x-amzn-requestid").map(str::len), Some(52));
    // Signed for Kinesis, the same request is Kinesis's (a UUID request id).
    let kinesis = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=x",
    );
    let (_, head, body) = post(&e.url(), "", &[JSON_1_0, kinesis], "{}").await;
    assert_eq!(
        header(&head, "x-amzn-requestid").map(str::len),
        Some(36),
        "{body}"
    );
    // A misspelt action of DynamoDB's: unknown, before anything else.
    let misspelt = ("x-amz-target", "DynamoDB_20120810.ListTable");
    let (status, _, body) = post(&e.url(), "", &[misspelt, JSON_1_0], "").await;
    assert_eq!((status, body), (400, bare("UnknownOperationException")));
}

#[tokio::test]
async fn unsigned_or_half_signed_requests_get_dynamodbs_words() {
    let e = engine::spawn(Config {
        auth: vec![("AKID".into(), "SECRET".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();
    let target = ("x-amz-target", "DynamoDB_20120810.ListTables");
    let missing = json!({
        "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    });
    for (query, auth) in [
        ("", None),
        ("", Some("AWS4")),
        ("?X-Amz-Algorith", Some("X")),
    ] {
        let mut headers = vec![target, JSON_1_0];
        headers.extend(auth.map(|a| ("authorization", a)));
        let (status, _, body) = post(&url, query, &headers, "{}").await;
        assert_eq!((status, &body), (400, &missing), "{query} {auth:?}");
    }
    let (status, _, body) = post(
        &url,
        "",
        &[
            target,
            JSON_1_0,
            ("authorization", "AWS4- Signature=b Credential=a"),
            ("date", "a"),
        ],
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4- Signature=b Credential=a"
    );
    // An unknown action is refused before the signature is looked at.
    let misspelt = ("x-amz-target", "DynamoDB_20120810.ListTable");
    let (status, _, body) = post(&url, "", &[misspelt, JSON_1_0], "").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
}
