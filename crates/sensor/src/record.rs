//! The two record shapes of the pipeline, with the exact JSON field names.

use serde::{Deserialize, Serialize};

use crate::StatusTime;

/// One sensor reading: a unicorn's position and vitals, sent once a second.
///
/// Serialises exactly like the original Go producer: fields in this order,
/// numbers without a trailing `.0` when they are whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "StatusTime")]
    pub status_time: StatusTime,
    #[serde(rename = "Latitude", serialize_with = "go_float")]
    pub latitude: f64,
    #[serde(rename = "Longitude", serialize_with = "go_float")]
    pub longitude: f64,
    /// Metres travelled in the last second.
    #[serde(rename = "Distance", serialize_with = "go_float")]
    pub distance: f64,
    #[serde(rename = "MagicPoints")]
    pub magic_points: i64,
    #[serde(rename = "HealthPoints")]
    pub health_points: i64,
}

/// One unicorn's activity over one window (a minute by default).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    #[serde(rename = "Name")]
    pub name: String,
    /// The start of the window, e.g. `2017-05-06 17:47:00.000`.
    #[serde(rename = "StatusTime")]
    pub status_time: StatusTime,
    /// Total metres in the window, rounded to a whole number.
    #[serde(rename = "Distance")]
    pub distance: i64,
    #[serde(rename = "MinMagicPoints")]
    pub min_magic_points: i64,
    #[serde(rename = "MaxMagicPoints")]
    pub max_magic_points: i64,
    #[serde(rename = "MinHealthPoints")]
    pub min_health_points: i64,
    #[serde(rename = "MaxHealthPoints")]
    pub max_health_points: i64,
}

/// A record that is not a valid Wild Rydes record.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, a missing field, a field of the wrong type or a bad StatusTime.
    #[error("invalid record: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed JSON whose values make no sense.
    #[error("invalid record: {field} {problem}")]
    Value {
        field: &'static str,
        problem: &'static str,
    },
}

impl Status {
    /// Parses and validates one status record (trailing whitespace, such as the
    /// producer's `\n`, is allowed).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        let status: Self = serde_json::from_slice(bytes)?;
        status.validate()?;
        Ok(status)
    }

    /// The record as the producer sends it: the JSON object followed by `\n`.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(192);
        self.write_json_line(&mut out);
        out
    }

    /// Appends the record and its `\n` to `out` (no allocation when it has room).
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        // Serialising plain fields into a Vec cannot fail.
        serde_json::to_writer(&mut *out, self).expect("status serialises");
        out.push(b'\n');
    }

    fn validate(&self) -> Result<(), ParseError> {
        let bad = |field, problem| Err(ParseError::Value { field, problem });
        if self.name.is_empty() {
            return bad("Name", "must not be empty");
        }
        if !(-90.0..=90.0).contains(&self.latitude) {
            return bad("Latitude", "must be between -90 and 90");
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            return bad("Longitude", "must be between -180 and 180");
        }
        if !self.distance.is_finite() || self.distance < 0.0 {
            return bad("Distance", "must be a non-negative number");
        }
        Ok(())
    }
}

impl Summary {
    /// Parses and validates one summary record.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        let summary: Self = serde_json::from_slice(bytes)?;
        if summary.name.is_empty() {
            return Err(ParseError::Value {
                field: "Name",
                problem: "must not be empty",
            });
        }
        if summary.min_magic_points > summary.max_magic_points
            || summary.min_health_points > summary.max_health_points
        {
            return Err(ParseError::Value {
                field: "Min/Max",
                problem: "minimum is above maximum",
            });
        }
        Ok(summary)
    }

    /// The record as it is put on the summary stream: JSON followed by `\n`.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("summary serialises");
        out.push(b'\n');
        out
    }
}

/// Writes a float the way Go's `encoding/json` does: whole numbers without `.0`.
fn go_float<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"{"Name":"Shadowfax","StatusTime":"2017-06-05 09:17:09.191","Latitude":42.265486935100476,"Longitude":-71.97442977859625,"Distance":163,"MagicPoints":110,"HealthPoints":151}"#;
    const SUMMARY: &str = r#"{"Name":"Shadowfax","StatusTime":"2017-05-06 17:47:00.000","Distance":9413,"MinMagicPoints":153,"MaxMagicPoints":159,"MinHealthPoints":150,"MaxHealthPoints":157}"#;

    #[test]
    fn status_round_trips_byte_for_byte() {
        let status = Status::from_json(RAW.as_bytes()).unwrap();
        assert_eq!(status.name, "Shadowfax");
        assert_eq!(status.distance, 163.0);
        assert_eq!(status.to_json_line(), format!("{RAW}\n").into_bytes());
    }

    #[test]
    fn summary_round_trips_byte_for_byte() {
        let summary = Summary::from_json(SUMMARY.as_bytes()).unwrap();
        assert_eq!(summary.distance, 9413);
        assert_eq!(summary.to_json_line(), format!("{SUMMARY}\n").into_bytes());
    }

    #[test]
    fn fractional_distance_keeps_its_digits() {
        let mut status = Status::from_json(RAW.as_bytes()).unwrap();
        status.distance = 29.75;
        let line = String::from_utf8(status.to_json_line()).unwrap();
        assert!(line.contains(r#""Distance":29.75,"#), "{line}");
    }

    #[test]
    fn errors_name_the_problem() {
        let missing = RAW.replace(r#""MagicPoints":110,"#, "");
        let err = Status::from_json(missing.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `MagicPoints`"), "{err}");

        let wrong_type = RAW.replace(r#""MagicPoints":110"#, r#""MagicPoints":"lots""#);
        let err = Status::from_json(wrong_type.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");

        let bad_time = RAW.replace("2017-06-05 09:17:09.191", "June 5th");
        let err = Status::from_json(bad_time.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid StatusTime \"June 5th\""), "{err}");

        let bad_lat = RAW.replace("42.265486935100476", "142.5");
        let err = Status::from_json(bad_lat.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Latitude must be between"), "{err}");

        let err = Status::from_json(b"not json").unwrap_err().to_string();
        assert!(err.starts_with("invalid record:"), "{err}");
    }

    #[test]
    fn trailing_newline_is_accepted() {
        assert!(Status::from_json(format!("{RAW}\n").as_bytes()).is_ok());
    }
}
