//! The archive stage of the stack: the workshop's Kinesis Data Firehose
//! delivery stream, `wildrydes` into the bucket `wildrydes-data` of the
//! engine's S3 (JSON lines under `YYYY/MM/DD/HH/`), with a short buffer
//! interval so that `wildrydes query` sees records within seconds. Its
//! positions are kept in the data dir and saved once the objects are written.

use std::path::Path;
use std::time::Duration;

use kinesis::ConnectOptions;

use crate::{Stack, StackError, ARCHIVE_BUCKET, SOURCE_STREAM};

/// The archiver's source positions in the data dir.
pub const ARCHIVER_STATE_FILE: &str = "archiver-state.json";
/// How long the archiver buffers records before writing an object (Firehose's
/// default is 300 s, the workshop's 60 s; short here, to query at once).
pub const ARCHIVE_INTERVAL: Duration = Duration::from_secs(10);

impl Stack {
    /// Starts the archiver (after the buckets exist).
    pub(crate) fn add_archiver(&mut self, connect: ConnectOptions, data_dir: Option<&Path>) {
        let options = ::archive::ArchiveOptions {
            connect,
            source: SOURCE_STREAM.into(),
            destination: ::archive::Location::S3 {
                bucket: ARCHIVE_BUCKET.into(),
                prefix: String::new(),
            },
            s3: ::archive::S3Options {
                region: None,
                endpoint: Some(self.url()),
            },
            settings: ::archive::Settings {
                name: SOURCE_STREAM.into(),
                hints: ::archive::Hints {
                    interval: ARCHIVE_INTERVAL,
                    ..::archive::Hints::default()
                },
                ..::archive::Settings::default()
            },
            state_file: data_dir.map(|dir| dir.join(ARCHIVER_STATE_FILE)),
            start: kinesis::StartPosition::TrimHorizon,
            reader: None,
        };
        self.add_stage("archiver", |stopped| async move {
            let stats = ::archive::run(options, stopped)
                .await
                .map_err(StackError::Archive)?;
            tracing::info!(
                records = stats.records,
                objects = stats.objects,
                "archiver stopped"
            );
            Ok(())
        });
    }
}
