//! Malformed requests get clean 4xx errors and never take the server down.

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
async fn raw(addr: std::net::SocketAddr, target: &str, ctype: &str, body: &[u8]) -> (u16, Vec<u8>) {
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
        let v: serde_json::Value = serde_json::from_slice(&resp).expect("json response");
        if status != 200 {
            prop_assert!(v.get("__type").and_then(|t| t.as_str()).is_some());
            prop_assert!(v.get("message").is_some());
        }
    });
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
