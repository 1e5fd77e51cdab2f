//! Flexible checksums (`x-amz-checksum-*`) of PutObject and UploadPart: the
//! one a request claims, in a header or announced by `x-amz-trailer` and sent
//! in the aws-chunked body's trailer; computed while the body streams and
//! compared once it ends, with S3's errors (BadDigest, InvalidRequest,
//! MalformedTrailerError).

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine as _;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::{s3_error, S3Error, S3ErrorCode, S3Result};

use super::blob::Received;
use super::store::Store;

/// The five `checksum_*` members of an input (a request, a completed part),
/// in [`Algorithm::ALL`]'s order, as [`claim`] and the checks take them.
macro_rules! sent_checksums {
    ($x:expr) => {
        [
            $x.checksum_crc32.as_deref(),
            $x.checksum_crc32c.as_deref(),
            $x.checksum_crc64nvme.as_deref(),
            $x.checksum_sha1.as_deref(),
            $x.checksum_sha256.as_deref(),
        ]
    };
}
pub(crate) use sent_checksums;

/// A checksum algorithm of S3's flexible checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order of [`Fields`].
    pub(crate) const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The name S3 uses in messages and in [`super::store::ObjectMeta`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or trailer) that carries its value.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Bytes of a digest.
    fn len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    fn of_header(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name))
    }

    pub(crate) fn of_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The digest of `value` (base64) when it is one of this algorithm.
    pub(crate) fn decode(self, value: &str) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .filter(|d| d.len() == self.len())
    }
}

/// Computes one algorithm's checksum over a body, chunk by chunk.
pub(crate) struct Hasher(ChecksumHasher);

impl Hasher {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        let mut h = ChecksumHasher::default();
        match algorithm {
            Algorithm::Crc32 => h.crc32 = Some(Crc32::new()),
            Algorithm::Crc32c => h.crc32c = Some(Crc32c::new()),
            Algorithm::Crc64Nvme => h.crc64nvme = Some(Crc64Nvme::new()),
            Algorithm::Sha1 => h.sha1 = Some(Sha1::new()),
            Algorithm::Sha256 => h.sha256 = Some(Sha256::new()),
        }
        Hasher(h)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum, base64.
    pub(crate) fn finalize(self) -> String {
        let c = self.0.finalize();
        [
            c.checksum_crc32,
            c.checksum_crc32c,
            c.checksum_crc64nvme,
            c.checksum_sha1,
            c.checksum_sha256,
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default()
    }
}

/// The checksum a request claims, known from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) algorithm: Algorithm,
    /// The value of its header; `None`: it comes in the body's trailer.
    value: Option<String>,
}

fn invalid_value(a: Algorithm, trailing: bool) -> S3Error {
    let place = if trailing {
        "trailing header"
    } else {
        "header"
    };
    s3_error!(
        InvalidRequest,
        "Value for {} {place} is invalid.",
        a.header()
    )
}

fn malformed_trailer() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("MalformedTrailerError".into()),
        "The request contained trailing data that was not well-formed or did not conform to our published schema.",
    );
    e.set_status_code(StatusCode::BAD_REQUEST);
    e
}

/// The checksum claimed by a request whose `x-amz-checksum-*` headers are
/// `values` (in [`Algorithm::ALL`]'s order) and whose `x-amz-trailer` is
/// `trailer`: at most one, and a header's value must be a digest of its
/// algorithm.
pub(crate) fn claim(
    values: [Option<&str>; 5],
    trailer: Option<&HeaderValue>,
) -> S3Result<Option<Claim>> {
    let mut sent = Algorithm::ALL
        .into_iter()
        .zip(values)
        .filter_map(|(a, v)| v.map(|v| (a, v)));
    let header = sent.next();
    if sent.next().is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    let trailed = match trailer {
        None => None,
        Some(t) => {
            let names = t.to_str().map_err(|_| malformed_trailer())?;
            let mut found = None;
            for name in names.split(',').map(str::trim) {
                let lower = name.to_ascii_lowercase();
                if !lower.starts_with("x-amz-checksum-") {
                    continue;
                }
                let a = Algorithm::of_header(&lower).ok_or_else(|| {
                    s3_error!(
                        InvalidRequest,
                        "The value specified in the x-amz-trailer header is not supported"
                    )
                })?;
                if found.replace(a).is_some() {
                    return Err(s3_error!(
                        InvalidRequest,
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    ));
                }
            }
            found
        }
    };
    match (header, trailed) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header"
        )),
        (Some((a, v)), None) => match a.decode(v) {
            Some(_) => Ok(Some(Claim {
                algorithm: a,
                value: Some(v.trim().to_string()),
            })),
            None => Err(invalid_value(a, false)),
        },
        (None, Some(a)) => Ok(Some(Claim {
            algorithm: a,
            value: None,
        })),
        (None, None) => Ok(None),
    }
}

