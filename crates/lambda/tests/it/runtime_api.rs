//! The process function as Lambda runs it: the real binary
//! (`wildrydes-process`), started with `AWS_LAMBDA_RUNTIME_API` pointing at
//! a small Lambda Runtime API served by the test (`invocation/next`,
//! `invocation/{id}/response` and `/error`), writing to the embedded
//! engine through `AWS_ENDPOINT_URL`.

use crate::common;

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use common::{kinesis_event, record, KINESIS};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

const BINARY: &str = env!("CARGO_BIN_EXE_wildrydes-process");

/// What the function posted back: (`response` or `error`, request id, body).
type Posted = (String, String, Value);

#[derive(Clone)]
struct Api {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    queued: Arc<Notify>,
    posted: mpsc::UnboundedSender<Posted>,
}

async fn next(State(api): State<Api>) -> (HeaderMap, Bytes) {
    // Lambda holds `next` open until there is an invocation.
    let (id, event) = loop {
        let notified = api.queued.notified();
        if let Some(ev) = api.events.lock().unwrap().pop_front() {
            break ev;
        }
        notified.await;
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", id);
    set(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:wildrydes-process".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793".into(),
    );
    set("content-type", "application/json".into());
    (headers, Bytes::from(serde_json::to_vec(&event).unwrap()))
}

async fn posted(api: Api, kind: &str, id: String, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = api.posted.send((kind.to_owned(), id, value));
    StatusCode::ACCEPTED
}

/// Serves the Runtime API on a free port; returns `host:port`.
async fn runtime_api(events: Vec<(String, Value)>) -> (String, mpsc::UnboundedReceiver<Posted>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let api = Api {
        events: Arc::new(Mutex::new(events.into())),
        queued: Arc::new(Notify::new()),
        posted: tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(
                |State(api): State<Api>, Path(id): Path<String>, body: Bytes| {
                    posted(api, "response", id, body)
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(api): State<Api>, Path(id): Path<String>, body: Bytes| {
                    posted(api, "error", id, body)
                },
            ),
        )
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), rx)
}

fn function(runtime_api: &str, engine_url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BINARY);
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "wildrydes-process")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", engine_url)
        .env("TABLE_NAME", "UnicornSensorData")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn wait(rx: &mut mpsc::UnboundedReceiver<Posted>) -> Posted {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the function answers within a minute")
        .expect("the runtime API is up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_binary_answers_invocations_behind_the_runtime_api() {
    let engine = common::engine(0.0).await;
    let clients = common::clients(&engine.url()).await;
    process::ensure_table(&clients.dynamodb, "UnicornSensorData")
        .await
        .unwrap();

    let summary = br#"{"Name":"Shadowfax","StatusTime":"2017-05-06 17:47:00.000","Distance":9413,"MinMagicPoints":153,"MaxMagicPoints":159,"MinHealthPoints":150,"MaxHealthPoints":157}"#;
    let good = kinesis_event(vec![record(KINESIS, "11", 1545084650.987, summary)]);
    // Not a Kinesis event at all: the runtime reports it as an error.
    let bad = json!({"Records": "nope"});
    let (api, mut rx) = runtime_api(vec![("req-1".into(), good), ("req-2".into(), bad)]).await;
    let _child = function(&api, &engine.url())
        .spawn()
        .expect("start the function");

    let (kind, id, body) = wait(&mut rx).await;
    assert_eq!((kind.as_str(), id.as_str()), ("response", "req-1"));
    assert_eq!(body, json!({"batchItemFailures": []}));
    let item = clients
        .dynamodb
        .get_item()
        .table_name("UnicornSensorData")
        .key("Name", AttributeValue::S("Shadowfax".into()))
        .key(
            "StatusTime",
            AttributeValue::S("2017-05-06 17:47:00.000".into()),
        )
        .send()
        .await
        .unwrap()
        .item;
    assert!(item.is_some(), "the summary was written");

    let (kind, id, body) = wait(&mut rx).await;
    assert_eq!((kind.as_str(), id.as_str()), ("error", "req-2"));
    assert!(body["errorType"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_without_its_table_says_which_variable_is_missing() {
    let (api, _rx) = runtime_api(Vec::new()).await;
    let out = function(&api, "http://127.0.0.1:9")
        .env_remove("TABLE_NAME")
        .output()
        .await
        .expect("run the function");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TABLE_NAME is not set"), "{stderr}");
}
