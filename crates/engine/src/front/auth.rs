//! Optional request authentication (`serve --auth ACCESS_KEY:SECRET`):
//! checks each request's AWS Signature Version 4, in the `Authorization`
//! header or in the query string (`X-Amz-Signature`), and answers the
//! service's errors for a missing, malformed or wrong signature.
//!
//! The expected signature is computed by the `aws-sigv4` crate (the AWS
//! SDK for Rust's signer) from the request's method, path, query, signed
//! headers, body and the credential scope's date, region and service; this
//! module only reads the request and compares.
//!
//! The order and wording of the checks for a missing or incomplete
//! signature follow the service (as recorded by kinesalite's test suite):
//! both forms at once, then none, then the parameters each form requires.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_types::date_time::{DateTime, Format};
use axum::http::{header, HeaderMap, Method, Uri};

use crate::front::error::{err, ApiError, Code};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name of the Kinesis API.
pub(crate) const KINESIS: &str = "kinesis";
/// The signing name of the DynamoDB API.
pub(crate) const DYNAMODB: &str = "dynamodb";
/// How far a header-signed request's time may be from the server's.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// The query-string parameters of a presigned request, which the signer
/// adds back itself.
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A request as far as its signature is concerned.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// The signature's parts, from either form.
struct Signed {
    algorithm: String,
    credential: String,
    signature: String,
    signed_headers: String,
    date: String,
    /// Query form: how long the presigned request is valid.
    expires: Option<u64>,
}

/// Part `index` of a SigV4 `Authorization` header's credential scope
/// (`AKID/20240101/<region: 2>/<service: 3>/aws4_request`), if any.
pub(crate) fn scope_part(headers: &HeaderMap, index: usize) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split([',', ' ']).next())
        .and_then(|cred| cred.split('/').nth(index))
}

/// The service a request's credential scope names, if any.
pub(crate) fn scope_service(headers: &HeaderMap) -> Option<&str> {
    scope_part(headers, 3)
}

/// Checks `request`'s signature against `credentials` (access key id,
/// secret access key) at time `now`, for the API whose signing name is
/// `service` (the one the request is routed to: [`KINESIS`], [`DYNAMODB`]).
/// Without credentials every request is accepted.
pub(crate) fn check(
    credentials: &[(String, String)],
    service: &str,
    request: &Request<'_>,
    now: SystemTime,
) -> Result<(), ApiError> {
    if credentials.is_empty() {
        return Ok(());
    }
    let signed = read(request, service)?;
    let scope: Vec<&str> = signed.credential.split('/').collect();
    let [key_id, day, region, scoped_service, terminator] = scope[..] else {
        return Err(incomplete(format!(
            "Credential should have the form <access key id>/<date>/<region>/<service>/aws4_request, not '{}'.",
            signed.credential
        )));
    };
    if signed.algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'.",
            signed.algorithm
        )));
    }
    if terminator != "aws4_request" {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if scoped_service != service {
        return Err(incomplete(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    let Some((_, secret)) = credentials.iter().find(|(id, _)| id == key_id) else {
        return Err(err(
            Code::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ));
    };
    let time = parse_time(&signed.date).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            signed.date
        ))
    })?;
    if !signed.date.starts_with(day) || day.len() != 8 {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{}', from '{}'.",
            &signed.date[..8],
            signed.date
        )));
    }
    check_time(&signed, time, now)?;
    let expected = expected_signatures(request, &signed, key_id, secret, region, service, time);
    if expected
        .iter()
        .any(|e| constant_time_eq(e.as_bytes(), signed.signature.as_bytes()))
    {
        Ok(())
    } else {
        Err(invalid(MISMATCH))
    }
}