/// Compares the claimed checksum with `computed` (the body's, base64) once
/// the body ended and its `trailers` (if any) are known; returns the pair to
/// store with the object (algorithm name, value).
pub(crate) fn verify(
    claim: Option<&Claim>,
    computed: Option<&str>,
    trailers: Option<&HeaderMap>,
) -> S3Result<Option<(String, String)>> {
    let Some(claim) = claim else {
        // A checksum trailer that `x-amz-trailer` did not announce.
        let undeclared =
            trailers.is_some_and(|t| t.keys().any(|k| k.as_str().starts_with("x-amz-checksum-")));
        return match undeclared {
            true => Err(malformed_trailer()),
            false => Ok(None),
        };
    };
    let a = claim.algorithm;
    let sent = match &claim.value {
        Some(v) => v.clone(),
        None => {
            let v = trailers
                .and_then(|t| t.get(a.header()))
                .ok_or_else(malformed_trailer)?;
            v.to_str()
                .map_err(|_| invalid_value(a, true))?
                .trim()
                .to_string()
        }
    };
    let Some(sent_digest) = a.decode(&sent) else {
        return Err(invalid_value(a, true));
    };
    let computed = computed.unwrap_or_default();
    if a.decode(computed).as_deref() != Some(&sent_digest[..]) {
        return Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            a.name()
        ));
    }
    Ok(Some((a.name().to_string(), computed.to_string())))
}

/// Checks a received body against the request's `Content-MD5` and claimed
/// checksum; on a mismatch its bytes are deleted (nothing is stored) and the
/// error returned. Returns the checksum to store (algorithm name, value).
pub(crate) fn check(
    store: &Store,
    received: &Received,
    content_md5: Option<&str>,
    claim: Option<&Claim>,
    trailers: Option<&HeaderMap>,
) -> S3Result<Option<(String, String)>> {
    let md5_ok = content_md5.is_none_or(|sent| {
        base64::engine::general_purpose::STANDARD
            .decode(sent.trim())
            .is_ok_and(|d| d == received.md5)
    });
    let verified = match md5_ok {
        true => verify(claim, received.checksum.as_deref(), trailers),
        false => Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        )),
    };
    if verified.is_err() {
        store.forget(&received.data);
    }
    verified
}

/// The type of an object's stored checksum: FULL_OBJECT, or COMPOSITE for
/// a checksum of its parts' checksums (`…-N`).
pub(crate) fn checksum_type(meta: &super::store::ObjectMeta) -> Option<s3s::dto::ChecksumType> {
    let (_, value) = meta.checksums.first()?;
    let composite = value
        .rsplit_once('-')
        .is_some_and(|(_, n)| n.parse::<u32>().is_ok());
    Some(s3s::dto::ChecksumType::from_static(match composite {
        true => s3s::dto::ChecksumType::COMPOSITE,
        false => s3s::dto::ChecksumType::FULL_OBJECT,
    }))
}

/// The five `checksum_*` fields of an answer (in [`Algorithm::ALL`]'s order)
/// from stored (name, value) pairs.
pub(crate) type Fields = [Option<String>; 5];

pub(crate) fn fields<'a>(stored: impl IntoIterator<Item = &'a (String, String)>) -> Fields {
    let mut out = Fields::default();
    for (name, v) in stored {
        if let Some(a) = Algorithm::of_name(name) {
            if let Some(i) = Algorithm::ALL.iter().position(|x| *x == a) {
                out[i] = Some(v.clone());
            }
        }
    }
    out
}

/// Trailing headers of an aws-chunked body decoded by
/// [`super::chunked::decode`] (open mode), shared with the operation through
/// the request's extensions and filled when the body ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Trailers(Arc<Mutex<Option<HeaderMap>>>);

impl Trailers {
    pub(crate) fn set(&self, headers: HeaderMap) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(headers);
        }
    }

    pub(crate) fn take(&self) -> Option<HeaderMap> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// The trailing headers of a request whose body was read: decoded by `s3s`
