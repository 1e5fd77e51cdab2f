//! A chunk of records as the bytes of one object: JSON lines exactly as the
//! records arrived (optionally gzip), or Parquet with the status record's
//! schema plus a side object (Firehose's error records, JSON lines) for the
//! records that do not fit it. No record is ever dropped.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use base64::Engine as _;
use bytes::Bytes;

use crate::batcher::Entry;
use crate::key::Kind;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Newline-delimited records as they arrived.
    #[default]
    Json,
    /// Parquet with the status record's schema.
    Parquet,
}

/// `--compression`: the whole object for JSON (`.gz`), the column chunks for
/// Parquet (where `snappy`, Firehose's Parquet default, is also allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
}

/// Why a chunk could not be encoded (a bug or a setting, never the data).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "snappy compression is for --format parquet only; use --compression gzip or none for JSON"
    )]
    SnappyJson,
    #[error("writing parquet failed: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("building the record batch failed: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("compressing failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One chunk, encoded.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub kind: Kind,
    pub body: Bytes,
    /// Records in `body`.
    pub records: usize,
    /// Firehose-style error records (JSON lines) of the records that did not
    /// fit the Parquet schema, for the side object.
    pub failed: Option<Bytes>,
    pub failed_records: usize,
}

/// The table's columns: the status record's fields, StatusTime as a
/// timestamp (UTC, milliseconds, no zone as in Athena).
pub fn status_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Name", DataType::Utf8, true),
        Field::new(
            "StatusTime",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("Latitude", DataType::Float64, true),
        Field::new("Longitude", DataType::Float64, true),
        Field::new("Distance", DataType::Float64, true),
        Field::new("MagicPoints", DataType::Int64, true),
        Field::new("HealthPoints", DataType::Int64, true),
    ]))
}

/// Encodes `entries` as one object.
pub fn encode(
    entries: &[Entry],
    format: Format,
    compression: Compression,
) -> Result<Encoded, EncodeError> {
    match format {
        Format::Json => encode_json(entries, compression),
        Format::Parquet => encode_parquet(entries, compression),
    }
}

fn encode_json(entries: &[Entry], compression: Compression) -> Result<Encoded, EncodeError> {
    let size = entries.iter().map(|e| e.data.len() + 1).sum();
    let mut lines = Vec::with_capacity(size);
    for entry in entries {
        lines.extend_from_slice(&entry.data);
        // The producer's records end in a newline; one that does not gets
        // one, so that the object stays JSON lines (Firehose would glue it
        // to the next record).
        if !entry.data.ends_with(b"\n") {
            lines.push(b'\n');
        }
    }
    let (kind, body) = match compression {
        Compression::None => (Kind::Json, lines),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(size / 4),
                flate2::Compression::default(),
            );
            gz.write_all(&lines)?;
            (Kind::JsonGzip, gz.finish()?)
        }
        Compression::Snappy => return Err(EncodeError::SnappyJson),
    };
    Ok(Encoded {
        kind,
        body: body.into(),
        records: entries.len(),
        failed: None,
        failed_records: 0,
    })
}

struct Columns {
    name: StringBuilder,
    time: TimestampMillisecondBuilder,
    lat: Float64Builder,
    lon: Float64Builder,
    distance: Float64Builder,
    magic: Int64Builder,
    health: Int64Builder,
}

fn encode_parquet(entries: &[Entry], compression: Compression) -> Result<Encoded, EncodeError> {
    let n = entries.len();
    let mut c = Columns {
        name: StringBuilder::with_capacity(n, n * 12),
        time: TimestampMillisecondBuilder::with_capacity(n),
        lat: Float64Builder::with_capacity(n),
        lon: Float64Builder::with_capacity(n),
        distance: Float64Builder::with_capacity(n),
        magic: Int64Builder::with_capacity(n),
        health: Int64Builder::with_capacity(n),
    };
    let mut failed = Vec::new();
    let mut failed_records = 0;
    for entry in entries {
        match serde_json::from_slice::<sensor::Status>(&entry.data) {
            Ok(s) => {
                c.name.append_value(&s.name);
                c.time.append_value(s.status_time.as_millis());
                c.lat.append_value(s.latitude);
                c.lon.append_value(s.longitude);
                c.distance.append_value(s.distance);
                c.magic.append_value(s.magic_points);
                c.health.append_value(s.health_points);
            }
            Err(err) => {
                failed_records += 1;
                let line = serde_json::json!({
                    "attemptsMade": 1,
                    "arrivalTimestamp": entry.arrival.timestamp_millis(),
                    "lastErrorCode": "DataFormatConversion.ParseError",
                    "lastErrorMessage": format!("the record is not a status record: {err}"),
                    "rawData": base64::engine::general_purpose::STANDARD.encode(&entry.data),
                    "shardId": entry.shard_id,
                    "sequenceNumber": entry.sequence_number,
                });
                serde_json::to_writer(&mut failed, &line).map_err(std::io::Error::from)?;
                failed.push(b'\n');
            }
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(c.name.finish()),
        Arc::new(c.time.finish()),
        Arc::new(c.lat.finish()),
        Arc::new(c.lon.finish()),
        Arc::new(c.distance.finish()),
        Arc::new(c.magic.finish()),
        Arc::new(c.health.finish()),
    ];
    let batch = RecordBatch::try_new(status_schema(), columns)?;
    let codec = match compression {
        Compression::None => parquet::basic::Compression::UNCOMPRESSED,
        Compression::Snappy => parquet::basic::Compression::SNAPPY,
        Compression::Gzip => parquet::basic::Compression::GZIP(Default::default()),
    };
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .build();
    let records = batch.num_rows();
    let mut body = Vec::with_capacity(entries.len() * 40);
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut body, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(Encoded {
        kind: Kind::Parquet,
        body: body.into(),
        records,
        failed: (!failed.is_empty()).then(|| failed.into()),
        failed_records,
    })
}
