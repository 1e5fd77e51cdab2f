//! Replaying a file into a stream: JSON lines as they are, CSV rows as JSON
//! objects (header names as fields, numbers as numbers).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use kinesis::writer::Record;
use serde_json::{Map, Value};

/// A line or row that could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Line {
        path: PathBuf,
        line: u64,
        problem: String,
    },
}

/// What to do with a malformed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBadLine {
    /// Report it on stderr and go on.
    Skip,
    /// End the run with an error naming the line.
    Stop,
}

enum Rows {
    Json(std::io::Lines<BufReader<File>>),
    Csv(csv::StringRecordsIntoIter<File>, csv::StringRecord),
}

/// Reads records one at a time from a JSON-lines or CSV file.
pub struct Replay {
    path: PathBuf,
    rows: Rows,
    key_field: String,
    line: u64,
    on_bad_line: OnBadLine,
    /// Malformed lines skipped so far.
    pub skipped: u64,
}

impl Replay {
    /// Opens `path`; a `.csv` name (any case) is read as CSV with a header row,
    /// anything else as JSON lines. The partition key is `key_field` of each
    /// object, or the line number when the object has no such field.
    pub fn open(path: &Path, key_field: &str, on_bad_line: OnBadLine) -> Result<Self, ReplayError> {
        let open_error = |source| ReplayError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let rows = if is_csv {
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
            let headers = reader
                .headers()
                .map_err(|e| ReplayError::Line {
                    path: path.to_owned(),
                    line: 1,
                    problem: format!("invalid CSV header: {e}"),
                })?
                .clone();
            Rows::Csv(reader.into_records(), headers)
        } else {
            Rows::Json(BufReader::new(file).lines())
        };
        Ok(Self {
            path: path.to_owned(),
            rows,
            key_field: key_field.to_owned(),
            line: u64::from(is_csv),
            on_bad_line,
            skipped: 0,
        })
    }

    /// The next record, `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReplayError> {
        loop {
            self.line += 1;
            let parsed = match &mut self.rows {
                Rows::Json(lines) => match lines.next() {
                    None => return Ok(None),
                    Some(Err(e)) => Err(format!("cannot read: {e}")),
                    Some(Ok(text)) if text.trim().is_empty() => continue,
                    // The line is sent as written: its fields keep their order.
                    Some(Ok(text)) => serde_json::from_str::<Value>(&text)
                        .map_err(|e| format!("not JSON: {e}"))
                        .and_then(|value| match value {
                            Value::Object(object) => {
                                let mut data = text.trim().as_bytes().to_vec();
                                data.push(b'\n');
                                Ok((object, data))
                            }
                            _ => Err("not a JSON object".to_owned()),
                        }),
                },
                Rows::Csv(rows, headers) => match rows.next() {
                    None => return Ok(None),
                    Some(Err(e)) => Err(format!("invalid CSV row: {e}")),
                    Some(Ok(row)) => {
                        let fields = csv_fields(headers, &row);
                        let mut data = serde_json::to_vec(&InOrder(&fields))
                            .expect("a JSON object serialises");
                        data.push(b'\n');
                        Ok((fields.into_iter().collect(), data))
                    }
                },
            };
            match parsed {
                Ok((object, data)) => return Ok(Some(self.record(&object, data))),
                Err(problem) => {
                    let err = ReplayError::Line {
                        path: self.path.clone(),
                        line: self.line,
                        problem,
                    };
                    match self.on_bad_line {
                        OnBadLine::Stop => return Err(err),
                        OnBadLine::Skip => {
                            self.skipped += 1;
                            tracing::warn!("skipping {err}");
                        }
                    }
                }
            }
        }
    }

    /// The record of a row: `data` (a JSON object and a newline) keyed by
    /// the row's key field, or by its line number.
    fn record(&self, object: &Map<String, Value>, data: Vec<u8>) -> Record {
        let key = match object.get(&self.key_field) {
            Some(Value::String(s)) if !s.is_empty() => s.chars().take(256).collect(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => self.line.to_string(),
        };
        Record::new(key, data)
    }
}

/// Fields serialised as one JSON object in their order (serde_json's `Map`
/// sorts its keys unless its `preserve_order` feature is on, which would slow
/// down every JSON map of the engine linked into the same binary).
struct InOrder<'a>(&'a [(String, Value)]);

impl serde::Serialize for InOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The fields of one CSV row, in the header's order: integers and decimals
/// become numbers, everything else stays a string.
fn csv_fields(headers: &csv::StringRecord, row: &csv::StringRecord) -> Vec<(String, Value)> {
    headers
        .iter()
        .zip(row.iter())
        .map(|(name, text)| {
            let value = if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Some(n) = text
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && !text.trim().is_empty())
                .and_then(serde_json::Number::from_f64)
            {
                Value::Number(n)
            } else {
                Value::String(text.to_owned())
            };
            (name.to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    fn all(replay: &mut Replay) -> Vec<Record> {
        std::iter::from_fn(|| replay.next_record().unwrap()).collect()
    }

    #[test]
    fn json_lines_keep_their_fields_and_take_the_key_field() {
        let (_dir, path) = file(
            "ride.json",
            "{\"Name\":\"Rocinante\",\"Distance\":30}\n\n{\"x\":1}\n",
        );
        let mut replay = Replay::open(&path, "Name", OnBadLine::Stop).unwrap();
        let records = all(&mut replay);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].partition_key, "Rocinante");
        assert_eq!(
            records[0].data,
            b"{\"Name\":\"Rocinante\",\"Distance\":30}\n"
        );
        assert_eq!(
            records[1].partition_key, "3",
            "line number when the field is missing"
        );
    }

    #[test]
    fn csv_rows_become_objects() {
        let (_dir, path) = file(
            "trips.CSV",
            "vendor_id,pickup,passenger_count,fare\nVTS,2014-01-01 00:00:00,2,7.5\n",
        );
        let mut replay = Replay::open(&path, "vendor_id", OnBadLine::Stop).unwrap();
        let records = all(&mut replay);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].partition_key, "VTS");
        let value: Value = serde_json::from_slice(&records[0].data).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"vendor_id":"VTS","pickup":"2014-01-01 00:00:00","passenger_count":2,"fare":7.5})
        );
    }

    #[test]
    fn bad_lines_are_named_and_skipped_or_fatal() {
        let text = "{\"Name\":\"a\"}\nnot json\n[1]\n{\"Name\":\"b\"}\n";
        let (_dir, path) = file("ride.jsonl", text);
        let mut stop = Replay::open(&path, "Name", OnBadLine::Stop).unwrap();
        assert!(stop.next_record().unwrap().is_some());
        let err = stop.next_record().unwrap_err().to_string();
        assert!(
            err.ends_with("ride.jsonl:2: not JSON: expected ident at line 1 column 2"),
            "{err}"
        );

        let mut skip = Replay::open(&path, "Name", OnBadLine::Skip).unwrap();
        let keys: Vec<_> = all(&mut skip)
            .into_iter()
            .map(|r| r.partition_key)
            .collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(skip.skipped, 2);
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = Replay::open(Path::new("/nonexistent/ride.json"), "Name", OnBadLine::Stop)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("cannot read /nonexistent/ride.json:"),
            "{err}"
        );
    }
}
