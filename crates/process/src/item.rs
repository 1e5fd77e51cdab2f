//! Records into DynamoDB items of `UnicornSensorData` (`Name` S partition
//! key, `StatusTime` S sort key, the figures as N).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use sensor::{Status, Summary};

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// An item's primary key: `(Name, StatusTime)`.
pub type Key = (String, String);

/// The table of the workshop.
pub const TABLE: &str = "UnicornSensorData";

/// A record that cannot become an item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ItemError {
    /// Not a valid record (JSON, fields, values).
    #[error("{0}")]
    Record(String),
    /// A number DynamoDB refuses (its N type holds magnitudes from 1e-130
    /// to below 1e126, 38 significant digits).
    #[error("invalid record: {field} {value} is outside the range of DynamoDB numbers (1e-130 to 9.9e125 in magnitude)")]
    NumberOutOfRange { field: &'static str, value: f64 },
}

/// The summary's item: Name, StatusTime, Distance, Min/MaxMagicPoints,
/// Min/MaxHealthPoints.
pub fn summary_item(summary: &Summary) -> Item {
    let mut item = Item::with_capacity(7);
    item.insert("Name".into(), AttributeValue::S(summary.name.clone()));
    item.insert(
        "StatusTime".into(),
        AttributeValue::S(summary.status_time.to_string()),
    );
    for (name, value) in [
        ("Distance", summary.distance),
        ("MinMagicPoints", summary.min_magic_points),
        ("MaxMagicPoints", summary.max_magic_points),
        ("MinHealthPoints", summary.min_health_points),
        ("MaxHealthPoints", summary.max_health_points),
    ] {
        item.insert(name.into(), AttributeValue::N(value.to_string()));
    }
    item
}

/// A status record's item, for the loader: Name, StatusTime, Latitude,
/// Longitude, Distance, MagicPoints, HealthPoints.
pub fn status_item(status: &Status) -> Result<Item, ItemError> {
    let mut item = Item::with_capacity(7);
    item.insert("Name".into(), AttributeValue::S(status.name.clone()));
    item.insert(
        "StatusTime".into(),
        AttributeValue::S(status.status_time.to_string()),
    );
    for (name, value) in [
        ("Latitude", status.latitude),
        ("Longitude", status.longitude),
        ("Distance", status.distance),
    ] {
        item.insert(name.into(), AttributeValue::N(number(name, value)?));
    }
    item.insert(
        "MagicPoints".into(),
        AttributeValue::N(status.magic_points.to_string()),
    );
    item.insert(
        "HealthPoints".into(),
        AttributeValue::N(status.health_points.to_string()),
    );
    Ok(item)
}

/// A summary record (as on `wildrydes-summary`) into its item.
pub fn summary_record_item(data: &[u8]) -> Result<Item, ItemError> {
    Summary::from_json(data)
        .map(|s| summary_item(&s))
        .map_err(|e| ItemError::Record(e.to_string()))
}

/// One line of a ride file (a status record as the producer writes it).
pub fn status_line_item(line: &[u8]) -> Result<Item, ItemError> {
    let status = Status::from_json(line).map_err(|e| ItemError::Record(e.to_string()))?;
    status_item(&status)
}

/// The item's key; `None` if it has no string Name and StatusTime.
pub fn key_of(item: &Item) -> Option<Key> {
    key_ref(item).map(|(n, t)| (n.to_owned(), t.to_owned()))
}

/// [`key_of`] without copying the strings.
pub fn key_ref(item: &Item) -> Option<(&str, &str)> {
    match (item.get("Name"), item.get("StatusTime")) {
        (Some(AttributeValue::S(n)), Some(AttributeValue::S(t))) => Some((n, t)),
        _ => None,
    }
}

