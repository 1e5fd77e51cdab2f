//! Reading request members.

use serde_json::Value;

use crate::front::error::{err, ApiError, Code};

// ---- request field access -------------------------------------------------

pub(crate) fn ser(field: &str, want: &str) -> ApiError {
    err(
        Code::SerializationException,
        format!("field {field} must be {want}"),
    )
}

pub(crate) fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ser(key, "a string")),
    }
}

pub(crate) fn req_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    opt_str(v, key)?.ok_or_else(|| {
        err(Code::ValidationException,
            format!("1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

pub(crate) fn opt_int(v: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ser(key, "an integer")),
        Some(_) => Err(ser(key, "an integer")),
    }
}

pub(crate) fn opt_time_ms(v: &Value, key: &str) -> Result<Option<u64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| Some((f * 1000.0) as u64))
            .ok_or_else(|| ser(key, "a timestamp")),
        Some(_) => Err(ser(key, "a timestamp")),
    }
}

pub(crate) fn range_check(key: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if value < min || value > max {
        return Err(err(Code::ValidationException,
            format!("1 validation error detected: Value '{value}' at '{key}' failed to satisfy constraint: Member must have value between {min} and {max}"),
        ));
    }
    Ok(value)
}

pub(crate) fn check_stream_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(err(Code::ValidationException,
            format!("1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128"),
        ))
    }
}

/// The stream a request names, by StreamName or StreamARN.
pub(crate) fn stream_name(v: &Value) -> Result<String, ApiError> {
    if let Some(name) = opt_str(v, "StreamName")? {
        check_stream_name(name)?;
        return Ok(name.to_string());
    }
    if let Some(arn) = opt_str(v, "StreamARN")? {
        let name = arn
            .strip_prefix("arn:")
            .filter(|_| arn.contains(":kinesis:"))
            .and_then(|rest| rest.rsplit_once(":stream/"))
            .map(|(_, name)| name)
            .ok_or_else(|| {
                err(Code::ValidationException,
                    format!("1 validation error detected: Value '{arn}' at 'streamARN' failed to satisfy constraint: Member must be a Kinesis stream ARN"),
                )
            })?;
        check_stream_name(name)?;
        return Ok(name.to_string());
    }
    Err(err(
        Code::ValidationException,
        "Neither StreamName nor StreamARN was provided.",
    ))
}
