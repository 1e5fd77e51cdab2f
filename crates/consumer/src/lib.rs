//! The `consumer` library: turning Kinesis records into output for a
//! terminal or `jq`.
//!
//! * [`decode`]: gzip-compressed data is decompressed, records aggregated by
//!   the Kinesis Producer Library are split into their user records;
//! * [`Printer`]: writes each user record as pretty JSON (4 spaces, like the
//!   original Go consumer), compact JSON or an envelope object; data that is
//!   not JSON becomes a JSON string (its text, or base64 for binary data);
//! * [`run`]: the consumer's run loop (checkpoints, stop conditions);
//! * [`parse_from`]: the `-from` flag (from the `kinesis` crate, where the
//!   start positions live).

use std::io::{self, Read, Write};

use base64::Engine as _;
use bytes::Bytes;
use chrono::SecondsFormat;
pub mod run;

pub use kinesis::start::{parse_from, FromError};
pub use run::{run, ConsumeError, RunOptions};

use kinesis::reader::Record;
use md5::{Digest, Md5};
use serde::Serialize;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Each record's JSON indented by 4 spaces (the original consumer).
    #[default]
    Pretty,
    /// One line of JSON per record.
    Compact,
    /// One line per record: shard, sequence number, partition key, arrival
    /// time and the data.
    Envelope,
}

/// The magic bytes that start a KPL aggregated record.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// The KPL's aggregation format (protobuf), declared by hand.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<KplRecord>,
}

/// One user record inside an [`AggregatedRecord`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct KplRecord {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "bytes", required, tag = "3")]
    pub data: Bytes,
}

/// A user record: a Kinesis record, or one of the records a KPL aggregate holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    /// Index inside a KPL aggregate.
    pub sub_sequence: Option<u64>,
    pub data: Bytes,
}

/// Builds a KPL aggregated record (used by tests and benchmarks).
pub fn kpl_aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut keys: Vec<String> = Vec::new();
    let mut message = AggregatedRecord::default();
    for (key, data) in records {
        let index = match keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                keys.push((*key).to_owned());
                keys.len() - 1
            }
        };
        message.records.push(KplRecord {
            partition_key_index: index as u64,
            explicit_hash_key_index: None,
            data: Bytes::copy_from_slice(data),
        });
    }
    message.partition_key_table = keys;
    let body = prost::Message::encode_to_vec(&message);
    let mut out = KPL_MAGIC.to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

/// Splits a KPL aggregate; `None` when `data` is not a valid one.
fn deaggregate(data: &Bytes, partition_key: &str) -> Option<Vec<UserRecord>> {
    let body = data.strip_prefix(&KPL_MAGIC[..])?;
    if body.len() < 16 {
        return None;
    }
    let (message, digest) = body.split_at(body.len() - 16);
    if Md5::digest(message).as_slice() != digest {
        return None;
    }
    let aggregate: AggregatedRecord = prost::Message::decode(message).ok()?;
    let records = aggregate
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| UserRecord {
            partition_key: usize::try_from(r.partition_key_index)
                .ok()
                .and_then(|i| aggregate.partition_key_table.get(i))
                .cloned()
                .unwrap_or_else(|| partition_key.to_owned()),
            sub_sequence: Some(i as u64),
            data: gunzip(r.data),
        })
        .collect();
    Some(records)
}

/// Largest decompressed record: a 1 MiB record that inflates past this (a
/// "zip bomb") is printed as it is instead of filling memory.
pub const GUNZIP_LIMIT: u64 = 64 << 20;

/// Decompresses gzip data; anything else (or a broken stream, or one larger
/// than [`GUNZIP_LIMIT`] once decompressed) is kept as it is.
pub fn gunzip(data: Bytes) -> Bytes {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data;
    }
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(&data[..]).take(GUNZIP_LIMIT + 1);
    match decoder.read_to_end(&mut out) {
        Ok(n) if n as u64 > GUNZIP_LIMIT => {
            tracing::warn!(
                limit_mib = GUNZIP_LIMIT >> 20,
                "record decompresses to more than the limit; printing it compressed"
            );
            data
        }
        Ok(_) => Bytes::from(out),
        Err(err) => {
            tracing::warn!(error = %err, "record looks gzip-compressed but does not decompress; printing it as it is");
            data
        }
    }
}

/// The user records in a Kinesis record: one, or the KPL aggregate's.
pub fn decode(record: &Record) -> Vec<UserRecord> {
    if record.data.starts_with(&KPL_MAGIC) {
        if let Some(records) = deaggregate(&record.data, &record.partition_key) {
            return records;
        }
    }
    vec![UserRecord {
        partition_key: record.partition_key.clone(),
        sub_sequence: None,
        data: gunzip(record.data.clone()),
    }]
}

/// How a record's data was printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Text,
    Base64,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Text => "text",
            Encoding::Base64 => "base64",
        }
    }
}

/// Writes records in one [`Format`]; counts what it printed.
pub struct Printer {
    format: Format,
    scratch: Vec<u8>,
    /// User records printed.
    pub printed: u64,
    /// Records whose data was not JSON.
    pub not_json: u64,
}