fn incomplete(message: impl Into<String>) -> ApiError {
    err(Code::IncompleteSignatureException, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    err(Code::InvalidSignatureException, message)
}

/// Reads the signature's parts from the header or the query string.
/// DynamoDB words a missing signature its own way and takes an
/// `Authorization` header that is not `AWS4-…` for a missing one (as
/// recorded).
fn read(request: &Request<'_>, service: &str) -> Result<Signed, ApiError> {
    let auth = request
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query: HashMap<String, String> =
        form_urlencoded::parse(request.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let in_query = query.contains_key("X-Amz-Algorithm");
    let dynamodb = service == DYNAMODB;
    let missing = || {
        let message = match dynamodb {
            true => "Request is missing Authentication Token",
            false => "Missing Authentication Token",
        };
        Err(err(Code::MissingAuthenticationTokenException, message))
    };
    match (auth, in_query) {
        (Some(_), true) => Err(invalid(
            "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.",
        )),
        (None, false) => missing(),
        (Some(auth), false) if dynamodb && !auth.starts_with("AWS4-") => missing(),
        (Some(auth), false) => from_header(&auth, request.headers),
        (None, true) => from_query(&query),
    }
}

fn from_header(auth: &str, headers: &HeaderMap) -> Result<Signed, ApiError> {
    let mut tokens = auth.split([',', ' ']).filter(|t| !t.is_empty());
    let algorithm = tokens.next().unwrap_or("").to_string();
    let params: HashMap<&str, &str> = tokens.filter_map(|t| t.trim().split_once('=')).collect();
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).copied();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut message = String::new();
    for param in ["Credential", "Signature", "SignedHeaders"] {
        if get(param).is_none() {
            message += &format!("Authorization header requires '{param}' parameter. ");
        }
    }
    let date = header("x-amz-date");
    if date.is_none() && header("date").is_none() {
        message +=
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
    }
    if !message.is_empty() {
        return Err(incomplete(format!("{message}Authorization={auth}")));
    }
    Ok(Signed {
        algorithm,
        credential: get("Credential").unwrap_or_default().to_string(),
        signature: get("Signature").unwrap_or_default().to_string(),
        signed_headers: get("SignedHeaders").unwrap_or_default().to_string(),
        // Only `X-Amz-Date` can be checked (the SDKs all send it); a request
        // dated by `Date` alone fails the comparison.
        date: date.unwrap_or_default(),
        expires: None,
    })
}

fn from_query(query: &HashMap<String, String>) -> Result<Signed, ApiError> {
    let get = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let mut message = String::new();
    for param in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(param).is_none() {
            message += &format!("AWS query-string parameters must include '{param}'. ");
        }
    }
    if !message.is_empty() {
        return Err(incomplete(format!(
            "{message}Re-examine the query-string parameters."
        )));
    }
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            incomplete(format!(
                "X-Amz-Expires must be a number of seconds, not '{v}'."
            ))
        })?),
    };
    Ok(Signed {
        algorithm: get("X-Amz-Algorithm").unwrap_or_default(),
        credential: get("X-Amz-Credential").unwrap_or_default(),
        signature: get("X-Amz-Signature").unwrap_or_default(),
        signed_headers: get("X-Amz-SignedHeaders").unwrap_or_default(),
        date: get("X-Amz-Date").unwrap_or_default(),
        expires,
    })
}

/// `20240102T030405Z` as a time.
fn parse_time(basic: &str) -> Option<SystemTime> {
    let b = basic.as_bytes();
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
    {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &basic[..4],
        &basic[4..6],
        &basic[6..8],
        &basic[9..11],
        &basic[11..13],
        &basic[13..15]
    );
    let t = DateTime::from_str(&rfc3339, Format::DateTime).ok()?;
    SystemTime::try_from(t).ok()
}

/// A time in the basic format of `X-Amz-Date`.
fn basic_format(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
        .replace(['-', ':'], "")
}

fn check_time(signed: &Signed, time: SystemTime, now: SystemTime) -> Result<(), ApiError> {
    let stamp = &signed.date;
    match signed.expires {
        None => {
            if time + MAX_SKEW < now {
                return Err(invalid(format!(
                    "Signature expired: {stamp} is now earlier than {} ({} - 5 min.)",
                    basic_format(now - MAX_SKEW),
                    basic_format(now)
                )));
            }
            if time > now + MAX_SKEW {
                return Err(invalid(format!(
                    "Signature not yet current: {stamp} is still later than {} ({} + 5 min.)",
                    basic_format(now + MAX_SKEW),
                    basic_format(now)
                )));
            }
        }
        Some(expires) => {
            let until = time + Duration::from_secs(expires);
            if until < now {
                return Err(invalid(format!(
                    "Signature expired: {} is now earlier than {}",
                    basic_format(until),
                    basic_format(now)
                )));
            }
        }
    }
    Ok(())
}

/// The signatures the request may carry: one per way its body can have
/// been hashed (a presigned request usually leaves it unsigned).
fn expected_signatures(
    request: &Request<'_>,
    signed: &Signed,
    key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Vec<String> {
    let identity = Credentials::new(key_id, secret, None, None, "wildrydes-auth").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let presigned = signed.expires.is_some();
    if presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = signed.expires.map(Duration::from_secs);
    }
    let Ok(params) = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
    else {
        return Vec::new();
    };
    let params = params.into();

    let host = request
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let query: Vec<&str> = request
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            let signature_param = presigned && PRESIGN_PARAMS.contains(&key);
            !pair.is_empty() && !signature_param
        })
        .collect();
    let mut uri = format!("http://{host}{}", request.uri.path());
    if !query.is_empty() {
        uri = format!("{uri}?{}", query.join("&"));
    }
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in signed.signed_headers.split(';') {
        let name = name.trim();
        // The signer adds the date from the time it is given.
        if name.is_empty() || name.eq_ignore_ascii_case("x-amz-date") {
            continue;
        }
        for value in request.headers.get_all(name) {
            if let Ok(value) = value.to_str() {
                headers.push((name, value));
            }
        }
    }
    let content_sha = request
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let bodies = match content_sha {
        Some(hash) => vec![SignableBody::Precomputed(hash.to_string())],
        None if presigned => vec![
            SignableBody::UnsignedPayload,
            SignableBody::Bytes(request.body),
        ],
        None => vec![SignableBody::Bytes(request.body)],
    };
    bodies
        .into_iter()
        .filter_map(|body| {
            let signable = SignableRequest::new(
                request.method.as_str(),
                uri.as_str(),
                headers.iter().copied(),
                body,
            )
            .ok()?;
            sign(signable, &params)
                .ok()
                .map(|out| out.signature().to_string())
        })
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
