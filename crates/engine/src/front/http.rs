//! HTTP front end: the AWS JSON 1.1 protocol over HTTP/1.1 and HTTP/2
//! (cleartext, prior knowledge), with event-stream answers for
//! SubscribeToShard.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::front::error::{err, internal, ApiError, Code};
use crate::front::limits::{read_body, BodyError, BodyLimits};
use crate::front::{auth, cbor};
use crate::kinesis::{Engine, Reply};

const TARGET_PREFIX: &str = "Kinesis_20131202.";

#[derive(Clone)]
struct Front {
    engine: Arc<Engine>,
    bodies: BodyLimits,
}

/// The Kinesis API; request bodies are read within `bodies`.
pub(crate) fn router(engine: Arc<Engine>, bodies: BodyLimits) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(Front { engine, bodies })
}

/// Region from a SigV4 `Authorization` header's credential scope.
fn region(headers: &HeaderMap) -> String {
    auth::scope_part(headers, 2)
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 32
                && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .unwrap_or("us-east-1")
        .to_string()
}

/// A request id in the service's form (a UUID).
fn request_id() -> String {
    let n = rand::random::<u128>();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A DynamoDB request id: 52 characters of base32hex (`0-9`, `A-V`), the
/// form DynamoDB's ids have (260 random bits).
fn dynamodb_request_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
    (0..52)
        .map(|_| ALPHABET[usize::from(rand::random::<u8>() % 32)] as char)
        .collect()
}

/// The headers every answer carries: `x-amzn-RequestId`, `x-amz-id-2` (72
/// random bytes in base64, as the service sends), and CORS headers when the
/// request came from a web page (`Origin`).
fn stamp(resp: &mut Response, id: &str, cors: bool) {
    use base64::Engine as _;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-requestid", v);
    }
    let id2: Vec<u8> = (0..72).map(|_| rand::random::<u8>()).collect();
    if let Ok(v) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(id2)) {
        h.insert("x-amz-id-2", v);
    }
    if cors {
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static(
                "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date",
            ),
        );
    }
}

/// An answer the service gives before any action: an XML or bare body.
fn raw(status: StatusCode, content_type: Option<&'static str>, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

/// `403 AccessDeniedException` in XML: a request that names no operation.
fn access_denied() -> Response {
    raw(
        StatusCode::FORBIDDEN,
        None,
        "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n",
    )
}

/// A CORS preflight (`OPTIONS` with `Origin`): allowed for any origin.
fn preflight(headers: &HeaderMap) -> Response {
    let mut resp = raw(StatusCode::OK, None, Body::empty());
    let h = resp.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert("access-control-max-age", HeaderValue::from_static("172800"));
    for (asked, allow) in [
        (
            "access-control-request-headers",
            "access-control-allow-headers",
        ),
        (
            "access-control-request-method",
            "access-control-allow-methods",
        ),
    ] {
        if let Some(v) = headers.get(asked) {
            h.insert(allow, v.clone());
        }
    }
    resp
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
        Ok(Reply::PutRecords(out)) => (StatusCode::OK, out.encode(in_cbor), None),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            encode(&error_body(&e)),
            Some(e.code.as_str()),
        ),
    };
    let mut resp = (status, bytes).into_response();
    stamp(&mut resp, &id, false);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match in_cbor {
            true => cbor::CONTENT_TYPE,
            false => "application/x-amz-json-1.1",
        }),
    );
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
    stamp(&mut resp, id, false);
    resp
}

/// What the content type says the body is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    Cbor,
    /// `application/json`: the service's old envelope.
    Legacy,
    Other,
}

fn protocol(headers: &HeaderMap) -> Protocol {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    match ct {
        "application/x-amz-json-1.1" => Protocol::Json,
        "application/json" => Protocol::Legacy,
        _ if cbor::is_cbor(ct) => Protocol::Cbor,
        _ => Protocol::Other,
    }
}

