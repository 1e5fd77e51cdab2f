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
assert many["FailedRecordCount"] == 0, many

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

const DYNAMODB_SCRIPT: &str = r##"
import json, sys
import boto3
from botocore.exceptions import ClientError

d = boto3.client("dynamodb", endpoint_url=sys.argv[1])
d.create_table(
    TableName="UnicornSensorData",
    AttributeDefinitions=[
        {"AttributeName": "Name", "AttributeType": "S"},
        {"AttributeName": "StatusTime", "AttributeType": "S"},
    ],
    KeySchema=[
        {"AttributeName": "Name", "KeyType": "HASH"},
        {"AttributeName": "StatusTime", "KeyType": "RANGE"},
    ],
    BillingMode="PAY_PER_REQUEST",
)
d.get_waiter("table_exists").wait(
    TableName="UnicornSensorData", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
)

def summary(name, minute):
    return {
        "Name": {"S": name},
        "StatusTime": {"S": f"2026-12-02 01:{minute:02}:00.000"},
        "Distance": {"N": str(100 + minute)},
        "HealthPoints": {"N": "150"},
    }

for chunk in range(0, 50, 25):
    out = d.batch_write_item(RequestItems={"UnicornSensorData": [
        {"PutRequest": {"Item": summary("Rocinante" if i % 2 else "Shadowfax", i)}}
        for i in range(chunk, chunk + 25)
    ]})
    assert out["UnprocessedItems"] == {}, out

q = d.query(
    TableName="UnicornSensorData",
    KeyConditionExpression="#n = :n",
    ExpressionAttributeNames={"#n": "Name"},
    ExpressionAttributeValues={":n": {"S": "Rocinante"}},
)
assert q["Count"] == 25, q["Count"]
assert all(i["Name"]["S"] == "Rocinante" for i in q["Items"])

