//! HTTP front end: the AWS JSON 1.1 protocol over HTTP/1.1 and HTTP/2
//! (cleartext, prior knowledge), with event-stream answers for
//! SubscribeToShard.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::front::error::{err, internal, ApiError, Code};
use crate::front::{auth, cbor};
use crate::kinesis::{Engine, Reply};

const TARGET_PREFIX: &str = "Kinesis_20131202.";

pub(crate) fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(16 << 20))
        .with_state(engine)
}

/// Region from a SigV4 `Authorization` header's credential scope.
fn region(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split([',', ' ']).next())
        .and_then(|cred| cred.split('/').nth(2))
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 32
                && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .unwrap_or("us-east-1")
        .to_string()
}

fn request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn respond(result: Result<Reply, ApiError>, in_cbor: bool) -> Response {
    let id = request_id();
    let encode = |body: &Value| match in_cbor {
        true => cbor::encode(body),
        false => serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    };
    let (status, bytes, kind) = match result {
        Ok(Reply::Events(rx)) => return event_stream(rx, &id, in_cbor),
        Ok(Reply::Empty) => (StatusCode::OK, Vec::new(), None),
        Ok(Reply::Json(v)) => (StatusCode::OK, encode(&v), None),
        Ok(Reply::Encoded(bytes)) if in_cbor => {
            (StatusCode::OK, cbor::encode_json_bytes(&bytes), None)
        }
        Ok(Reply::Encoded(bytes)) => (StatusCode::OK, bytes, None),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            encode(&error_body(&e)),
            Some(e.code.as_str()),
        ),
    };
    let mut resp = (status, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match in_cbor {
            true => cbor::CONTENT_TYPE,
            false => "application/x-amz-json-1.1",
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(kind) = kind {
        h.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    resp
}

/// A streaming answer of event-stream frames (SubscribeToShard).
fn event_stream(rx: tokio::sync::mpsc::Receiver<Bytes>, id: &str, in_cbor: bool) -> Response {
    let frames = futures_util::stream::unfold(rx, move |mut rx| async move {
        let frame = rx.recv().await?;
        let frame = if in_cbor {
            cbor::event_frame(frame)
        } else {
            frame
        };
        Some((Ok::<_, std::convert::Infallible>(frame), rx))
    });
    let mut resp = Response::new(Body::from_stream(frames));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

async fn handle(
    State(engine): State<Arc<Engine>>,
    dynamodb: Option<axum::Extension<Arc<crate::dynamodb::Service>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let in_cbor = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(cbor::is_cbor);
    let request = auth::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let ddb_action = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(crate::dynamodb::http::TARGET_PREFIX));
    if let (Some(axum::Extension(ddb)), Some(action), false) = (dynamodb, ddb_action, in_cbor) {
        return crate::dynamodb::http::handle(ddb, action.to_string(), &request).await;
    }
    respond(dispatch(engine, &request, in_cbor).await, in_cbor)
}

async fn dispatch(
    engine: Arc<Engine>,
    request: &auth::Request<'_>,
    in_cbor: bool,
) -> Result<Reply, ApiError> {
    let (method, headers, body) = (request.method, request.headers, request.body);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if method != Method::POST {
        return Err(err(
            Code::UnknownOperationException,
            format!("method {method} is not supported; use POST"),
        ));
    }
    let Some(action) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(err(
            Code::UnknownOperationException,
            format!(
                "unknown operation target '{}'",
                target.chars().take(100).collect::<String>()
            ),
        ));
    };
    let value: Value = if in_cbor {
        cbor::decode(body)?
    } else if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            err(
                Code::SerializationException,
                format!("malformed JSON body: {e}"),
            )
        })?
    };
    if !value.is_object() {
        return Err(err(
            Code::SerializationException,
            "the request body must be a JSON object",
        ));
    }
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(engine.now());
    auth::check(&engine.config.auth, request, now)?;
    let region = region(headers);
    let action_owned = action.to_string();
    // A panic is a bug; run the action in its own task so a bug answers 500
    // instead of dropping the connection.
    let result = tokio::spawn(async move { engine.call(&action_owned, value, &region).await })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, action, "action panicked");
            Err(internal("internal error"))
        });
    if let Err(e) = &result {
        tracing::debug!(action, code = e.code.as_str(), message = %e.message, "request failed");
    }
    result
}

/// An error's JSON body. The service words a SerializationException's text
/// as `Message`, every other error's as `message`.
fn error_body(e: &ApiError) -> Value {
    let key = if e.code == Code::SerializationException {
        "Message"
    } else {
        "message"
    };
    json!({"__type": e.code.as_str(), key: e.message})
}
