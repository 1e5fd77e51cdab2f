//! JSON answers re-encoded as CBOR in one pass, without a JSON tree in
//! between: an action writes its answer once, as JSON (the busiest ones from
//! typed structures), and a CBOR caller gets the same members in CBOR. Blob
//! members become byte strings and timestamp members tag 1 epoch
//! milliseconds, as in [`super::cbor::encode`]; maps are indefinite-length,
//! as the service writes them, and arrays definite.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ciborium_ll::{simple, Encoder, Header};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::cbor::{BLOBS, TAG_EPOCH, TIMESTAMPS};

/// The CBOR form of a JSON answer.
pub(crate) fn json_to_cbor(json: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(json.len());
    let mut de = serde_json::Deserializer::from_slice(json);
    Item {
        out: &mut out,
        name: "",
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Writes one data item (writing to a Vec cannot fail).
fn push(out: &mut Vec<u8>, header: Header) {
    let _ = Encoder::from(out).push(header);
}

fn integer(out: &mut Vec<u8>, i: i64) {
    push(
        out,
        if i < 0 {
            Header::Negative(i as u64 ^ !0)
        } else {
            Header::Positive(i as u64)
        },
    );
}

/// One JSON value, written as CBOR into `out`; `name` is the member holding
/// it (entries of a list keep the list's name), which decides blobs and
/// timestamps.
struct Item<'a> {
    out: &'a mut Vec<u8>,
    name: &'a str,
}

impl Item<'_> {
    /// A number: epoch seconds become tag 1 milliseconds in a timestamp
    /// member.
    fn number(self, n: f64, write: impl FnOnce(&mut Vec<u8>)) {
        if TIMESTAMPS.contains(&self.name) {
            push(self.out, Header::Tag(TAG_EPOCH));
            integer(self.out, (n * 1000.0).round() as i64);
        } else {
            write(self.out);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        push(
            self.out,
            Header::Simple(if b { simple::TRUE } else { simple::FALSE }),
        );
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        push(self.out, Header::Simple(simple::NULL));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<(), E> {
        self.number(u as f64, |out| push(out, Header::Positive(u)));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<(), E> {
        self.number(i as f64, |out| integer(out, i));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<(), E> {
        self.number(f, |out| push(out, Header::Float(f)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        let mut enc = Encoder::from(self.out);
        let blob = BLOBS
            .contains(&self.name)
            .then(|| STANDARD.decode(s).ok())
            .flatten();
        let _ = match blob {
            Some(bytes) => enc.bytes(&bytes, None),
            None => enc.text(s, None),
        };
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Definite length: the entries are written aside and counted.
        let mut entries = Vec::new();
        let mut n = 0;
        while seq
            .next_element_seed(Item {
                out: &mut entries,
                name: self.name,
            })?
            .is_some()
        {
            n += 1;
        }
        push(self.out, Header::Array(Some(n)));
        self.out.extend_from_slice(&entries);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        push(self.out, Header::Map(None));
        while let Some(key) = map.next_key::<String>()? {
            let _ = Encoder::from(&mut *self.out).text(&key, None);
            map.next_value_seed(Item {
                out: &mut *self.out,
                name: &key,
            })?;
        }
        push(self.out, Header::Break);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::cbor::{decode, encode};

    /// The one-pass form reads back as the tree-built form does.
    fn same_as_the_tree(json: &str) {
        let fast = json_to_cbor(json.as_bytes()).unwrap();
        let tree = encode(&serde_json::from_str(json).unwrap());
        assert_eq!(decode(&fast).unwrap(), decode(&tree).unwrap(), "{json}");
    }

    #[test]
    fn answers_read_back_as_the_tree_built_ones() {
        same_as_the_tree(
            r#"{"FailedRecordCount":1,"Records":[{"SequenceNumber":"4960","ShardId":"shardId-000000000000"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"}],"EncryptionType":"NONE"}"#,
        );
        same_as_the_tree(
            r#"{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k","SequenceNumber":"1","ApproximateArrivalTimestamp":1764633600.123}],"NextShardIterator":"AAA","MillisBehindLatest":0,"ChildShards":[]}"#,
        );
        same_as_the_tree(
            r#"{"a":null,"b":true,"c":false,"d":-5,"e":1.5,"f":18446744073709551615,"g":"text \"quoted\" é","h":[[1,2],[]],"i":{}}"#,
        );
        same_as_the_tree(r#"{"StreamCreationTimestamp":1764633600,"Data":"not base64!"}"#);
    }

    #[test]
    fn maps_are_indefinite_arrays_definite_blobs_bytes_and_timestamps_tagged() {
        let out =
            json_to_cbor(br#"{"Records":[{"Data":"AQI=","ApproximateArrivalTimestamp":1.5}]}"#)
                .unwrap();
        let mut expected = vec![0xbf, 0x67];
        expected.extend(b"Records");
        expected.extend([0x81, 0xbf, 0x64]);
        expected.extend(b"Data");
        expected.extend([0x42, 1, 2, 0x78, 27]);
        expected.extend(b"ApproximateArrivalTimestamp");
        expected.extend([0xc1, 0x19, 0x05, 0xdc, 0xff, 0xff]);
        assert_eq!(out, expected);
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(json_to_cbor(b"{").is_err());
        assert!(json_to_cbor(b"{} x").is_err());
    }
}
