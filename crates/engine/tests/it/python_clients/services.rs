//! boto3 and the AWS CLI against the engine's DynamoDB and S3.

use super::*;

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
