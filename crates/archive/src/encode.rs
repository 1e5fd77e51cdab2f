//! A chunk of records as the bytes of one object: JSON lines exactly as the
//! records arrived (optionally gzip), or Parquet with the status record's
//! schema plus a side object (Firehose's error records, JSON lines) for the
//! records that do not fit it. No record is ever dropped.
//!
//! Parquet is written with the parquet crate's column writers, without
//! Arrow: the same file (schema, dictionary pages, statistics) as its Arrow
//! writer made, minus the Arrow schema in its metadata, and Arrow's crates
//! (88 s of CPU, a tenth of the first build of `wildrydes`) stay out of every
//! binary but `wildrydes-query`.

use std::io::Write;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::Type;

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

/// The archive's columns, in a Parquet object's order (and what SQL reads
/// from JSON objects too): the status record's fields, each optional (as
/// Arrow's nullable fields are written), `StatusTime` a timestamp in
/// milliseconds not adjusted to UTC (no zone, as in Athena).
pub const COLUMNS: [(&str, Column); 7] = [
    ("Name", Column::String),
    ("StatusTime", Column::Timestamp),
    ("Latitude", Column::Double),
    ("Longitude", Column::Double),
    ("Distance", Column::Double),
    ("MagicPoints", Column::Int64),
    ("HealthPoints", Column::Int64),
];

/// A column's type in [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// UTF-8 text.
    String,
    /// Milliseconds since the epoch, no time zone.
    Timestamp,
    /// A 64-bit float.
    Double,
    /// A 64-bit integer.
    Int64,
}

/// The Parquet schema of [`COLUMNS`].
fn parquet_schema() -> Result<Arc<Type>, parquet::errors::ParquetError> {
    let fields = COLUMNS
        .iter()
        .map(|(name, column)| {
            let (physical, logical) = match column {
                Column::String => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
                Column::Timestamp => (
                    Physical::INT64,
                    Some(LogicalType::timestamp(false, TimeUnit::MILLIS)),
                ),
                Column::Double => (Physical::DOUBLE, None),
                Column::Int64 => (Physical::INT64, None),
            };
            Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?,
    ))
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

/// The rows' values, column by column.
#[derive(Default)]
struct Columns {
    name: Vec<ByteArray>,
    time: Vec<i64>,
    lat: Vec<f64>,
    lon: Vec<f64>,
    distance: Vec<f64>,
    magic: Vec<i64>,
    health: Vec<i64>,
}

fn encode_parquet(entries: &[Entry], compression: Compression) -> Result<Encoded, EncodeError> {
    let mut c = Columns::default();
    let mut failed = Vec::new();
    let mut failed_records = 0;
    for entry in entries {
        match serde_json::from_slice::<sensor::Status>(&entry.data) {
            Ok(s) => {
                c.name.push(ByteArray::from(s.name.into_bytes()));
                c.time.push(s.status_time.as_millis());
                c.lat.push(s.latitude);
                c.lon.push(s.longitude);
                c.distance.push(s.distance);
                c.magic.push(s.magic_points);
                c.health.push(s.health_points);
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
    let codec = match compression {
        Compression::None => parquet::basic::Compression::UNCOMPRESSED,
        Compression::Snappy => parquet::basic::Compression::SNAPPY,
        Compression::Gzip => parquet::basic::Compression::GZIP(Default::default()),
    };
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(codec)
        .build();
    let records = c.time.len();
    let mut body = Vec::with_capacity(entries.len() * 40);
    let mut writer = SerializedFileWriter::new(&mut body, parquet_schema()?, Arc::new(props))?;
    if records > 0 {
        // Every value is there: definition level 1 for each row.
        let defined = vec![1i16; records];
        let mut group = writer.next_row_group()?;
        write_column::<ByteArrayType>(&mut group, &c.name, &defined)?;
        write_column::<Int64Type>(&mut group, &c.time, &defined)?;
        write_column::<DoubleType>(&mut group, &c.lat, &defined)?;
        write_column::<DoubleType>(&mut group, &c.lon, &defined)?;
        write_column::<DoubleType>(&mut group, &c.distance, &defined)?;
        write_column::<Int64Type>(&mut group, &c.magic, &defined)?;
        write_column::<Int64Type>(&mut group, &c.health, &defined)?;
        group.close()?;
    }
    writer.close()?;
    Ok(Encoded {
        kind: Kind::Parquet,
        body: body.into(),
        records,
        failed: (!failed.is_empty()).then(|| failed.into()),
        failed_records,
    })
}

/// Writes the row group's next column.
fn write_column<T: DataType>(
    group: &mut SerializedRowGroupWriter<'_, &mut Vec<u8>>,
    values: &[T::T],
    defined: &[i16],
) -> Result<(), EncodeError> {
    let mut column = group.next_column()?.ok_or_else(|| {
        parquet::errors::ParquetError::General("the schema has fewer columns than written".into())
    })?;
    column
        .typed::<T>()
        .write_batch(values, Some(defined), None)?;
    column.close()?;
    Ok(())
}