try:
    d.put_item(
        TableName="UnicornSensorData",
        Item=summary("Rocinante", 1),
        ConditionExpression="attribute_not_exists(StatusTime)",
    )
    raise SystemExit("the conditional put succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ConditionalCheckFailedException", e.response

u = d.update_item(
    TableName="UnicornSensorData",
    Key={"Name": {"S": "Rocinante"}, "StatusTime": {"S": "2026-12-02 01:01:00.000"}},
    UpdateExpression="SET HealthPoints = HealthPoints - :one ADD Visits :one",
    ExpressionAttributeValues={":one": {"N": "1"}},
    ReturnValues="UPDATED_NEW",
)
assert u["Attributes"] == {"HealthPoints": {"N": "149"}, "Visits": {"N": "1"}}, u

pages = list(d.get_paginator("scan").paginate(
    TableName="UnicornSensorData", PaginationConfig={"PageSize": 20}
))
assert [len(p["Items"]) for p in pages] == [20, 20, 10], [len(p["Items"]) for p in pages]

try:
    d.query(
        TableName="UnicornSensorData",
        KeyConditionExpression="Name = :n",
        ExpressionAttributeValues={":n": {"S": "Rocinante"}},
    )
    raise SystemExit("a reserved word was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
    assert "reserved keyword: Name" in e.response["Error"]["Message"], e.response
print(json.dumps({"ok": True}))
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_dynamodb_client_works_unmodified() {
    let home = tempfile::tempdir().unwrap();
    if !available("python3", &["-c", "import boto3"], home.path()).await {
        eprintln!(
            "note: skipping the boto3 DynamoDB check: `python3 -c 'import boto3'` failed \
             (install with `python3 -m pip install boto3`)"
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let e = engine::spawn(Config {
        data_dir: Some(data.path().to_path_buf()),
        ..Config::default()
    })
    .await
    .unwrap();
    let out = run("python3", &["-c", DYNAMODB_SCRIPT, &e.url()], home.path())
        .await
        .unwrap();
    let stdout = check("the boto3 DynamoDB script", &out);
    assert_eq!(stdout.trim(), r#"{"ok": true}"#);
    // The workshop's validation step, with the AWS CLI.
    if available("aws", &["--version"], home.path()).await {
        let url = e.url();
        let args = [
            "--endpoint-url",
            url.as_str(),
            "--output",
            "json",
            "dynamodb",
            "query",
            "--table-name",
            "UnicornSensorData",
            "--key-condition-expression",
            "#n = :n",
            "--expression-attribute-names",
            r##"{"#n": "Name"}"##,
            "--expression-attribute-values",
            r#"{":n": {"S": "Rocinante"}}"#,
        ];
        let out = run("aws", &args, home.path()).await.unwrap();
        let v: Value = serde_json::from_str(&check("aws dynamodb query", &out)).unwrap();
        assert_eq!(v["Count"], 25);
        assert_eq!(v["Items"][0]["Name"]["S"], "Rocinante");
    } else {
        eprintln!("note: skipping the AWS CLI DynamoDB check: `aws --version` failed");
    }
    e.shutdown().await.unwrap();
}

// S3 (issue 16): boto3 and `aws s3` against the engine's port.

const S3_SCRIPT: &str = r#"
import hashlib, io, json, sys
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

url = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=url)
s3.create_bucket(Bucket="py-bucket")
body = b'{"rider": "Ana"}'
s3.put_object(Bucket="py-bucket", Key="rides/a b.json", Body=body,
              ContentType="application/json", Metadata={"rider": "ana"})
got = s3.get_object(Bucket="py-bucket", Key="rides/a b.json")
assert got["Body"].read() == body
assert got["ContentType"] == "application/json", got
assert got["Metadata"] == {"rider": "ana"}, got["Metadata"]
assert got["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), got["ETag"]

# A 12 MiB multipart upload (three 5 MiB-or-less parts) and its download.
data = bytes(range(256)) * (12 * 4096)
five = 5 * 1024 * 1024
cfg = TransferConfig(multipart_threshold=five, multipart_chunksize=five)
s3.upload_fileobj(io.BytesIO(data), "py-bucket", "big.bin", Config=cfg)
head = s3.head_object(Bucket="py-bucket", Key="big.bin")
assert head["ContentLength"] == len(data), head
assert head["ETag"].endswith('-3"'), head["ETag"]
out = io.BytesIO()
s3.download_fileobj("py-bucket", "big.bin", out, Config=cfg)
assert out.getvalue() == data

keys = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="py-bucket", PaginationConfig={"PageSize": 1}):
    keys += [o["Key"] for o in page.get("Contents", [])]
assert keys == ["big.bin", "rides/a b.json"], keys
s3.delete_objects(Bucket="py-bucket", Delete={"Objects": [{"Key": k} for k in keys]})
try:
    s3.get_object(Bucket="py-bucket", Key="big.bin")
    raise SystemExit("the deleted object was served")
except ClientError as e:
    assert e.response["Error"]["Code"] == "NoSuchKey", e.response
print(json.dumps({"ok": True}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_aws_s3_work_unmodified() {
    let home = tempfile::tempdir().unwrap();
    let has_boto3 = available("python3", &["-c", "import boto3"], home.path()).await;
    let has_cli = available("aws", &["--version"], home.path()).await;
    if !has_boto3 || !has_cli {
        eprintln!("note: skipping the S3 boto3/CLI check: boto3 or `aws` is not available");
    }
    let data = tempfile::tempdir().unwrap();
    let e = engine::spawn(Config {
        data_dir: Some(data.path().to_path_buf()),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();
    if has_boto3 {
        let out = run("python3", &["-c", S3_SCRIPT, &url], home.path())
            .await
            .unwrap();
        assert_eq!(check("the boto3 S3 script", &out).trim(), r#"{"ok": true}"#);
    }
    if has_cli {
        let files = tempfile::tempdir().unwrap();
        let rides = files.path().join("rides.json");
        std::fs::write(&rides, br#"{"Name": "Shadowfax"}"#).unwrap();
        // ~20 MB: the CLI uploads it in 8 MiB parts.
        let big = files.path().join("big.bin");
        let big_data: Vec<u8> = (0..20_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        std::fs::write(&big, &big_data).unwrap();
        let s3 = |args: &[&str]| {
            let mut all = vec!["--endpoint-url".to_string(), url.clone(), "s3".into()];
            all.extend(args.iter().map(|s| s.to_string()));
            all
        };
        let call = |args: Vec<String>| {
            let home = home.path().to_path_buf();
            async move {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = run("aws", &refs, &home).await.unwrap();
                check(&format!("aws {}", refs.join(" ")), &out)
            }
        };
        call(s3(&["mb", "s3://wildrydes-uploads"])).await;
        let p = |p: &Path| p.to_str().unwrap().to_string();
        call(s3(&["cp", &p(&rides), "s3://wildrydes-uploads/"])).await;
        call(s3(&["cp", &p(&big), "s3://wildrydes-uploads/big/big.bin"])).await;
        let listed = call(s3(&["ls", "s3://wildrydes-uploads/"])).await;
        assert!(listed.contains("rides.json"), "{listed}");
        assert!(listed.contains("PRE big/"), "{listed}");
        let recursive = call(s3(&["ls", "--recursive", "s3://wildrydes-uploads/"])).await;
        assert!(recursive.contains("20000000 big/big.bin"), "{recursive}");
        let back = files.path().join("back.bin");
        call(s3(&["cp", "s3://wildrydes-uploads/big/big.bin", &p(&back)])).await;
        assert!(
            std::fs::read(&back).unwrap() == big_data,
            "the downloaded file differs"
        );
        let synced = files.path().join("sync");
        std::fs::create_dir(&synced).unwrap();
        std::fs::write(synced.join("one.json"), b"1").unwrap();
        std::fs::write(synced.join("two.json"), b"2").unwrap();
        call(s3(&["sync", &p(&synced), "s3://wildrydes-uploads/sync/"])).await;
        let listed = call(s3(&["ls", "s3://wildrydes-uploads/sync/"])).await;
        assert!(
            listed.contains("one.json") && listed.contains("two.json"),
            "{listed}"
        );
        call(s3(&["rm", "--recursive", "s3://wildrydes-uploads/"])).await;
        let empty = call(s3(&["ls", "--recursive", "s3://wildrydes-uploads/"])).await;
        assert!(empty.trim().is_empty(), "{empty}");
        call(s3(&["rb", "s3://wildrydes-uploads"])).await;
    }
    e.shutdown().await.unwrap();
}
