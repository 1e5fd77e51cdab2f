//! Malformed requests get clean 4xx errors and never take the server down,
//! including SubscribeToShard calls that open a live subscription.

use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ACTIONS: &[&str] = &[
    "CreateStream",
    "DeleteStream",
    "DescribeStream",
    "DescribeStreamSummary",
    "ListStreams",
    "ListShards",
    "PutRecord",
    "PutRecords",
    "GetShardIterator",
    "GetRecords",
    "SplitShard",
    "MergeShards",
    "UpdateShardCount",
    "IncreaseStreamRetentionPeriod",
    "DecreaseStreamRetentionPeriod",
    "AddTagsToStream",
    "ListTagsForStream",
    "RemoveTagsFromStream",
    "RegisterStreamConsumer",
    "DescribeStreamConsumer",
    "ListStreamConsumers",
    "DeregisterStreamConsumer",
    "SubscribeToShard",
    "Nope",
    "",
];

/// Sends one raw HTTP/1.1 request; returns (status, body).
pub(crate) async fn raw(
    addr: std::net::SocketAddr,
    target: &str,
    ctype: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |p| p + 4);
    (status, out[split..].to_vec())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "[a-zA-Z0-9=+/_.-]{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("s")),
        Just(serde_json::Value::from("shardId-000000000000")),
        Just(serde_json::Value::from("TRIM_HORIZON")),
        Just(serde_json::Value::from(
            "arn:aws:kinesis:us-east-1:000000000000:stream/s"
        )),
        Just(serde_json::Value::from(
            "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/hq:1"
        )),
        Just(serde_json::Value::from("hq")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("StreamName".to_string()),
                    Just("ShardCount".to_string()),
                    Just("Records".to_string()),
                    Just("Data".to_string()),
                    Just("PartitionKey".to_string()),
                    Just("ShardId".to_string()),
                    Just("ShardIteratorType".to_string()),
                    Just("ShardIterator".to_string()),
                    Just("Limit".to_string()),
                    Just("Tags".to_string()),
                    Just("StartingSequenceNumber".to_string()),
                    Just("ExplicitHashKey".to_string()),
                    Just("NewStartingHashKey".to_string()),
                    Just("ShardToSplit".to_string()),
                    Just("TargetShardCount".to_string()),
                    Just("NextToken".to_string()),
                    Just("ShardFilter".to_string()),
                    Just("Timestamp".to_string()),
                    Just("StreamARN".to_string()),
                    Just("ConsumerName".to_string()),
                    Just("ConsumerARN".to_string()),
                    Just("StartingPosition".to_string()),
                    Just("Type".to_string()),
                    Just("SequenceNumber".to_string()),
                    Just("MaxResults".to_string()),
                    "[A-Za-z]{1,12}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..200),
        "[{}\\[\\]\":,a-z0-9 ]{0,60}".prop_map(String::into_bytes),
    ]
}

