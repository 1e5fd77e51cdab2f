//! What an object holds: JSON lines exactly as the records arrived (gzip
//! too), or Parquet rows of the status schema with every record that does
//! not fit kept in the side object, byte for byte.

use std::io::Read;

use archive::encode::{encode, Compression, Format};
use archive::{Entry, Kind};
use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn entry(data: &str, n: u64) -> Entry {
    Entry {
        data: Bytes::from(data.to_owned()),
        arrival: Utc::now(),
        shard_id: "shardId-000000000000".into(),
        sequence_number: n.to_string(),
    }
}

const GOOD: &str = "{\"Name\":\"Shadowfax\",\"StatusTime\":\"2017-06-05 09:17:09.191\",\"Latitude\":42.265486935100476,\"Longitude\":-71.97442977859625,\"Distance\":163,\"MagicPoints\":110,\"HealthPoints\":151}\n";

#[test]
fn json_lines_are_the_records_as_they_arrived() {
    let entries = [
        entry(GOOD, 1),
        entry("{\"odd\": true}", 2),
        entry("not json\n", 3),
    ];
    let out = encode(&entries, Format::Json, Compression::None).unwrap();
    assert_eq!(out.kind, Kind::Json);
    // A record without its newline gets one; nothing else changes.
    let expected = format!("{GOOD}{{\"odd\": true}}\nnot json\n");
    assert_eq!(out.body, Bytes::from(expected.clone()));
    assert_eq!(out.records, 3);

    let gz = encode(&entries, Format::Json, Compression::Gzip).unwrap();
    assert_eq!(gz.kind, Kind::JsonGzip);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, expected);
    assert!(encode(&entries, Format::Json, Compression::Snappy).is_err());
}

#[test]
fn parquet_holds_the_status_columns_and_the_side_object_the_rest() {
    let bad = [
        "not json\n",
        "{\"Name\":\"Rocinante\"}\n",
        // An extra field would be lost in the columns: kept aside too.
        "{\"Name\":\"Shadowfax\",\"StatusTime\":\"2017-06-05 09:17:09.191\",\"Latitude\":1,\"Longitude\":2,\"Distance\":3,\"MagicPoints\":4,\"HealthPoints\":5,\"Extra\":1}\n",
        "{\"Name\":\"Shadowfax\",\"StatusTime\":\"yesterday\",\"Latitude\":1,\"Longitude\":2,\"Distance\":3,\"MagicPoints\":4,\"HealthPoints\":5}\n",
    ];
    let mut entries = vec![entry(GOOD, 0)];
    entries.extend(bad.iter().enumerate().map(|(i, b)| entry(b, i as u64 + 1)));
    for compression in [Compression::None, Compression::Snappy, Compression::Gzip] {
        let out = encode(&entries, Format::Parquet, compression).unwrap();
        assert_eq!(out.kind, Kind::Parquet);
        assert_eq!((out.records, out.failed_records), (1, 4));
        let reader = SerializedFileReader::new(out.body.clone()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let columns: Vec<_> = schema
            .columns()
            .iter()
            .map(|c| {
                let t = c.self_type();
                let info = t.get_basic_info();
                (
                    c.name().to_string(),
                    c.physical_type(),
                    c.logical_type_ref().cloned(),
                    info.repetition(),
                )
            })
            .collect();
        let optional = |name: &str, physical, logical| {
            (name.to_string(), physical, logical, Repetition::OPTIONAL)
        };
        let double = |name: &str| optional(name, Physical::DOUBLE, None);
        assert_eq!(
            columns,
            [
                optional("Name", Physical::BYTE_ARRAY, Some(LogicalType::String)),
                optional(
                    "StatusTime",
                    Physical::INT64,
                    Some(LogicalType::timestamp(false, TimeUnit::MILLIS))
                ),
                double("Latitude"),
                double("Longitude"),
                double("Distance"),
                optional("MagicPoints", Physical::INT64, None),
                optional("HealthPoints", Physical::INT64, None),
            ]
        );
        assert_eq!(reader.metadata().num_row_groups(), 1);
        let rows: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 1);
        let values: Vec<Field> = rows[0]
            .get_column_iter()
            .map(|(_, field)| field.clone())
            .collect();
        assert_eq!(
            values,
            [
                Field::Str("Shadowfax".into()),
                Field::TimestampMillis(1_496_654_229_191),
                Field::Double(42.265486935100476),
                Field::Double(-71.97442977859625),
                Field::Double(163.0),
                Field::Long(110),
                Field::Long(151),
            ]
        );

        // Side object: Firehose's error records, the raw data base64, in order.
        let failed = out.failed.unwrap();
        let lines: Vec<serde_json::Value> = failed
            .split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        for (line, raw) in lines.iter().zip(bad) {
            let data = base64::engine::general_purpose::STANDARD
                .decode(line["rawData"].as_str().unwrap())
                .unwrap();
            assert_eq!(data, raw.as_bytes());
            assert_eq!(line["lastErrorCode"], "DataFormatConversion.ParseError");
        }
    }
}