/// (signed mode) or by [`super::chunked::decode`] (open mode).
pub(crate) fn trailers_of(
    signed: Option<&s3s::TrailingHeaders>,
    extensions: &axum::http::Extensions,
) -> Option<HeaderMap> {
    signed
        .and_then(s3s::TrailingHeaders::take)
        .or_else(|| extensions.get::<Trailers>().and_then(Trailers::take))
}

/// What an upload's body is checked against and stored with: its
/// Content-MD5, the checksum it claims, and the algorithm whose checksum it
/// gets when it claims none.
pub(crate) struct Checks<'a> {
    pub(crate) content_md5: Option<&'a str>,
    pub(crate) claim: Option<&'a Claim>,
    pub(crate) default: Option<Algorithm>,
}

/// Receives an upload's body (see [`super::blob::receive`]) and checks it
/// against the request's Content-MD5 and claimed checksum (nothing is kept on
/// a mismatch); returns it with the checksum to store (algorithm, value):
/// the claimed one, else the `default` algorithm's (S3 gives an object
/// uploaded without a checksum its CRC64NVME).
pub(crate) async fn receive_checked(
    b: &super::Backend,
    body: Option<s3s::dto::StreamingBlob>,
    file: bool,
    checks: Checks<'_>,
    signed: Option<&s3s::TrailingHeaders>,
    extensions: &axum::http::Extensions,
) -> S3Result<(Received, Option<(String, String)>)> {
    let Checks {
        content_md5,
        claim,
        default,
    } = checks;
    // A Content-MD5 that is not the base64 of 16 bytes is refused before
    // the body is read, in S3's words.
    let decodes = |sent: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(sent.trim())
            .is_ok_and(|d| d.len() == 16)
    };
    if content_md5.is_some_and(|sent| !decodes(sent)) {
        return Err(s3_error!(
            InvalidDigest,
            "The Content-MD5 you specified was invalid."
        ));
    }
    let algorithm = claim.map(|c| c.algorithm).or(default);
    let received = super::blob::receive(&b.store, body, file, algorithm, b.body_idle)
        .await
        .map_err(super::objects::blob_err)?;
    let trailers = trailers_of(signed, extensions);
    let verified = check(&b.store, &received, content_md5, claim, trailers.as_ref())?;
    let computed = || Some((default?.name().to_string(), received.checksum.clone()?));
    let verified = verified.or_else(computed);
    Ok((received, verified))
}

/// The verdict on the integrity headers of a request whose XML body S3
/// requires them for (DeleteObjects: `Content-MD5` or an `x-amz-checksum-*`
/// header), reached where the body passes ([`super::http`]) and answered by
/// the operation (`s3s` has read the body by then).
#[derive(Clone, Debug)]
pub(crate) struct BodyDigest(Result<(), (S3ErrorCode, String)>);

impl BodyDigest {
    /// Checks `body` against `headers` and the body's `trailers` (if it was
    /// aws-chunked); an `encoded` body (aws-chunked, still encoded: a signed
    /// one) is only checked for the headers' presence.
    pub(crate) fn of(
        headers: &HeaderMap,
        body: &[u8],
        trailers: Option<&HeaderMap>,
        encoded: bool,
    ) -> Self {
        BodyDigest::refused(body_digest(headers, body, trailers, encoded))
    }

    /// A body that could not be read whole to be checked.
    pub(crate) fn too_big() -> Self {
        BodyDigest::refused(Err(s3_error!(
            MaxMessageLengthExceeded,
            "Your request was too big."
        )))
    }

    fn refused(result: S3Result<()>) -> Self {
        BodyDigest(result.map_err(|e| {
            (
                e.code().clone(),
                e.message().unwrap_or_default().to_string(),
            )
        }))
    }

    /// The error S3 answers, if any.
    pub(crate) fn check(&self) -> S3Result<()> {
        self.0
            .clone()
            .map_err(|(code, message)| S3Error::with_message(code, message))
    }
}