/// Answers the service gives before the action runs, in its order: a method
/// other than POST, an empty body (in CBOR unless the content type is JSON
/// 1.1), an unknown content type, the old `application/json` envelope, an
/// unknown target.
/// `None`: the request goes on to authentication, validation and the action.
fn refuse_early(method: &Method, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    if method != Method::POST {
        return Some(access_denied());
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let known = target
        .strip_prefix(TARGET_PREFIX)
        .is_some_and(|a| crate::front::validate::kinesis().has_operation(a));
    let named = target
        .split_once('.')
        .is_some_and(|(s, o)| !s.is_empty() && !o.is_empty());
    let proto = protocol(headers);
    let bare = |code: &str, cbor_body: bool| {
        let body = json!({ "__type": code });
        let (bytes, ct) = if cbor_body {
            (cbor::encode(&body), cbor::CONTENT_TYPE)
        } else {
            (
                serde_json::to_vec(&body).unwrap_or_default(),
                "application/x-amz-json-1.1",
            )
        };
        raw(StatusCode::BAD_REQUEST, Some(ct), bytes)
    };
    if body.is_empty() {
        let code = if known {
            "SerializationException"
        } else {
            "UnknownOperationException"
        };
        return Some(bare(code, proto != Protocol::Json));
    }
    if proto == Protocol::Other {
        return Some(match named {
            false => access_denied(),
            true => raw(
                StatusCode::NOT_FOUND,
                None,
                "<UnknownOperationException/>\n",
            ),
        });
    }
    if proto == Protocol::Legacy {
        let object = serde_json::from_slice::<Value>(body).is_ok_and(|v| v.is_object());
        let output = match object {
            true => {
                json!({"__type": "com.amazon.coral.service#UnknownOperationException", "message": null})
            }
            false => {
                json!({"__type": "com.amazon.coral.service#SerializationException", "Message": null})
            }
        };
        let envelope = json!({"Output": output, "Version": "1.0"});
        return Some(raw(
            StatusCode::OK,
            Some("application/json"),
            serde_json::to_vec(&envelope).unwrap_or_default(),
        ));
    }
    if !known {
        return Some(bare("UnknownOperationException", proto == Protocol::Cbor));
    }
    None
}

// S3 (issue 16) added the eighth extractor.
#[allow(clippy::too_many_arguments)]
async fn handle(
    State(front): State<Front>,
    dynamodb: Option<axum::Extension<Arc<crate::dynamodb::Service>>>,
    // S3 (issue 16).
    s3: Option<axum::Extension<crate::s3::Service>>,
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let in_cbor = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(cbor::is_cbor);
    let action = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("");
    // The length hyper validated from Content-Length (0 without a body),
    // unknown for a chunked body.
    let declared = http_body::Body::size_hint(&body).exact();
    let cors = headers.contains_key(header::ORIGIN);
    if cors && method == Method::OPTIONS {
        // A preflight carries a request id but no x-amz-id-2.
        let mut resp = preflight(&headers);
        if let Ok(id) = HeaderValue::from_str(&request_id()) {
            resp.headers_mut().insert("x-amzn-requestid", id);
        }
        return resp;
    }
    // S3 (issue 16): a request without a target (see `s3::http::is_s3`) goes
    // to S3's service with its body streamed, outside the JSON body limits.
    if let Some(axum::Extension(s3)) = &s3 {
        if crate::s3::http::is_s3(&method, &uri, &headers) {
            let mut req = axum::http::Request::new(body);
            *req.method_mut() = method;
            *req.uri_mut() = uri;
            *req.version_mut() = version;
            *req.headers_mut() = headers;
            let mut resp = crate::s3::http::handle(s3, req).await;
            if cors {
                stamp(&mut resp, &request_id(), true);
            }
            return resp;
        }
    }
    // End of S3.
    let ddb_action = dynamodb_action(&headers);
    let limit_for = match ddb_action {
        Some(_) => crate::front::limits::DYNAMODB,
        None => action,
    };
    let body = match read_body(body, limit_for, declared, &front.bodies).await {
        Ok(body) => body,
        Err(e) => return body_refused(&e, version, in_cbor),
    };
    if let (Some(axum::Extension(ddb)), Some(action), true, false) =
        (dynamodb, ddb_action, method == Method::POST, in_cbor)
    {
        let request = auth::Request {
            method: &method,
            uri: &uri,
            headers: &headers,
            body: &body.bytes,
        };
        let mut resp = crate::dynamodb::http::handle(ddb, action.to_string(), &request).await;
        stamp(&mut resp, &dynamodb_request_id(), cors);
        return resp;
    }
    if let Some(mut resp) = refuse_early(&method, &headers, &body.bytes) {
        stamp(&mut resp, &request_id(), cors);
        return resp;
    }
    let request = auth::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body.bytes,
    };
    let reply = dispatch(front.engine, &request, in_cbor).await;
    // The body's budget is given back once the action has run.
    drop(body);
    let mut resp = respond(reply, in_cbor);
    if cors {
        let id = resp
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        stamp(&mut resp, &id, true);
    }
    resp
}

/// The DynamoDB action a request names, if it is DynamoDB's: its target has
/// DynamoDB's prefix, or it names no Kinesis target, comes in DynamoDB's
/// content type, `application/x-amz-json-1.0`, and is unsigned or signed for
/// DynamoDB (then the action is unknown, `""`, and DynamoDB answers it;
/// signed for Kinesis, Kinesis answers it, as recorded).
fn dynamodb_action(headers: &HeaderMap) -> Option<&str> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(action) = target.and_then(|t| t.strip_prefix(crate::dynamodb::http::TARGET_PREFIX))
    {
        return Some(action);
    }
    let json_1_0 = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim() == "application/x-amz-json-1.0");
    let kinesis = target.is_some_and(|t| t.starts_with(TARGET_PREFIX));
    let other_scope = auth::scope_service(headers).is_some_and(|s| s != auth::DYNAMODB);
    (json_1_0 && !kinesis && !other_scope).then_some("")
}

/// The answer to a body that was not read completely: the rest of it is not
/// wanted, so an HTTP/1.1 connection is closed after the answer.
fn body_refused(e: &BodyError, version: Version, in_cbor: bool) -> Response {
    let api = e.to_api();
    tracing::debug!(code = api.code.as_str(), message = %api.message, "request body refused");
    let mut resp = respond(Err(api), in_cbor);
    if version <= Version::HTTP_11 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
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
        // The service answers a body that is not an object with a bare type.
        serde_json::from_slice(body).map_err(|_| err(Code::SerializationException, ""))?
    };
    if !value.is_object() {
        return Err(err(Code::SerializationException, ""));
    }
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(engine.now());
    auth::check(&engine.config.auth, auth::KINESIS, request, now)?;
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
    if e.message.is_empty() {
        return json!({"__type": e.code.as_str()});
    }
    json!({"__type": e.code.as_str(), key: e.message})
}
