//! The AWS CBOR protocol (`application/x-amz-cbor-1.1`), which the AWS SDK
//! for Java (v1 and v2) and the Kinesis Client Library use for Kinesis by
//! default.
//!
//! A request body is decoded ([`super::cbor_request`]) into the same `serde_json::Value` the JSON
//! protocol produces, so every action runs unchanged: byte strings become
//! base64 strings, and tag 1 timestamps become epoch seconds. An answer is
//! encoded from that same value, with the blob members of the service model
//! written as byte strings and its timestamp members as tag 1.
//!
//! The protocol's timestamps are tag 1 over an integer count of epoch
//! *milliseconds* in both directions (RFC 8949 says seconds; the Java SDK
//! writes `Instant::toEpochMilli` under tag 1 and reads tag 1 as
//! milliseconds, and the service answers the same way), so that is what is
//! read and written here.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::front::error::{err, ApiError, Code};

/// The protocol's content type.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-cbor-1.1";

/// Blob members of the Kinesis outputs (botocore's service model:
/// `Record.Data` is the only one).
pub(super) const BLOBS: &[&str] = &["Data"];

/// Timestamp members of the Kinesis outputs (botocore's service model:
/// `Record`, `StreamDescription`, `StreamDescriptionSummary`,
/// `StreamSummary`, `Consumer`, `ConsumerDescription` and
/// `MinimumThroughputBillingCommitmentOutput`).
pub(super) const TIMESTAMPS: &[&str] = &[
    "ApproximateArrivalTimestamp",
    "StreamCreationTimestamp",
    "ConsumerCreationTimestamp",
    "StartedAt",
    "EndedAt",
    "EarliestAllowedEndAt",
];

/// CBOR's tag for an epoch-based date/time.
pub(super) const TAG_EPOCH: u64 = 1;

/// Whether a request's `Content-Type` asks for the CBOR protocol.
pub(crate) fn is_cbor(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

fn malformed(detail: impl std::fmt::Display) -> ApiError {
    err(
        Code::SerializationException,
        format!("malformed CBOR body: {detail}"),
    )
}

/// Decodes a request body into the value the JSON protocol would give.
/// An empty body is an empty object.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    super::cbor_request::read(body).map_err(malformed)
}

/// Encodes an answer (or an error's `__type` and `message`).
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Writing to a Vec cannot fail, and every JSON value has a CBOR form.
    if let Err(e) = ciborium::ser::into_writer(&Member(value, ""), &mut out) {
        tracing::error!(error = %e, "encoding a CBOR answer");
    }
    out
}

/// Re-encodes an answer the action already wrote as JSON (PutRecords,
/// GetRecords, event payloads), in one pass.
pub(crate) fn encode_json_bytes(json: &[u8]) -> Vec<u8> {
    super::cbor_answer::json_to_cbor(json).unwrap_or_else(|e| {
        tracing::error!(error = %e, "re-reading an encoded JSON answer");
        encode(&serde_json::json!({}))
    })
}

/// A value and the name of the member holding it, which decides blobs and
/// timestamps.
struct Member<'a>(&'a Value, &'a str);

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Member(value, name) = *self;
        match value {
            Value::String(text) if BLOBS.contains(&name) => match STANDARD.decode(text) {
                Ok(bytes) => s.serialize_bytes(&bytes),
                Err(_) => s.serialize_str(text),
            },
            Value::Number(n) if TIMESTAMPS.contains(&name) => {
                let ms = n.as_f64().map_or(0, |secs| (secs * 1000.0).round() as i64);
                ciborium::tag::Required::<i64, TAG_EPOCH>(ms).serialize(s)
            }
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    s.serialize_u64(u)
                } else if let Some(i) = n.as_i64() {
                    s.serialize_i64(i)
                } else {
                    s.serialize_f64(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(text) => s.serialize_str(text),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    // Members of a list keep the list's name (`Records`'
                    // entries are records, not blobs).
                    seq.serialize_element(&Member(item, name))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                // Indefinite length (0xbf ... 0xff), as the service writes
                // its maps (recorded by kinesalite's suite).
                let mut out = s.serialize_map(None)?;
                for (k, v) in map {
                    out.serialize_entry(k, &Member(v, k))?;
                }
                out.end()
            }
        }
    }
}

