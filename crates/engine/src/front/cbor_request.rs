//! CBOR request bodies read into the value the JSON protocol gives, in one
//! pass over the body: `ciborium-ll` reads each item's header and the
//! definite-length strings are taken straight from the body (no copy
//! before their JSON form), which is what every record of a CBOR
//! PutRecords goes through. Byte strings become base64 text and tag 1
//! timestamps epoch seconds, as [`super::cbor`] describes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ciborium_ll::{simple, tag, Decoder, Header};
use serde_json::{Map, Number, Value};

use super::cbor::TAG_EPOCH;

/// Deepest nesting accepted in a request (the service's shapes are a few
/// levels deep; this keeps hostile input from exhausting the stack).
const MAX_DEPTH: usize = 64;

/// Why a body is not one well-formed CBOR data item.
pub(super) type Malformed = String;

/// Reads the one data item of `body`; bytes after it are refused.
pub(super) fn read(body: &[u8]) -> Result<Value, Malformed> {
    let mut reader = Reader { body, pos: 0 };
    let value = reader.item(0)?;
    match body.len() - reader.pos {
        0 => Ok(value),
        n => Err(format!("{n} bytes after the first data item")),
    }
}

struct Reader<'a> {
    body: &'a [u8],
    /// Where the next header starts.
    pos: usize,
}

/// A header, or a string's content, ran past the end of the body.
fn truncated() -> Malformed {
    "the body ends inside a data item".into()
}

impl<'a> Reader<'a> {
    fn header(&mut self) -> Result<Header, Malformed> {
        let mut decoder = Decoder::from(&self.body[self.pos..]);
        let header = decoder.pull().map_err(|e| match e {
            ciborium_ll::Error::Io(_) => truncated(),
            ciborium_ll::Error::Syntax(at) => format!("invalid header at byte {}", self.pos + at),
        })?;
        self.pos += decoder.offset();
        Ok(header)
    }

    /// The content of a byte or text string: borrowed from the body when
    /// its length is given, gathered from its segments otherwise.
    fn content(&mut self, len: Option<usize>, text: bool) -> Result<Content<'a>, Malformed> {
        if let Some(len) = len {
            return self.take(len).map(Content::Borrowed);
        }
        // Indefinite length: definite-length chunks of the same major type
        // up to a break.
        let mut out = Vec::new();
        loop {
            match self.header()? {
                Header::Break => return Ok(Content::Owned(out)),
                Header::Bytes(Some(n)) if !text => out.extend_from_slice(self.take(n)?),
                Header::Text(Some(n)) if text => out.extend_from_slice(self.take(n)?),
                _ => return Err("an indefinite-length string holds another item".into()),
            }
        }
    }

    /// The next `len` bytes of the body.
    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(truncated)?;
        let slice = &self.body[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn item(&mut self, depth: usize) -> Result<Value, Malformed> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        Ok(match self.header()? {
            Header::Positive(n) => Value::from(n),
            Header::Negative(n) => integer(n as i128 ^ !0),
            Header::Float(f) => float(f)?,
            Header::Simple(simple::FALSE) => Value::Bool(false),
            Header::Simple(simple::TRUE) => Value::Bool(true),
            Header::Simple(simple::NULL | simple::UNDEFINED) => Value::Null,
            Header::Simple(other) => return Err(format!("unknown simple value {other}")),
            Header::Break => return Err("a break outside an indefinite-length item".into()),
            Header::Bytes(len) => Value::String(STANDARD.encode(self.content(len, false)?.bytes())),
            Header::Text(len) => Value::String(match self.content(len, true)? {
                Content::Borrowed(b) => std::str::from_utf8(b).map_err(not_utf8)?.to_owned(),
                Content::Owned(b) => String::from_utf8(b).map_err(not_utf8)?,
            }),
            Header::Array(len) => {
                // Capacity from the body, not from a length it claims.
                let mut items = Vec::with_capacity(len.unwrap_or(0).min(1024));
                for _ in 0..len.unwrap_or(usize::MAX) {
                    if len.is_none() && self.at_break()? {
                        break;
                    }
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            Header::Map(len) => {
                let mut out = Map::new();
                for _ in 0..len.unwrap_or(usize::MAX) {
                    if len.is_none() && self.at_break()? {
                        break;
                    }
                    let key = match self.item(depth + 1)? {
                        Value::String(k) => k,
                        _ => return Err("a map key is not a text string".into()),
                    };
                    out.insert(key, self.item(depth + 1)?);
                }
                Value::Object(out)
            }
            Header::Tag(TAG_EPOCH) => match self.item(depth + 1)? {
                Value::Number(ms) => ms
                    .as_f64()
                    .map(|ms| ms / 1000.0)
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or("a timestamp (tag 1) out of range")?,
                _ => return Err("a timestamp (tag 1) is not a number".into()),
            },
            Header::Tag(t @ (tag::BIGPOS | tag::BIGNEG)) => match self.header()? {
                Header::Bytes(len) => {
                    let magnitude = self
                        .content(len, false)?
                        .bytes()
                        .iter()
                        .fold(0f64, |n, &b| n * 256.0 + f64::from(b));
                    let n = if t == tag::BIGPOS {
                        magnitude
                    } else {
                        -1.0 - magnitude
                    };
                    // Beyond 64 bits: as close as a number gets (the actions reject it).
                    Number::from_f64(n).map_or(Value::Null, Value::Number)
                }
                _ => return Err("a bignum tag over something other than bytes".into()),
            },
            // Other tags carry no meaning in this protocol: keep the item.
            Header::Tag(_) => self.item(depth + 1)?,
        })
    }

    /// Whether an indefinite-length array or map ends here (the break is
    /// consumed).
    fn at_break(&mut self) -> Result<bool, Malformed> {
        match self.body.get(self.pos) {
            Some(0xff) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(truncated()),
        }
    }
}

enum Content<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Content<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Content::Borrowed(b) => b,
            Content::Owned(b) => b,
        }
    }
}

fn not_utf8(e: impl std::fmt::Display) -> Malformed {
    format!("a text string is not UTF-8: {e}")
}

fn integer(i: i128) -> Value {
    if let Ok(i) = i64::try_from(i) {
        Value::from(i)
    } else if let Ok(u) = u64::try_from(i) {
        Value::from(u)
    } else {
        // Beyond 64 bits: as close as a number gets (the actions reject it).
        Number::from_f64(i as f64).map_or(Value::Null, Value::Number)
    }
}

fn float(f: f64) -> Result<Value, Malformed> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "a number is not finite".into())
}
