//! The S3 side of the front: which requests are S3's, virtual-host
//! addressing, and the hand-over to `s3s` with the body streamed (never
//! buffered: an S3 body may be gigabytes).

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::Response;
use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

use super::Service;

/// Whether a request is S3's: it carries no `X-Amz-Target`, and is not a
/// POST to `/` without a query (a JSON service's call without its target,
/// which gets that service's answer), unless it is a browser form upload.
pub(crate) fn is_s3(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if headers.contains_key("x-amz-target") {
        return false;
    }
    // A request signed for another service (its SigV4 credential scope
    // names `kinesis`, say) is that service's, whatever its method: Kinesis
    // answers a GET with its AccessDeniedException, as recorded.
    if crate::front::auth::scope_service(headers).is_some_and(|service| service != "s3") {
        return false;
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("multipart/form-data"));
    let bare_post =
        method == Method::POST && uri.path() == "/" && uri.query().is_none_or(str::is_empty);
    !bare_post || form
}

/// Virtual-host addressing: `<bucket>.localhost[:port]` names the bucket;
/// any other host (an IP address, `localhost`, a container name) is
/// path-style.
pub(crate) struct Hosts;

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        match name.strip_suffix(".localhost") {
            Some(bucket) if !bucket.is_empty() => Ok(VirtualHost::new(host).with_bucket(bucket)),
            _ => Ok(VirtualHost::new(host)),
        }
    }
}

/// A presigned URL without its signature (open mode), or `None` when the
/// query holds no signature.
fn unsigned_uri(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let signed = query
        .split('&')
        .any(|p| p.starts_with("X-Amz-Signature=") || p.starts_with("Signature="));
    if !signed {
        return None;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or("");
            !name.starts_with("X-Amz-")
                && !matches!(name, "Signature" | "AWSAccessKeyId" | "Expires")
        })
        .collect();
    let path_and_query = match kept.is_empty() {
        true => uri.path().to_string(),
        false => format!("{}?{}", uri.path(), kept.join("&")),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

/// Serves one S3 request. Without configured credentials (open mode) any
/// signature is accepted: the `Authorization` header is dropped before
/// `s3s` sees the request, and an aws-chunked body is decoded here (its
/// trailers handed to the operation in a [`super::checksum::Trailers`]).
pub(crate) async fn handle(service: &Service, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut body = body;
    // A Range header S3 cannot read (malformed, or several ranges) is
    // ignored and the whole object answered, as S3 does.
    let readable = |v: &HeaderValue| v.to_str().is_ok_and(|r| s3s::dto::Range::parse(r).is_ok());
    if parts
        .headers
        .get(header::RANGE)
        .is_some_and(|v| !readable(v))
    {
        parts.headers.remove(header::RANGE);
    }
    if service.open {
        parts.headers.remove(header::AUTHORIZATION);
        if let Some(uri) = unsigned_uri(&parts.uri) {
            parts.uri = uri;
        }
        let streaming = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("STREAMING-"));
        if streaming {
            // The trailers (a checksum) reach the operation through the
            // request's extensions, which s3s hands over in `S3Request`.
            let trailers = super::checksum::Trailers::default();
            parts.extensions.insert(trailers.clone());
            body = Body::from_stream(super::chunked::decode(body, trailers));
            let h = &mut parts.headers;
            if let Some(len) = h.get("x-amz-decoded-content-length").cloned() {
                h.insert(header::CONTENT_LENGTH, len);
            }
            h.remove(header::TRANSFER_ENCODING);
            let encodings: Vec<String> = h
                .get_all(header::CONTENT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v != "aws-chunked")
                .collect();
            h.remove(header::CONTENT_ENCODING);
            if let Ok(v) = HeaderValue::from_str(&encodings.join(",")) {
                if !encodings.is_empty() {
                    h.insert(header::CONTENT_ENCODING, v);
                }
            }
            h.insert(
                "x-amz-content-sha256",
                HeaderValue::from_static("UNSIGNED-PAYLOAD"),
            );
        }
    }
    let head = parts.method == Method::HEAD;
    // The request's id: its answer's `x-amz-request-id`, and the one its
    // object-created event names.
    let id = new_request_id();
    parts.extensions.insert(RequestId(id.clone()));
    let body = with_body_digest(&mut parts, body, service.open).await;
    let req = Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    let resp = match service.s3s.call(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::error!(error = ?e, "s3 request failed");
            let mut resp = Response::new(Body::from("internal error"));
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    };
    let mut resp = with_message(resp).await;
    // A HEAD of a range or a part is 206 Partial Content, as GetObject's
    // (s3s answers 200 whatever the range).
    if head && resp.status() == StatusCode::OK && resp.headers().contains_key(header::CONTENT_RANGE)
    {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    // Every answer names its request, as S3's do (the SDKs report it:
    // boto3's ResponseMetadata.RequestId).
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    resp
}

/// A request's id (`x-amz-request-id`), in its extensions.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

/// A new request id, 16 hexadecimal digits as S3's.
pub(crate) fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// S3's message for an error code, where `s3s` answers the code alone
/// (the AWS documentation's list of error responses).
fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidBucketName" => "The specified bucket is not valid.",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema",
        "MissingRequestBodyError" => "Request Body is empty",
        "SignatureDoesNotMatch" => "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "AccessDenied" => "Access Denied",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "RequestTimeTooSkewed" => "The difference between the request time and the current time is too large.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented.",
        _ => return None,
    })
}

