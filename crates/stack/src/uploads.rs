//! The S3 side of the stack: the workshop's buckets, and the local stand-in
//! for the S3 trigger of its file-processing function. Every object created
//! in `wildrydes-uploads` reaches [`process::Loader::handle`] as the
//! `S3Event` AWS would send, from the engine's durable event log; the log
//! position is saved after each event is handled, so an object is loaded
//! once even across restarts (at least once after a crash mid-load, which is
//! harmless: items are written by key).

use engine::S3Events;
use process::events::s3::S3Event;

use crate::{Stack, StackError, StopSignal};

/// Where ride files are uploaded to be loaded into the table.
pub const UPLOADS_BUCKET: &str = "wildrydes-uploads";
/// Where the raw stream is archived (the archive stage writes here).
pub const ARCHIVE_BUCKET: &str = "wildrydes-data";
/// The loader's name in the event log (its saved position).
const SUBSCRIBER: &str = "loader";
/// The function the notification names, as the workshop's would be.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:wildrydes-load";

impl Stack {
    /// Creates the workshop's buckets unless they exist, subscribes the
    /// loader to objects created in the uploads bucket and starts it.
    pub(crate) async fn add_upload_loader(&mut self) -> Result<(), StackError> {
        for bucket in [UPLOADS_BUCKET, ARCHIVE_BUCKET] {
            self.engine
                .ensure_bucket(bucket)
                .map_err(StackError::Engine)?;
        }
        self.engine
            .notify_function(UPLOADS_BUCKET, FUNCTION_ARN)
            .map_err(StackError::Engine)?;
        let clients = process::aws::connect(&process::aws::AwsOptions {
            region: None,
            endpoint: Some(self.url()),
        })
        .await
        .map_err(|e| StackError::Task {
            stage: "loader".into(),
            detail: e.to_string(),
        })?;
        let loader = process::Loader {
            writer: process::ItemWriter::new(clients.dynamodb, process::TABLE),
            buckets: clients.buckets,
            on_bad_line: process::OnBadLine::Skip,
        };
        let events = self.engine.s3_events();
        self.add_stage("loader", move |stopped| run_loader(events, loader, stopped));
        Ok(())
    }
}

/// Hands every event after the saved position to the loader, in order.
async fn run_loader(
    events: S3Events,
    loader: process::Loader,
    mut stopped: StopSignal,
) -> Result<(), StackError> {
    let log_error = |e: engine::S3EventsError| StackError::Task {
        stage: "loader".into(),
        detail: e.to_string(),
    };
    let mut position = events.position(SUBSCRIBER).map_err(log_error)?;
    loop {
        let batch = events.read(position, 16).map_err(log_error)?;
        if batch.is_empty() {
            tokio::select! {
                () = &mut stopped => return Ok(()),
                () = events.wait_past(position) => continue,
            }
        }
        for entry in batch {
            if entry.bucket == UPLOADS_BUCKET {
                match serde_json::from_value::<S3Event>(entry.body) {
                    // A file that cannot be loaded (missing, unreadable,
                    // the table gone) is reported and passed over, as a
                    // Lambda function's failed invocations end up aside.
                    Ok(event) => match loader.handle(event).await {
                        // The loader logs each file it loaded.
                        Ok(loaded) => {
                            tracing::debug!(files = loaded.len(), "upload event handled")
                        }
                        Err(e) => {
                            tracing::error!(position = entry.position, "upload not loaded: {e}")
                        }
                    },
                    Err(e) => tracing::error!(position = entry.position, "not an S3 event: {e}"),
                }
            }
            events.ack(SUBSCRIBER, entry.position).map_err(log_error)?;
            position = entry.position;
        }
    }
}