/// Turns an event-stream frame whose payload is JSON into the same frame
/// with a CBOR payload (SubscribeToShard over CBOR: the Java SDK parses each
/// event's payload with the protocol the call used). Other frames pass as
/// they are.
pub(crate) fn event_frame(frame: Bytes) -> Bytes {
    let Ok(message) = read_message_from(frame.clone()) else {
        return frame;
    };
    let json = message.headers().iter().any(|h| {
        h.name().as_str() == ":content-type"
            && matches!(h.value(), HeaderValue::String(v) if v.as_str() == "application/json")
    });
    if !json {
        return frame;
    }
    let headers = message
        .headers()
        .iter()
        .map(|h| {
            if h.name().as_str() == ":content-type" {
                Header::new(":content-type", HeaderValue::String(CONTENT_TYPE.into()))
            } else {
                h.clone()
            }
        })
        .collect();
    let payload = encode_json_bytes(message.payload());
    let mut out = Vec::with_capacity(payload.len() + 128);
    match write_message_to(&Message::new_from_parts(headers, payload), &mut out) {
        Ok(()) => Bytes::from(out),
        Err(e) => {
            tracing::error!(error = %e, "re-encoding an event-stream frame as CBOR");
            frame
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::value::Value as Cbor;
    use serde_json::json;

    fn cbor(value: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).unwrap();
        out
    }

    fn parse(bytes: &[u8]) -> Cbor {
        ciborium::de::from_reader(bytes).unwrap()
    }

    fn text(s: &str) -> Cbor {
        Cbor::Text(s.into())
    }

    /// Map entries in key order (serde_json keeps them sorted or, with its
    /// `preserve_order` feature on in the workspace, in insertion order).
    fn sorted(v: Cbor) -> Cbor {
        match v {
            Cbor::Map(mut entries) => {
                entries.sort_by(|a, b| a.0.as_text().cmp(&b.0.as_text()));
                Cbor::Map(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Cbor::Array(items) => Cbor::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }

    #[test]
    fn a_java_style_request_decodes_to_the_json_protocols_value() {
        let body = cbor(&Cbor::Map(vec![
            (text("StreamName"), text("s")),
            (text("Data"), Cbor::Bytes(vec![0, 159, 255])),
            (text("Limit"), Cbor::Integer(25.into())),
            (text("Flag"), Cbor::Bool(true)),
            (text("Ratio"), Cbor::Float(0.5)),
            (
                text("Timestamp"),
                Cbor::Tag(1, Box::new(Cbor::Integer(1_787_036_486_712i64.into()))),
            ),
            (text("Keys"), Cbor::Array(vec![text("a"), Cbor::Null])),
        ]));
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "StreamName": "s",
                "Data": "AJ//",
                "Limit": 25,
                "Flag": true,
                "Ratio": 0.5,
                "Timestamp": 1_787_036_486.712,
                "Keys": ["a", null],
            })
        );
    }

    #[test]
    fn maps_have_indefinite_length_as_the_service_writes_them() {
        // Recorded: an error is bf 66 "__type" 78 19 "UnknownOperationException" ff.
        let got = encode(&json!({"__type": "UnknownOperationException"}));
        let want = [
            &[0xbf, 0x66][..],
            b"__type",
            &[0x78, 0x19],
            b"UnknownOperationException",
            &[0xff],
        ]
        .concat();
        assert_eq!(got, want);
    }

    #[test]
    fn an_answer_encodes_blobs_as_bytes_and_timestamps_as_tag_1_milliseconds() {
        let answer = json!({
            "Records": [{
                "Data": "AJ//",
                "ApproximateArrivalTimestamp": 1_787_036_486.712,
                "SequenceNumber": "4959",
                "PartitionKey": "k",
            }],
            "MillisBehindLatest": 0,
            "StreamDescription": {"StreamCreationTimestamp": 1_700_000_000.0},
        });
        let got = parse(&encode(&answer));
        let record = Cbor::Map(vec![
            (
                text("ApproximateArrivalTimestamp"),
                Cbor::Tag(1, Box::new(Cbor::Integer(1_787_036_486_712i64.into()))),
            ),
            (text("Data"), Cbor::Bytes(vec![0, 159, 255])),
            (text("PartitionKey"), text("k")),
            (text("SequenceNumber"), text("4959")),
        ]);
        let description = Cbor::Map(vec![(
            text("StreamCreationTimestamp"),
            Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000_000i64.into()))),
        )]);
        let want = Cbor::Map(vec![
            (text("MillisBehindLatest"), Cbor::Integer(0.into())),
            (text("Records"), Cbor::Array(vec![record])),
            (text("StreamDescription"), description),
        ]);
        assert_eq!(sorted(got), want);
    }

    #[test]
    fn a_round_trip_gives_back_the_request_value() {
        let value =
            json!({"StreamName": "s", "ShardCount": 3, "Tags": {"a": "b"}, "List": [1, -2, 2.5]});
        assert_eq!(decode(&encode(&value)).unwrap(), value);
    }

    #[test]
    fn malformed_or_hostile_bodies_are_serialization_exceptions() {
        let deep = vec![0x81u8; 10_000];
        let cases: Vec<Vec<u8>> = vec![
            vec![0xbf, 0x61],                                // truncated
            vec![0xff],                                      // lone break
            vec![0xa1, 0x01, 0x02],                          // integer key
            cbor(&Cbor::Float(f64::NAN)),                    // not finite
            vec![0xc1, 0x61, 0x78],                          // tag 1 over text
            [cbor(&Cbor::Map(vec![])), vec![0x00]].concat(), // trailing bytes
            deep,
        ];
        for body in cases {
            let e = decode(&body).unwrap_err();
            assert_eq!(e.code, Code::SerializationException, "{body:?}");
        }
        assert_eq!(decode(b"").unwrap(), json!({}));
    }

    #[test]
    fn indefinite_lengths_and_segmented_strings_are_read() {
        // {_ "Data": (_ h'00', h'9fff'), "Name": (_ "ab", "c"), "L": [_ 1, -2] }
        let body = [
            &[0xbf, 0x64][..],
            b"Data",
            &[0x5f, 0x41, 0x00, 0x42, 0x9f, 0xff, 0xff, 0x64],
            b"Name",
            &[0x7f, 0x62],
            b"ab",
            &[0x61],
            b"c",
            &[0xff, 0x61],
            b"L",
            &[0x9f, 0x01, 0x21, 0xff, 0xff],
        ]
        .concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"Data": "AJ//", "Name": "abc", "L": [1, -2]})
        );
        // A length beyond the body, a text chunk in a byte string, a string
        // that is not UTF-8: refused, never read past the end.
        for bad in [
            vec![0x5a, 0xff, 0xff, 0xff, 0xff, 0x00],
            vec![0x5f, 0x61, b'a', 0xff],
            vec![0x62, 0xc3, 0x28],
        ] {
            assert_eq!(decode(&bad).unwrap_err().code, Code::SerializationException);
        }
    }

    #[test]
    fn the_content_type_is_matched_with_parameters_and_case() {
        assert!(is_cbor("application/x-amz-cbor-1.1"));
        assert!(is_cbor(" Application/X-Amz-Cbor-1.1 ; charset=x"));
        assert!(!is_cbor("application/x-amz-json-1.1"));
        assert!(!is_cbor(""));
    }

    #[test]
    fn event_frames_get_a_cbor_payload_and_content_type() {
        let headers = vec![
            Header::new(":message-type", HeaderValue::String("event".into())),
            Header::new(
                ":event-type",
                HeaderValue::String("SubscribeToShardEvent".into()),
            ),
            Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ),
        ];
        let payload = br#"{"Records":[{"Data":"aGk=","ApproximateArrivalTimestamp":2.5}],"MillisBehindLatest":7}"#;
        let mut frame = Vec::new();
        write_message_to(&Message::new_from_parts(headers, &payload[..]), &mut frame).unwrap();
        let out = read_message_from(event_frame(Bytes::from(frame))).unwrap();
        let content_type = out
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":content-type")
            .unwrap();
        assert_eq!(
            content_type.value(),
            &HeaderValue::String(CONTENT_TYPE.into())
        );
        assert_eq!(out.headers().len(), 3);
        let record = Cbor::Map(vec![
            (
                text("ApproximateArrivalTimestamp"),
                Cbor::Tag(1, Box::new(Cbor::Integer(2500.into()))),
            ),
            (text("Data"), Cbor::Bytes(b"hi".to_vec())),
        ]);
        let want = Cbor::Map(vec![
            (text("MillisBehindLatest"), Cbor::Integer(7.into())),
            (text("Records"), Cbor::Array(vec![record])),
        ]);
        assert_eq!(sorted(parse(out.payload())), want);
    }
}