#[derive(Serialize)]
struct Envelope<'a> {
    shard: &'a str,
    sequence: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_sequence: Option<u64>,
    partition_key: &'a str,
    arrival: Option<String>,
    encoding: &'static str,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            scratch: Vec::with_capacity(4096),
            printed: 0,
            not_json: 0,
        }
    }

    /// Writes one user record of `record` (read from `shard`).
    pub fn write<W: Write>(
        &mut self,
        out: &mut W,
        shard: &str,
        record: &Record,
        user: &UserRecord,
    ) -> io::Result<()> {
        self.scratch.clear();
        let encoding = render(&mut self.scratch, &user.data, self.format);
        if encoding != Encoding::Json {
            self.not_json += 1;
            tracing::warn!(
                shard,
                sequence = %record.sequence_number,
                "record is not JSON; printed as a {} string",
                if encoding == Encoding::Text { "text" } else { "base64" }
            );
        }
        match self.format {
            Format::Pretty | Format::Compact => {
                out.write_all(&self.scratch)?;
                out.write_all(b"\n")?;
            }
            Format::Envelope => {
                let envelope = Envelope {
                    shard,
                    sequence: &record.sequence_number,
                    sub_sequence: user.sub_sequence,
                    partition_key: &user.partition_key,
                    arrival: record
                        .arrival
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                    encoding: encoding.name(),
                };
                let mut head = serde_json::to_vec(&envelope).map_err(io::Error::other)?;
                // Replace the closing brace with the data field.
                head.pop();
                out.write_all(&head)?;
                out.write_all(b",\"data\":")?;
                out.write_all(&self.scratch)?;
                out.write_all(b"}\n")?;
            }
        }
        self.printed += 1;
        Ok(())
    }
}

/// Renders `data` into `buf`: its JSON (every value, when the data holds
/// several), else a JSON string of its text, else of its base64.
pub fn render(buf: &mut Vec<u8>, data: &[u8], format: Format) -> Encoding {
    if transcode(buf, data, format).is_ok() {
        return Encoding::Json;
    }
    buf.clear();
    let (text, encoding) = match std::str::from_utf8(data) {
        Ok(text) => (text.to_owned(), Encoding::Text),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(data),
            Encoding::Base64,
        ),
    };
    // Serialising a string cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &text);
    encoding
}

fn transcode(buf: &mut Vec<u8>, data: &[u8], format: Format) -> Result<(), ()> {
    let mut values =
        serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
    // Count the values first (cheap) so that bad data writes nothing.
    let mut count = 0usize;
    for value in values.by_ref() {
        value.map_err(|_| ())?;
        count += 1;
    }
    if count == 0 {
        return Err(());
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    for i in 0..count {
        if i > 0 {
            buf.push(b'\n');
        }
        let result = match format {
            Format::Pretty => {
                let mut ser = serde_json::Serializer::with_formatter(
                    &mut *buf,
                    serde_json::ser::PrettyFormatter::with_indent(b"    "),
                );
                serde_transcode::transcode(&mut de, &mut ser)
            }
            Format::Compact | Format::Envelope => {
                let mut ser = serde_json::Serializer::new(&mut *buf);
                serde_transcode::transcode(&mut de, &mut ser)
            }
        };
        result.map_err(|_| ())?;
        if format == Format::Envelope {
            // An envelope holds one value: several become an array.
            if count > 1 {
                break;
            }
        }
    }
    if format == Format::Envelope && count > 1 {
        buf.clear();
        let values: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(data)
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|_| ())?;
        serde_json::to_writer(&mut *buf, &values).map_err(|_| ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(data: &[u8]) -> Record {
        Record {
            sequence_number: "1".into(),
            partition_key: "k".into(),
            arrival: None,
            data: Bytes::copy_from_slice(data),
        }
    }

    fn print(format: Format, data: &[u8]) -> String {
        let mut out = Vec::new();
        let r = record(data);
        let mut printer = Printer::new(format);
        for user in decode(&r) {
            printer
                .write(&mut out, "shardId-000000000000", &r, &user)
                .unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn pretty_keeps_field_order_and_indents_by_four() {
        let out = print(
            Format::Pretty,
            b"{\"Name\":\"Shadowfax\",\"Distance\":163.5,\"A\":[1]}\n",
        );
        assert_eq!(
            out,
            "{\n    \"Name\": \"Shadowfax\",\n    \"Distance\": 163.5,\n    \"A\": [\n        1\n    ]\n}\n"
        );
        assert_eq!(
            print(Format::Compact, b" {\"b\":1, \"a\":2} "),
            "{\"b\":1,\"a\":2}\n"
        );
    }

    #[test]
    fn non_json_becomes_a_string() {
        assert_eq!(print(Format::Compact, b"hello {"), "\"hello {\"\n");
        assert_eq!(print(Format::Compact, &[0xff, 0x00]), "\"/wA=\"\n");
        assert_eq!(print(Format::Compact, b""), "\"\"\n");
        let env = print(Format::Envelope, &[0xff]);
        let v: serde_json::Value = serde_json::from_str(&env).unwrap();
        assert_eq!(v["encoding"], "base64");
        assert_eq!(v["data"], "/w==");
    }

    #[test]
    fn gzip_and_kpl_are_unpacked() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(print(Format::Compact, &gz), "{\"a\":1}\n");
        let agg = kpl_aggregate(&[("x", b"{\"n\":1}"), ("y", b"{\"n\":2}"), ("x", &gz)]);
        assert_eq!(
            print(Format::Compact, &agg),
            "{\"n\":1}\n{\"n\":2}\n{\"a\":1}\n"
        );
        let users = decode(&record(&agg));
        assert_eq!(users[1].partition_key, "y");
        assert_eq!(users[2].sub_sequence, Some(2));
        // Data that inflates past the limit is printed compressed (base64).
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=GUNZIP_LIMIT >> 20 {
            bomb.write_all(&zeros).unwrap();
        }
        let bomb = Bytes::from(bomb.finish().unwrap());
        assert!(bomb.len() < 1 << 20);
        assert_eq!(gunzip(bomb.clone()), bomb);
        // A corrupt aggregate is printed as binary data.
        let mut bad = agg.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(decode(&record(&bad)).len(), 1);
    }
}
