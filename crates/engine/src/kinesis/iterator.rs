//! Shard iterators and pagination tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::front::error::{err, ApiError, Code};

// ---- iterators and tokens -------------------------------------------------

pub(crate) struct Iter {
    pub(crate) name: String,
    pub(crate) incarnation: u64,
    pub(crate) shard: usize,
    pub(crate) pos: u64,
    pub(crate) issued_ms: u64,
}

pub(crate) fn encode_iter(it: &Iter) -> String {
    let raw = format!(
        "v1/{}/{}/{}/{}/{}",
        it.incarnation, it.shard, it.pos, it.issued_ms, it.name
    );
    let check = crc32fast::hash(raw.as_bytes());
    URL_SAFE_NO_PAD.encode(format!("{raw}/{check:08x}"))
}

pub(crate) fn decode_iter(s: &str) -> Option<Iter> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (body, check) = raw.rsplit_once('/')?;
    if format!("{:08x}", crc32fast::hash(body.as_bytes())) != check {
        return None;
    }
    let mut parts = body.splitn(6, '/');
    if parts.next()? != "v1" {
        return None;
    }
    Some(Iter {
        incarnation: parts.next()?.parse().ok()?,
        shard: parts.next()?.parse().ok()?,
        pos: parts.next()?.parse().ok()?,
        issued_ms: parts.next()?.parse().ok()?,
        name: parts.next()?.to_string(),
    })
}

pub(crate) fn encode_token(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("/"))
}

pub(crate) fn decode_token(s: &str) -> Option<Vec<String>> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    Some(raw.split('/').map(str::to_string).collect())
}

pub(crate) fn bad_token() -> ApiError {
    err(Code::InvalidArgumentException, "NextToken is invalid.")
}