#[test]
fn malformed_requests_get_clean_errors() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = rt.block_on(engine::spawn_in_memory()).unwrap();
    let addr = engine.addr();
    // A stream so that some fuzzed requests reach deeper code paths.
    let (status, _) = rt.block_on(raw(
        addr,
        "Kinesis_20131202.CreateStream",
        "application/x-amz-json-1.1",
        br#"{"StreamName":"s","ShardCount":2}"#,
    ));
    assert_eq!(status, 200);
    let config = ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(action in prop::sample::select(ACTIONS), prefix in prop_oneof![Just("Kinesis_20131202."), Just(""), Just("Kinesis_x.")], ctype in prop_oneof![Just("application/x-amz-json-1.1"), Just("application/x-amz-json-1.0"), Just("text/plain"), Just("application/x-amz-cbor-1.1")], body in body())| {
        let target = format!("{prefix}{action}");
        let (status, resp) = rt.block_on(raw(addr, &target, ctype, &body));
        prop_assert!(status == 200 || (400..500).contains(&status), "status {status} for {target} {:?}", String::from_utf8_lossy(&body));
        // Actions without output answer an empty body, as the service does.
        // The service answers in JSON, in CBOR (CBOR requests, and bodiless
        // requests not in JSON 1.1), or in XML (a request that names no
        // operation, or an unknown content type: 403 or 404).
        let v: serde_json::Value = if resp.is_empty() && status == 200 {
            serde_json::Value::Null
        } else if resp.first() == Some(&b'<') {
            prop_assert!(status == 403 || status == 404, "XML answer with {status}");
            serde_json::json!({"__type": "xml"})
        } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp) {
            v
        } else {
            let v: ciborium::Value = ciborium::de::from_reader(&resp[..]).expect("json, cbor or xml response");
            let keys = v.into_map().expect("a cbor map").into_iter();
            keys.filter_map(|(k, v)| Some((k.into_text().ok()?, v.into_text().map_or(serde_json::Value::Null, serde_json::Value::String)))).collect()
        };
        if status != 200 {
            prop_assert!(v.get("__type").and_then(|t| t.as_str()).is_some());
            prop_assert!(v.is_object());
        }
    });
    // Actions without output answer 200 with an empty body, as the service does.
    let (status, resp) = rt.block_on(raw(
        addr,
        "Kinesis_20131202.CreateStream",
        "application/x-amz-json-1.1",
        br#"{"StreamName":"empty-body","ShardCount":1}"#,
    ));
    assert_eq!(
        (status, resp.len()),
        (200, 0),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    // Still serving.
    let (status, resp) = rt.block_on(raw(
        addr,
        "Kinesis_20131202.ListStreams",
        "application/x-amz-json-1.1",
        b"{}",
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    rt.block_on(engine.shutdown()).unwrap();
}

/// SubscribeToShard with a registered consumer and fuzzed starting positions:
/// either an event stream (which ends with the short subscription lifetime
/// set here) or a clean 4xx error, and the server keeps serving.
#[test]
fn fuzzed_subscriptions_get_a_stream_or_a_clean_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = rt
        .block_on(engine::spawn(engine::Config {
            subscription_ttl: Duration::from_millis(100),
            subscribe_cooldown: Duration::ZERO,
            ..engine::Config::default()
        }))
        .unwrap();
    let addr = engine.addr();
    let call = |action: &str, body: &str| {
        let (status, resp) = rt.block_on(raw(
            addr,
            &format!("Kinesis_20131202.{action}"),
            "application/x-amz-json-1.1",
            body.as_bytes(),
        ));
        assert_eq!(status, 200, "{action}: {}", String::from_utf8_lossy(&resp));
        if resp.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_slice::<serde_json::Value>(&resp).unwrap()
    };
    call("CreateStream", r#"{"StreamName":"s","ShardCount":1}"#);
    let put = call(
        "PutRecord",
        r#"{"StreamName":"s","PartitionKey":"k","Data":"eyJhIjoxfQ=="}"#,
    );
    let seq = put["SequenceNumber"].as_str().unwrap().to_owned();
    let stream_arn = call("DescribeStreamSummary", r#"{"StreamName":"s"}"#)
        ["StreamDescriptionSummary"]["StreamARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let registered = call(
        "RegisterStreamConsumer",
        &serde_json::json!({"StreamARN": stream_arn, "ConsumerName": "hq"}).to_string(),
    );
    let consumer_arn = registered["Consumer"]["ConsumerARN"]
        .as_str()
        .unwrap()
        .to_owned();

    let kind = prop_oneof![
        Just(serde_json::json!("TRIM_HORIZON")),
        Just(serde_json::json!("LATEST")),
        Just(serde_json::json!("AT_SEQUENCE_NUMBER")),
        Just(serde_json::json!("AFTER_SEQUENCE_NUMBER")),
        Just(serde_json::json!("AT_TIMESTAMP")),
        json_value(),
    ];
    let sequence = prop_oneof![
        Just(serde_json::json!(seq)),
        "[0-9]{1,70}".prop_map(serde_json::Value::from),
        json_value(),
    ];
    let timestamp = prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        (0u64..4_000_000_000).prop_map(serde_json::Value::from),
        json_value(),
    ];
    let shard = prop_oneof![
        Just(serde_json::json!("shardId-000000000000")),
        Just(serde_json::json!("shardId-000000000007")),
        json_value(),
    ];
    let streams = std::sync::atomic::AtomicUsize::new(0);
    let errors = std::sync::atomic::AtomicUsize::new(0);
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(kind in kind, sequence in prop::option::of(sequence), timestamp in prop::option::of(timestamp), shard in shard)| {
        let mut position = serde_json::json!({ "Type": kind });
        if let Some(s) = sequence {
            position["SequenceNumber"] = s;
        }
        if let Some(t) = timestamp {
            position["Timestamp"] = t;
        }
        let body = serde_json::json!({
            "ConsumerARN": consumer_arn,
            "ShardId": shard,
            "StartingPosition": position,
        });
        let (status, resp) = rt.block_on(raw(
            addr,
            "Kinesis_20131202.SubscribeToShard",
            "application/x-amz-json-1.1",
            body.to_string().as_bytes(),
        ));
        if status == 200 {
            // An event stream: binary frames, the first one the initial response.
            prop_assert!(!resp.is_empty(), "empty stream for {body}");
            streams.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            prop_assert!((400..500).contains(&status), "status {status} for {body}");
            let v: serde_json::Value = serde_json::from_slice(&resp).expect("json error");
            prop_assert!(v.get("__type").and_then(|t| t.as_str()).is_some());
            prop_assert!(v.is_object());
        }
    });
    // Both paths were exercised: live subscriptions and refusals.
    let (streams, errors) = (streams.into_inner(), errors.into_inner());
    assert!(
        streams > 0 && errors > 0,
        "{streams} streams, {errors} errors"
    );
    call("ListStreams", "{}");
    rt.block_on(engine.shutdown()).unwrap();
}