/// Gives an error answer without a `<Message>` S3's message for its code.
async fn with_message(resp: Response) -> Response {
    const SMALL: usize = 64 << 10;
    let small = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_none_or(|n| n <= SMALL);
    if !resp.status().is_client_error() || !small {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, SMALL).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code);
    let Some(message) = code
        .filter(|_| !text.contains("<Message>"))
        .and_then(default_message)
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let filled = text.replacen(
        "</Code>",
        &format!("</Code><Message>{message}</Message>"),
        1,
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(filled.len()));
    Response::from_parts(parts, Body::from(filled))
}

/// The largest DeleteObjects body read here to be checked (1,000 keys of
/// 1,024 bytes fit; a larger body is refused as S3 refuses too big a request).
const DIGESTED_BODY: usize = 2 << 20;

/// DeleteObjects (`POST /bucket?delete`) requires `Content-MD5` or an
/// `x-amz-checksum-*` header, checked against its body: the body is read
/// here (it is small, and `s3s` reads it whole anyway) and the verdict left
/// in the request's extensions for the operation to answer. `open`: an
/// aws-chunked body was decoded already (else it is checked for its
/// headers only).
async fn with_body_digest(parts: &mut axum::http::request::Parts, body: Body, open: bool) -> Body {
    let deletes = parts.method == Method::POST
        && parts
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "delete" || p == "delete="));
    if !deletes {
        return body;
    }
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > DIGESTED_BODY) {
        parts
            .extensions
            .insert(super::checksum::BodyDigest::too_big());
        return body;
    }
    let Ok(bytes) = axum::body::to_bytes(body, DIGESTED_BODY).await else {
        parts
            .extensions
            .insert(super::checksum::BodyDigest::too_big());
        return Body::empty();
    };
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    let trailers = parts
        .extensions
        .get::<super::checksum::Trailers>()
        .and_then(super::checksum::Trailers::take);
    let digest = super::checksum::BodyDigest::of(
        &parts.headers,
        &bytes,
        trailers.as_ref(),
        streaming && !open,
    );
    parts.extensions.insert(digest);
    Body::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_without_a_target_are_s3s_except_bare_posts() {
        let h = HeaderMap::new();
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert!(is_s3(&Method::GET, &uri("/"), &h));
        assert!(is_s3(&Method::PUT, &uri("/b/k"), &h));
        assert!(is_s3(&Method::POST, &uri("/b?delete"), &h));
        assert!(is_s3(&Method::POST, &uri("/b/k?uploads"), &h));
        assert!(!is_s3(&Method::POST, &uri("/"), &h));
        let mut t = HeaderMap::new();
        t.insert(
            "x-amz-target",
            HeaderValue::from_static("Kinesis_20131202.ListStreams"),
        );
        assert!(!is_s3(&Method::GET, &uri("/b"), &t));
    }

    #[test]
    fn requests_signed_for_another_service_are_not_s3s() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let signed = |service: &str| {
            let mut h = HeaderMap::new();
            let auth = format!("AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00");
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
            h
        };
        assert!(!is_s3(&Method::GET, &uri("/"), &signed("kinesis")));
        assert!(!is_s3(&Method::DELETE, &uri("/"), &signed("dynamodb")));
        assert!(is_s3(&Method::GET, &uri("/"), &signed("s3")));
        assert!(is_s3(&Method::PUT, &uri("/b/k"), &signed("s3")));
    }

    #[test]
    fn presigned_queries_lose_only_their_signature() {
        let uri: Uri =
            "/b/k?partNumber=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab&X-Amz-Date=1"
                .parse()
                .unwrap();
        assert_eq!(unsigned_uri(&uri).unwrap(), "/b/k?partNumber=1");
        assert!(unsigned_uri(&"/b/k?uploads".parse().unwrap()).is_none());
    }

    #[test]
    fn hosts_ending_in_localhost_name_the_bucket() {
        let bucket = |h: &str| {
            Hosts
                .parse_host_header(h)
                .unwrap()
                .bucket()
                .map(str::to_string)
        };
        assert_eq!(bucket("rides.localhost:4567").as_deref(), Some("rides"));
        assert_eq!(bucket("rides.localhost").as_deref(), Some("rides"));
        assert_eq!(bucket("localhost:4567"), None);
        assert_eq!(bucket("engine:4567"), None);
    }
}
