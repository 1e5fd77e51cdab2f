//! The workshop's alert stage: operations hear about it when a unicorn's
//! MagicPoints fall below a threshold (50 by default), once per crossing.
//!
//! * [`detector`]: the crossing detector. One [`Alert`] when a unicorn's
//!   MagicPoints go below the threshold; nothing more while it stays below;
//!   re-armed once it is back at or above the threshold. Its state (which
//!   unicorns are below) is a small serialisable [`DetectorState`].
//! * [`sink`]: where alerts go, behind the [`AlertSink`] trait: a Kinesis
//!   stream locally (`wildrydes-alerts`, [`KinesisSink`]); the AWS deployment
//!   plugs an SNS topic.
//! * [`handler`]: the Lambda-shaped entry point,
//!   [`AlertHandler::handle`]`(KinesisEvent) -> KinesisEventResponse`, with
//!   `batchItemFailures` when alerts could not be sent (the detector's state
//!   then stays as it was before the first failed record, so the retry
//!   raises the same alerts again).
//! * [`runner`]: the local driver (`wildrydes alert` and the alert stage of
//!   `wildrydes up`): reads the raw stream with the shared
//!   [`kinesis::Reader`], feeds the handler, and saves the detector's state
//!   and the reader's positions together in one state file, so a restart
//!   neither repeats nor forgets a crossing.
//!
//! The alert record, field names exactly:
//!
//! ```json
//! {"Name":"Shadowfax","StatusTime":"2017-06-05 09:17:09.191","MagicPoints":49,
//!  "Threshold":50,"Latitude":40.749167,"Longitude":-73.985184}
//! ```

pub mod detector;
pub mod handler;
pub mod runner;
pub mod sink;

pub use aws_lambda_events as events;
pub use detector::{Alert, Detector, DetectorState, DEFAULT_THRESHOLD};
pub use handler::{AlertHandler, Outcome};
pub use runner::{run, AlertError, RunOptions, RunStats, SavedState};
pub use sink::{AlertSink, Collect, KinesisSink, SinkError};

/// The stream alerts are written to locally.
pub const ALERT_STREAM: &str = "wildrydes-alerts";
