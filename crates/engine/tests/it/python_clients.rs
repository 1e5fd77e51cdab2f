//! boto3 and the AWS CLI talk to the engine unmodified (botocore speaks the
//! JSON 1.1 protocol to Kinesis), an independent CBOR client (Python `cbor2`,
//! requests signed by botocore's SigV4 signer) speaks the CBOR protocol the
//! AWS SDK for Java uses, and boto3's signatures are checked with
//! `Config::auth`. Skipped with a note on stderr when `python3 -c 'import
//! boto3'`, `python3 -c 'import cbor2'` or `aws` is not available; CI
//! installs them with `python3 -m pip install --quiet boto3 awscli cbor2`.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use engine::{Config, ManualClock};
use serde_json::Value;
use tokio::process::Command;

const SCRIPT: &str = r#"
import base64, datetime, json, sys
import boto3

url = sys.argv[1]
k = boto3.client("kinesis", endpoint_url=url)
k.create_stream(StreamName="py", ShardCount=2)
k.get_waiter("stream_exists").wait(
    StreamName="py", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
)

one = k.put_record(StreamName="py", Data=b"hello", PartitionKey="a")
assert one["ShardId"].startswith("shardId-"), one
assert one["SequenceNumber"].isdigit(), one

many = k.put_records(
    StreamName="py",
    Records=[{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(10)],
)
assert many["FailedRecordCount"] == 0, many
assert len(many["Records"]) == 10
assert all(r["SequenceNumber"].isdigit() for r in many["Records"])

shards = k.list_shards(StreamName="py")["Shards"]
assert [s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"]

summary = k.describe_stream_summary(StreamName="py")["StreamDescriptionSummary"]
assert summary["StreamStatus"] == "ACTIVE", summary
assert summary["OpenShardCount"] == 2, summary
assert summary["StreamARN"] == "arn:aws:kinesis:eu-west-1:000000000000:stream/py", summary
assert isinstance(summary["StreamCreationTimestamp"], datetime.datetime)

got = []
for s in shards:
    it = k.get_shard_iterator(
        StreamName="py", ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    page = k.get_records(ShardIterator=it, Limit=100)
    assert "NextShardIterator" in page and page["MillisBehindLatest"] >= 0, page
    for r in page["Records"]:
        assert isinstance(r["ApproximateArrivalTimestamp"], datetime.datetime)
        got.append(r["Data"].decode())
assert sorted(got) == sorted(["hello"] + [f"r{i}" for i in range(10)]), got

# Enhanced fan-out: botocore decodes the engine's event stream.
arn = summary["StreamARN"]
c = k.register_stream_consumer(StreamARN=arn, ConsumerName="py-hq")["Consumer"]
assert c["ConsumerStatus"] == "CREATING", c
d = k.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]
assert d["ConsumerStatus"] == "ACTIVE" and d["StreamARN"] == arn, d
pushed = []
for s in shards:
    sub = k.subscribe_to_shard(
        ConsumerARN=c["ConsumerARN"],
        ShardId=s["ShardId"],
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    for event in sub["EventStream"]:
        ev = event["SubscribeToShardEvent"]
        assert ev["ContinuationSequenceNumber"].isdigit(), ev
        pushed += [r["Data"].decode() for r in ev["Records"]]
        if ev["MillisBehindLatest"] == 0:
            break
    sub["EventStream"].close()
assert sorted(pushed) == sorted(got), pushed

try:
    k.describe_stream_summary(StreamName="missing")
    raise SystemExit("expected ResourceNotFoundException")
except k.exceptions.ResourceNotFoundException:
    pass

print(json.dumps({"ok": True, "records": len(got)}))
"#;

/// Runs `program args` with dummy credentials and no host AWS config.
async fn run(program: &str, args: &[&str], home: &Path) -> std::io::Result<Output> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_KINESIS")
        .kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(out) => out,
        Err(_) => Err(std::io::Error::other(format!("{program} timed out"))),
    }
}

fn check(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn available(program: &str, args: &[&str], home: &Path) -> bool {
    matches!(run(program, args, home).await, Ok(out) if out.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_work_unmodified() {
    let home = tempfile::tempdir().unwrap();
    let has_boto3 = available("python3", &["-c", "import boto3"], home.path()).await;
    let has_cli = available("aws", &["--version"], home.path()).await;
    if !has_boto3 {
        eprintln!(
            "note: skipping the boto3 check: `python3 -c 'import boto3'` failed \
             (install with `python3 -m pip install boto3 awscli`)"
        );
    }
    if !has_cli {
        eprintln!(
            "note: skipping the AWS CLI check: `aws --version` failed \
             (install with `python3 -m pip install boto3 awscli`)"
        );
    }
    if !has_boto3 && !has_cli {
        return;
    }
    // Durable with a tiny cache so the clients also read records from disk.
    let data = tempfile::tempdir().unwrap();
    let e = engine::spawn(Config {
        data_dir: Some(data.path().to_path_buf()),
        cache_bytes: 0,
        clock: Arc::new(ManualClock::new()),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();

    if has_boto3 {
        let out = run("python3", &["-c", SCRIPT, &url], home.path())
            .await
            .unwrap();
        let stdout = check("the boto3 script", &out);
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["records"], 11);
    }

    if has_cli {
        let version = check(
            "aws --version",
            &run("aws", &["--version"], home.path()).await.unwrap(),
        );
        let aws = |args: &[&str]| {
            let mut all = vec!["--endpoint-url", url.as_str(), "--output", "json"];
            all.extend_from_slice(args);
            all.into_iter().map(str::to_string).collect::<Vec<_>>()
        };
        let call = |args: Vec<String>| {
            let home = home.path().to_path_buf();
            async move {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = run("aws", &refs, &home).await.unwrap();
                let stdout = check(&format!("aws {}", refs.join(" ")), &out);
                serde_json::from_str::<Value>(&stdout).unwrap_or(Value::Null)
            }
        };
        if !has_boto3 {
            call(aws(&[
                "kinesis",
                "create-stream",
                "--stream-name",
                "py",
                "--shard-count",
                "2",
            ]))
            .await;
        }
        let streams = call(aws(&["kinesis", "list-streams"])).await;
        assert_eq!(streams["StreamNames"], serde_json::json!(["py"]));

        // AWS CLI v2 reads blob arguments as base64 unless told otherwise; v1
        // sends the text as is.
        let mut put = vec![
            "kinesis",
            "put-record",
            "--stream-name",
            "py",
            "--partition-key",
            "cli",
            "--data",
            "hello from the cli",
        ];
        if version.starts_with("aws-cli/2") {
            put.extend(["--cli-binary-format", "raw-in-base64-out"]);
        }
        let put = call(aws(&put)).await;
        let shard = put["ShardId"].as_str().unwrap().to_string();
        let seq = put["SequenceNumber"].as_str().unwrap().to_string();

        let it = call(aws(&[
            "kinesis",
            "get-shard-iterator",
            "--stream-name",
            "py",
            "--shard-id",
            &shard,
            "--shard-iterator-type",
            "AT_SEQUENCE_NUMBER",
            "--starting-sequence-number",
            &seq,
        ]))
        .await;
        let it = it["ShardIterator"].as_str().unwrap().to_string();
        let page = call(aws(&["kinesis", "get-records", "--shard-iterator", &it])).await;
        let first = &page["Records"][0];
        assert_eq!(first["SequenceNumber"].as_str(), Some(seq.as_str()));
        assert_eq!(first["PartitionKey"], "cli");
        // The CLI prints blobs base64-encoded.
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(first["Data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, b"hello from the cli");
    }
    e.shutdown().await.unwrap();
}

/// A Java-style CBOR client: `application/x-amz-cbor-1.1` bodies written by
/// cbor2, blobs as byte strings, timestamps as tag 1 epoch milliseconds (as
/// the Java SDK writes and reads them), signed by botocore's SigV4 signer.
const CBOR_SCRIPT: &str = r#"
import json, os, sys, time, urllib.error, urllib.request
import cbor2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer

url = sys.argv[1]
CBOR = "application/x-amz-cbor-1.1"
KEYS = (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])

class Tag1:
    """A tag 1 value kept as sent (cbor2 would read it as seconds)."""
    def __init__(self, value):
        self.value = value

def tag1(*args):
    v = args[0]
    return Tag1(v if isinstance(v, (int, float)) else v.decode())

def loads(raw):
    return cbor2.loads(raw, semantic_decoders={1: tag1})

def send(action, data, keys=KEYS):
    signed = AWSRequest(method="POST", url=url + "/", data=data, headers={
        "Content-Type": CBOR, "X-Amz-Target": "Kinesis_20131202." + action,
    })
    SigV4Auth(Credentials(*keys), "kinesis", "eu-west-1").add_auth(signed)
    req = urllib.request.Request(url + "/", data=data, method="POST",
                                 headers=dict(signed.headers.items()))
    try:
        return urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        return e

def call(action, body, keys=KEYS, raw=None):
    resp = send(action, cbor2.dumps(body) if raw is None else raw, keys)
    status, ctype, data = resp.status, resp.headers["Content-Type"], resp.read()
    assert ctype == CBOR, (action, ctype, data)
    return status, (loads(data) if data else None)

def ok(action, body):
    status, out = call(action, body)
    assert status == 200, (action, status, out)
    return out

def near_now(t, slack_ms=60_000):
    assert isinstance(t, Tag1) and isinstance(t.value, int), vars(t) if isinstance(t, Tag1) else t
    assert abs(t.value - time.time() * 1000) < slack_ms, t.value
    return t.value

ok("CreateStream", {"StreamName": "cbor", "ShardCount": 1})
summary = ok("DescribeStreamSummary", {"StreamName": "cbor"})["StreamDescriptionSummary"]
assert summary["StreamStatus"] == "ACTIVE", summary
near_now(summary["StreamCreationTimestamp"])

before = int(time.time() * 1000) - 1
binary = bytes(range(256))
put = ok("PutRecord", {"StreamName": "cbor", "Data": binary, "PartitionKey": "k"})
assert put["ShardId"] == "shardId-000000000000", put
many = ok("PutRecords", {"StreamName": "cbor", "Records": [
    {"Data": b"\x00\x01", "PartitionKey": "a"}, {"Data": b"", "PartitionKey": "b"}]})
assert many["FailedRecordCount"] == 0 and many["EncryptionType"] == "NONE", many
assert [sorted(r) for r in many["Records"]] == [["SequenceNumber", "ShardId"]] * 2, many
assert all(r["ShardId"] == "shardId-000000000000" for r in many["Records"]), many

# AT_TIMESTAMP with a Java-style tag 1 (milliseconds) finds the records.
it = ok("GetShardIterator", {
    "StreamName": "cbor", "ShardId": "shardId-000000000000",
    "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": cbor2.CBORTag(1, before),
})["ShardIterator"]
page = ok("GetRecords", {"ShardIterator": it, "Limit": 10})
assert [r["Data"] for r in page["Records"]] == [binary, b"\x00\x01", b""], page
first = page["Records"][0]
assert first["SequenceNumber"] == put["SequenceNumber"], first
assert before <= near_now(first["ApproximateArrivalTimestamp"]) <= time.time() * 1000 + 1
assert isinstance(page["MillisBehindLatest"], int) and "NextShardIterator" in page, page

# Errors come back in CBOR too.
status, e = call("DescribeStreamSummary", {"StreamName": "missing"})
assert status == 400 and e["__type"] == "ResourceNotFoundException", (status, e)
assert "missing" in e["message"], e
status, e = call("ListStreams", None, raw=b"\xbf\x61")
assert status == 400 and e["__type"] == "SerializationException", (status, e)
status, e = call("ListStreams", {}, keys=("AKIDNOBODY", "x"))
assert status == 400 and e["__type"] == "UnrecognizedClientException", (status, e)

# SubscribeToShard: event payloads are CBOR as well.
arn = summary["StreamARN"]
consumer = ok("RegisterStreamConsumer", {"StreamARN": arn, "ConsumerName": "j"})["Consumer"]
near_now(consumer["ConsumerCreationTimestamp"])
resp = send("SubscribeToShard", cbor2.dumps({
    "ConsumerARN": consumer["ConsumerARN"], "ShardId": "shardId-000000000000",
    "StartingPosition": {"Type": "TRIM_HORIZON"},
}))
assert resp.status == 200, resp.read()
events = EventStreamBuffer()
got = None
while got is None:
    chunk = resp.read1(65536)
    assert chunk, "the subscription ended before an event"
    events.add_data(chunk)
    for message in events:
        h = message.headers
        if h.get(":event-type") == "SubscribeToShardEvent":
            assert h[":content-type"] == CBOR, h
            got = loads(message.payload)
            break
resp.close()
assert [r["Data"] for r in got["Records"]] == [binary, b"\x00\x01", b""], got
near_now(got["Records"][0]["ApproximateArrivalTimestamp"])
print(json.dumps({"ok": True}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_style_cbor_client_works_signed() {
    let home = tempfile::tempdir().unwrap();
    let ready = available("python3", &["-c", "import cbor2, botocore"], home.path()).await;
    if !ready {
        eprintln!(
            "note: skipping the CBOR client check: `python3 -c 'import cbor2, botocore'` failed \
             (install with `python3 -m pip install boto3 cbor2`)"
        );
        return;
    }
    let e = engine::spawn(Config {
        auth: vec![("AKIDTEST".into(), "secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let out = run("python3", &["-c", CBOR_SCRIPT, &e.url()], home.path())
        .await
        .unwrap();
    let stdout = check("the cbor2 script", &out);
    assert_eq!(stdout.trim(), r#"{"ok": true}"#);
    e.shutdown().await.unwrap();
}

const AUTH_SCRIPT: &str = r#"
import json, sys
import boto3
from botocore.exceptions import ClientError

url = sys.argv[1]
def client(key, secret):
    return boto3.client("kinesis", endpoint_url=url, aws_access_key_id=key,
                        aws_secret_access_key=secret)

client("AKIDTEST", "secret").create_stream(StreamName="signed", ShardCount=1)
assert client("AKIDTEST", "secret").list_streams()["StreamNames"] == ["signed"]
for key, secret, code in [
    ("AKIDTEST", "wrong", "InvalidSignatureException"),
    ("AKIDNOBODY", "secret", "UnrecognizedClientException"),
]:
    try:
        client(key, secret).list_streams()
        raise SystemExit(f"{key}:{secret} was accepted")
    except ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
print(json.dumps({"ok": True}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_signatures_are_checked_with_auth() {
    let home = tempfile::tempdir().unwrap();
    if !available("python3", &["-c", "import boto3"], home.path()).await {
        eprintln!(
            "note: skipping the boto3 signature check: `python3 -c 'import boto3'` failed \
             (install with `python3 -m pip install boto3`)"
        );
        return;
    }
    let e = engine::spawn(Config {
        auth: vec![("AKIDTEST".into(), "secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let out = run("python3", &["-c", AUTH_SCRIPT, &e.url()], home.path())
        .await
        .unwrap();
    let stdout = check("the boto3 signature script", &out);
    assert_eq!(stdout.trim(), r#"{"ok": true}"#);
    e.shutdown().await.unwrap();
}

#[path = "python_clients/services.rs"]
mod services;