fn body_digest(
    headers: &HeaderMap,
    body: &[u8],
    trailers: Option<&HeaderMap>,
    encoded: bool,
) -> S3Result<()> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let md5 = header("content-md5");
    let claimed = claim(
        Algorithm::ALL.map(|a| header(a.header())),
        headers.get("x-amz-trailer"),
    )?;
    if md5.is_none() && claimed.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "Missing required header for this request: Content-MD5"
        ));
    }
    if let Some(sent) = md5.filter(|_| !encoded) {
        let Some(sent) = base64::engine::general_purpose::STANDARD
            .decode(sent.trim())
            .ok()
            .filter(|d| d.len() == 16)
        else {
            return Err(s3_error!(
                InvalidDigest,
                "The Content-MD5 you specified was invalid."
            ));
        };
        if sent[..] != <md5::Md5 as md5::Digest>::digest(body)[..] {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    match claimed {
        Some(c) if !encoded => {
            let mut h = Hasher::new(c.algorithm);
            h.update(body);
            verify(Some(&c), Some(&h.finalize()), trailers).map(drop)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(data: &[u8]) -> String {
        let mut h = Hasher::new(Algorithm::Crc32);
        h.update(data);
        h.finalize()
    }

    #[test]
    fn hashes_match_known_values() {
        // CRC32 of "hello" is 0x3610a686.
        assert_eq!(crc32(b"hello"), "NhCmhg==");
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.finalize(), "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
    }

    #[test]
    fn a_header_claim_must_be_single_and_well_formed() {
        let one = |i: usize, v: &'static str| {
            let mut values = [None; 5];
            values[i] = Some(v);
            claim(values, None)
        };
        let c = one(0, "NhCmhg==").unwrap().unwrap();
        assert_eq!(c.algorithm, Algorithm::Crc32);
        let e = one(0, "NhCm").unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::InvalidRequest);
        assert_eq!(
            e.message(),
            Some("Value for x-amz-checksum-crc32 header is invalid.")
        );
        assert!(one(4, "NhCmhg==").is_err());
        assert!(one(3, "not base64!").is_err());
        let two = claim([Some("NhCmhg=="), None, None, None, Some("x")], None).unwrap_err();
        assert_eq!(
            two.message(),
            Some("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        );
        assert_eq!(claim([None; 5], None).unwrap(), None);
    }

    #[test]
    fn a_trailer_claim_is_named_by_x_amz_trailer() {
        let t = HeaderValue::from_static("x-amz-checksum-crc64nvme");
        let c = claim([None; 5], Some(&t)).unwrap().unwrap();
        assert_eq!(c.algorithm, Algorithm::Crc64Nvme);
        assert_eq!(c.value, None);
        let other = HeaderValue::from_static("x-amz-meta-a");
        assert_eq!(claim([None; 5], Some(&other)).unwrap(), None);
        let unknown = HeaderValue::from_static("x-amz-checksum-md7");
        assert!(claim([None; 5], Some(&unknown)).is_err());
        assert!(claim([Some("NhCmhg=="), None, None, None, None], Some(&t)).is_err());
    }

    #[test]
    fn verification_compares_digests() {
        let good = crc32(b"hello");
        let header = claim([Some("NhCmhg=="), None, None, None, None], None)
            .unwrap()
            .unwrap();
        let stored = verify(Some(&header), Some(&good), None).unwrap();
        assert_eq!(stored, Some(("CRC32".into(), good.clone())));
        let other = crc32(b"hellO");
        let e = verify(Some(&header), Some(&other), None).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::BadDigest);
        assert_eq!(
            e.message(),
            Some("The CRC32 you specified did not match the calculated checksum.")
        );

        let t = HeaderValue::from_static("x-amz-checksum-crc32");
        let trailed = claim([None; 5], Some(&t)).unwrap().unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-amz-checksum-crc32", HeaderValue::from_static("NhCmhg=="));
        assert!(verify(Some(&trailed), Some(&good), Some(&trailers)).is_ok());
        assert!(verify(Some(&trailed), Some(&other), Some(&trailers)).is_err());
        let missing = verify(Some(&trailed), Some(&good), None).unwrap_err();
        assert_eq!(missing.status_code(), Some(StatusCode::BAD_REQUEST));
        trailers.insert("x-amz-checksum-crc32", HeaderValue::from_static("zz"));
        let bad = verify(Some(&trailed), Some(&good), Some(&trailers)).unwrap_err();
        assert_eq!(
            bad.message(),
            Some("Value for x-amz-checksum-crc32 trailing header is invalid.")
        );
        // A checksum trailer nobody announced.
        assert!(verify(None, None, Some(&trailers)).is_err());
        assert_eq!(verify(None, None, None).unwrap(), None);
    }

    #[test]
    fn stored_pairs_become_answer_fields() {
        let f = fields(&[("SHA1".to_string(), "x".to_string())]);
        assert_eq!(f[3].as_deref(), Some("x"));
        assert!(f[0].is_none());
    }
}
