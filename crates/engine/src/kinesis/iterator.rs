//! Shard iterators and pagination tokens.
//!
//! An iterator names a stream incarnation, a shard, a position and when it
//! was issued, and carries an HMAC-SHA256 over all of it with a key of the
//! engine's (kept in the data dir as `iterator.key`, created with it; random
//! per process in memory mode). A forged or altered iterator is refused like
//! a malformed one, so a client cannot read another stream, move past the
//! end of a shard or make an iterator that never expires.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::EngineError;
use crate::front::error::{err, ApiError, Code};

/// How long an iterator stays valid, as on the service.
pub(crate) const ITERATOR_TTL_MS: u64 = 5 * 60 * 1000;

/// Bytes of the MAC kept in an iterator (128 bits).
const MAC_BYTES: usize = 16;

/// Name of the key file in the data dir.
const KEY_FILE: &str = "iterator.key";

/// A position in a shard, as handed out in a shard iterator.
pub(crate) struct Iter {
    pub(crate) name: String,
    pub(crate) incarnation: u64,
    pub(crate) shard: usize,
    pub(crate) pos: u64,
    pub(crate) issued_ms: u64,
}

/// The key iterators are signed with.
pub(crate) struct IteratorKey([u8; 32]);

impl IteratorKey {
    /// A fresh random key (memory mode).
    pub(crate) fn random() -> Self {
        IteratorKey(rand::random())
    }

    /// The data dir's key, created (and synced) on first use.
    pub(crate) fn load_or_create(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join(KEY_FILE);
        let io = |context: String| move |source| EngineError::Io { context, source };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| EngineError::Io {
                    context: format!("reading {}", path.display()),
                    source: std::io::Error::other(format!(
                        "the iterator key must be 32 bytes, found {}; delete the file to make a new one (iterators handed out before become invalid)",
                        b.len()
                    )),
                })?;
                Ok(IteratorKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::random();
                let tmp = dir.join(format!("{KEY_FILE}.tmp"));
                let mut f = std::fs::File::create(&tmp)
                    .map_err(io(format!("creating {}", tmp.display())))?;
                f.write_all(&key.0)
                    .and_then(|()| f.sync_all())
                    .map_err(io(format!("writing {}", tmp.display())))?;
                std::fs::rename(&tmp, &path).map_err(io(format!(
                    "renaming {} to {}",
                    tmp.display(),
                    path.display()
                )))?;
                Ok(key)
            }
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    fn mac(&self, body: &str) -> [u8; MAC_BYTES] {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(body.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    /// The iterator string for `it`.
    pub(crate) fn encode(&self, it: &Iter) -> String {
        let body = format!(
            "v2/{}/{}/{}/{}/{}",
            it.incarnation, it.shard, it.pos, it.issued_ms, it.name
        );
        let mut raw = body.into_bytes();
        let mac = self.mac(std::str::from_utf8(&raw).unwrap_or_default());
        raw.push(b'/');
        raw.extend_from_slice(&mac);
        // The standard alphabet with padding, like the service's iterators.
        STANDARD.encode(raw)
    }

    /// The iterator `s` names, if this engine issued it unaltered.
    pub(crate) fn decode(&self, s: &str) -> Option<Iter> {
        let raw = STANDARD.decode(s).ok()?;
        if raw.len() <= MAC_BYTES + 1 || raw[raw.len() - MAC_BYTES - 1] != b'/' {
            return None;
        }
        let (body, mac) = raw.split_at(raw.len() - MAC_BYTES - 1);
        let body = std::str::from_utf8(body).ok()?;
        let mut check =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key size");
        check.update(body.as_bytes());
        check.verify_truncated_left(&mac[1..]).ok()?;
        let mut parts = body.splitn(6, '/');
        if parts.next()? != "v2" {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn it() -> Iter {
        Iter {
            name: "rides".into(),
            incarnation: 3,
            shard: 1,
            pos: 42,
            issued_ms: 1_000,
        }
    }

    #[test]
    fn an_iterator_decodes_with_its_key_only() {
        let key = IteratorKey::random();
        let s = key.encode(&it());
        let back = key.decode(&s).expect("own iterator");
        assert_eq!(
            (
                back.name.as_str(),
                back.incarnation,
                back.shard,
                back.pos,
                back.issued_ms
            ),
            ("rides", 3, 1, 42, 1_000)
        );
        assert!(
            IteratorKey::random().decode(&s).is_none(),
            "another engine's key"
        );
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let key = IteratorKey::random();
        let raw = STANDARD.decode(key.encode(&it())).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert!(key.decode(&STANDARD.encode(&bad)).is_none(), "byte {i}");
        }
        // A forged body with the old CRC-only layout, far position, never-expiring time.
        let body = format!("v1/3/1/{}/{}/rides", u64::MAX, u64::MAX);
        let forged = format!("{body}/{:08x}", crc32fast::hash(body.as_bytes()));
        assert!(key.decode(&STANDARD.encode(forged)).is_none());
    }

    #[test]
    fn the_key_survives_a_restart_of_its_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = IteratorKey::load_or_create(dir.path()).unwrap();
        let b = IteratorKey::load_or_create(dir.path()).unwrap();
        let s = a.encode(&it());
        assert!(b.decode(&s).is_some());
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let e = IteratorKey::load_or_create(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("iterator.key"), "{e}");
    }
}
