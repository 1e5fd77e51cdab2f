//! Query results as text: an aligned table (for a terminal), JSON lines or
//! CSV (for pipes; streamed batch by batch). Timestamps are written like
//! the records' `StatusTime` (`2017-06-05 09:17:09.191`) in all three.

use std::io::Write;

use datafusion::arrow::csv::WriterBuilder as CsvBuilder;
use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder as JsonBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use datafusion::execution::SendableRecordBatchStream;
use futures_util::TryStreamExt;

use crate::QueryError;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned table, written once the result is complete.
    Table,
    /// One JSON object per row.
    Json,
    /// CSV with a header line.
    Csv,
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

fn output_error(e: impl std::error::Error + Send + Sync + 'static) -> QueryError {
    QueryError::Output(Box::new(e))
}

/// Writes a result; returns the number of rows.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<u64, QueryError> {
    let mut rows = 0u64;
    match format {
        OutputFormat::Table => {
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(batch) = stream.try_next().await? {
                rows += batch.num_rows() as u64;
                batches.push(batch);
            }
            let options = FormatOptions::default()
                .with_null("NULL")
                .with_timestamp_format(Some(TIME_FORMAT));
            let table =
                pretty_format_batches_with_options(&batches, &options).map_err(output_error)?;
            writeln!(out, "{table}").map_err(output_error)?;
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })
                .map_err(output_error)?;
        }
        OutputFormat::Json => {
            while let Some(batch) = stream.try_next().await? {
                rows += batch.num_rows() as u64;
                let mut buf = Vec::new();
                let mut writer = JsonBuilder::new()
                    .with_explicit_nulls(true)
                    .with_timestamp_format(TIME_FORMAT.to_owned())
                    .build::<_, LineDelimited>(&mut buf);
                writer.write(&batch).map_err(output_error)?;
                writer.finish().map_err(output_error)?;
                drop(writer);
                out.write_all(&buf).map_err(output_error)?;
            }
        }
        OutputFormat::Csv => {
            let mut header = true;
            while let Some(batch) = stream.try_next().await? {
                rows += batch.num_rows() as u64;
                let mut buf = Vec::new();
                let mut writer = CsvBuilder::new()
                    .with_header(header)
                    .with_timestamp_format(TIME_FORMAT.to_owned())
                    .build(&mut buf);
                writer.write(&batch).map_err(output_error)?;
                drop(writer);
                out.write_all(&buf).map_err(output_error)?;
                header = false;
            }
            if header {
                // No batch at all: the header alone, from the schema.
                let names: Vec<String> = stream
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                writeln!(out, "{}", names.join(",")).map_err(output_error)?;
            }
        }
    }
    out.flush().map_err(output_error)?;
    Ok(rows)
}
