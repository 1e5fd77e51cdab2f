//! DynamoDB's side of the front: the JSON 1.0 protocol
//! (`X-Amz-Target: DynamoDB_20120810.<Action>`), answered with the service's
//! full `__type` names and an `x-amz-crc32` checksum of the body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::service::{wire_type, Service};
use crate::front::auth;
use crate::front::error::{err, internal, ApiError, Code};

/// The target prefix of DynamoDB requests.
pub(crate) const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Answers one DynamoDB request.
pub(crate) async fn handle(
    service: Arc<Service>,
    action: String,
    request: &auth::Request<'_>,
) -> Response {
    let content_type = answer_type(request.headers);
    respond(dispatch(service, action, request).await, content_type)
}

/// DynamoDB answers in the JSON flavour it was asked in:
/// `application/x-amz-json-1.0` (what the SDKs send) or else
/// `application/json` (as recorded).
fn answer_type(headers: &axum::http::HeaderMap) -> &'static str {
    let asked = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(str::trim);
    match asked {
        Some(JSON_1_0) => JSON_1_0,
        _ => "application/json",
    }
}

const JSON_1_0: &str = "application/x-amz-json-1.0";

async fn dispatch(
    service: Arc<Service>,
    action: String,
    request: &auth::Request<'_>,
) -> Result<(Json, Option<Vec<u8>>), ApiError> {
    let body = request.body;
    // The workshop's hot path: a BatchWriteItem in the plain valid form,
    // read without a JSON tree (anything else goes the general way below).
    if action == "BatchWriteItem" {
        if let Some(batch) = super::typed::batch_write(body) {
            signed(&service, request)?;
            if let Some(answer) = service.batch_write_in_task(&batch).await {
                return logged(answer);
            }
            return blocking(move || service.call_batch_write(&batch)).await;
        }
    }
    // In the service's order (as recorded): a body that is not JSON (a bare
    // SerializationException), an unknown action, the signature, then no
    // body at all (bare again: the SDKs send `{}` for an empty input).
    let value: Option<Json> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(body).map_err(|_| err(Code::SerializationException, ""))?)
    };
    if !crate::front::validate::dynamodb().has_operation(&action) {
        return Err(err(Code::UnknownOperationException, ""));
    }
    if value.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(err(
            Code::SerializationException,
            "Start of structure or map found where not expected",
        ));
    }
    signed(&service, request)?;
    let Some(value) = value else {
        return Err(err(Code::SerializationException, ""));
    };
    blocking(move || service.call(&action, &value)).await
}

/// Checks the request's signature at the engine's clock time.
fn signed(service: &Service, request: &auth::Request<'_>) -> Result<(), ApiError> {
    let now = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(service.settings.clock.now_millis());
    auth::check(&service.settings.auth, auth::DYNAMODB, request, now)
}

/// Runs an action off the async threads (it reads and writes the store).
async fn blocking(
    call: impl FnOnce() -> Result<(Json, Option<Vec<u8>>), ApiError> + Send + 'static,
) -> Result<(Json, Option<Vec<u8>>), ApiError> {
    let result = tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "dynamodb action panicked");
        Err(internal("internal error"))
    });
    logged(result)
}

/// An action's result, its error logged at debug level.
fn logged(
    result: Result<(Json, Option<Vec<u8>>), ApiError>,
) -> Result<(Json, Option<Vec<u8>>), ApiError> {
    if let Err(e) = &result {
        tracing::debug!(code = e.code.as_str(), message = %e.message, "dynamodb request failed");
    }
    result
}

fn respond(
    result: Result<(Json, Option<Vec<u8>>), ApiError>,
    content_type: &'static str,
) -> Response {
    let mut items = None;
    let (status, body, kind) = match result {
        Ok((v, raw)) => {
            items = raw;
            (StatusCode::OK, v, None)
        }
        Err(e) => {
            let code = match e.code {
                Code::InternalFailure => Code::InternalServerError,
                c => c,
            };
            // The coral service's own errors spell it with a capital M.
            let key = match code {
                Code::SerializationException | Code::AccessDeniedException => "Message",
                _ => "message",
            };
            let mut body = json!({ "__type": wire_type(code) });
            if !e.message.is_empty() {
                body[key] = json!(e.message);
            }
            for (k, v) in e.details.into_iter().flat_map(|d| *d) {
                body[k] = v;
            }
            (
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                body,
                Some(code.as_str()),
            )
        }
    };
    let mut bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    if let Some(items) = items {
        // `{…}` becomes `{…,"Items":[…]}` (a member's place in an object is free).
        bytes.pop();
        if bytes.len() > 1 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(b"\"Items\":");
        bytes.extend(items);
        bytes.push(b'}');
    }
    let crc = crc32fast::hash(&bytes);
    let mut resp = (status, Bytes::from(bytes)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    if let Some(kind) = kind {
        h.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    resp
}