/// A finite f64 as a DynamoDB number: shortest exact decimal form, no
/// exponent (Rust's `Display`), within DynamoDB's range.
pub fn number(field: &'static str, value: f64) -> Result<String, ItemError> {
    let magnitude = value.abs();
    if !value.is_finite() || (magnitude != 0.0 && !(1e-130..1e125).contains(&magnitude)) {
        return Err(ItemError::NumberOutOfRange { field, value });
    }
    // ryu writes a shortest exact form several times faster than
    // `Display` (a ride file has three numbers a line), in decimal notation
    // from 1e-5 up to 1e15, as serde_json wrote them into the file (on a tie
    // of two shortest forms it may pick the other one than `Display`);
    // integers need no digits after the point. Tested against `Display`.
    Ok(if value == 0.0 {
        "0".to_owned()
    } else if value.fract() == 0.0 && magnitude < 1e15 {
        (value as i64).to_string()
    } else if (1e-5..1e15).contains(&magnitude) {
        ryu::Buffer::new().format_finite(value).to_owned()
    } else {
        value.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = r#"{"Name":"Rocinante","StatusTime":"2017-05-06 17:47:00.000","Distance":9413,"MinMagicPoints":153,"MaxMagicPoints":159,"MinHealthPoints":150,"MaxHealthPoints":157}"#;
    const STATUS: &str = r#"{"Name":"Shadowfax","StatusTime":"2017-06-05 09:17:09.191","Latitude":42.265486935100476,"Longitude":-71.97442977859625,"Distance":163,"MagicPoints":110,"HealthPoints":151}"#;

    fn s(item: &Item, name: &str) -> String {
        match &item[name] {
            AttributeValue::S(v) => format!("S:{v}"),
            AttributeValue::N(v) => format!("N:{v}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_summary_becomes_the_workshops_item() {
        let item = summary_record_item(SUMMARY.as_bytes()).unwrap();
        assert_eq!(item.len(), 7);
        assert_eq!(s(&item, "Name"), "S:Rocinante");
        assert_eq!(s(&item, "StatusTime"), "S:2017-05-06 17:47:00.000");
        assert_eq!(s(&item, "Distance"), "N:9413");
        assert_eq!(s(&item, "MinMagicPoints"), "N:153");
        assert_eq!(s(&item, "MaxMagicPoints"), "N:159");
        assert_eq!(s(&item, "MinHealthPoints"), "N:150");
        assert_eq!(s(&item, "MaxHealthPoints"), "N:157");
        assert_eq!(
            key_of(&item),
            Some(("Rocinante".into(), "2017-05-06 17:47:00.000".into()))
        );
    }

    #[test]
    fn a_status_line_becomes_an_item_with_exact_numbers() {
        let item = status_line_item(format!("{STATUS}\n").as_bytes()).unwrap();
        assert_eq!(item.len(), 7);
        assert_eq!(s(&item, "Name"), "S:Shadowfax");
        assert_eq!(s(&item, "StatusTime"), "S:2017-06-05 09:17:09.191");
        assert_eq!(s(&item, "Latitude"), "N:42.265486935100476");
        assert_eq!(s(&item, "Longitude"), "N:-71.97442977859625");
        assert_eq!(s(&item, "Distance"), "N:163");
        assert_eq!(s(&item, "MagicPoints"), "N:110");
        assert_eq!(s(&item, "HealthPoints"), "N:151");
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let err = summary_record_item(b"not json").unwrap_err();
        assert!(err.to_string().starts_with("invalid record:"), "{err}");
        let err = summary_record_item(STATUS.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let inverted = SUMMARY.replace("\"MinMagicPoints\":153", "\"MinMagicPoints\":160");
        assert!(summary_record_item(inverted.as_bytes()).is_err());
        let err = status_line_item(b"").unwrap_err();
        assert!(err.to_string().starts_with("invalid record:"), "{err}");
        // A distance DynamoDB cannot store.
        let huge = STATUS.replace("\"Distance\":163", "\"Distance\":1e200");
        let err = status_line_item(huge.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                ItemError::NumberOutOfRange {
                    field: "Distance",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn numbers_are_written_without_exponent_or_trailing_zero() {
        assert_eq!(number("x", 29.75).unwrap(), "29.75");
        assert_eq!(number("x", 30.0).unwrap(), "30");
        assert_eq!(number("x", -0.0).unwrap(), "0");
        assert_eq!(number("x", 1e-7).unwrap(), "0.0000001");
        assert!(number("x", f64::NAN).is_err());
        assert!(number("x", 1e126).is_err());
        assert!(number("x", 1e-131).is_err());
    }

    #[test]
    fn numbers_are_written_exact_shortest_and_without_exponent() {
        // Every magnitude from 1e-130 to 1e124, random mantissas and signs,
        // integers and the bounds of each way of writing them.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![1e-5, 1e15, 1e16, 9.999_999_999_999_999e14, 0.1, 1.5, 123.0];
        for _ in 0..200_000 {
            let exp = (next() % 255) as i32 - 130;
            let mantissa = 1.0 + (next() >> 11) as f64 / (1u64 << 53) as f64;
            let sign = if next() % 2 == 0 { 1.0 } else { -1.0 };
            values.push(sign * mantissa * 10f64.powi(exp));
            values.push(sign * (next() % 1_000_000_000) as f64);
        }
        for v in values {
            if let Ok(written) = number("x", v) {
                let display = if v == 0.0 {
                    "0".to_owned()
                } else {
                    v.to_string()
                };
                assert_eq!(written.parse::<f64>(), Ok(v), "{written}");
                assert_eq!(written.len(), display.len(), "{written} {display}");
                assert!(!written.contains(['e', 'E']), "{written}");
            }
        }
    }
}
