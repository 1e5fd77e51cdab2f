//! The live map in the stack: `up` and `demo` serve the dashboard (see the
//! `dashboard` crate) on a port of its own, reading the stack's three
//! streams from the embedded engine with enhanced fan-out (records pushed as
//! they arrive).
//!
//! A port of its own rather than `/` of the engine's port: the engine's
//! front routes every request without `X-Amz-Target` to S3, so a page there
//! would shadow (or be shadowed by) S3 paths.

use dashboard::{Dashboard, DashboardOptions, FeedOptions, Tiles};
use kinesis::ConnectOptions;

use crate::{local_url, Stack, StackError, ALERT_STREAM, SOURCE_STREAM, SUMMARY_STREAM};

/// The enhanced fan-out consumer the stack's dashboard registers on the raw
/// stream.
pub const DASHBOARD_CONSUMER: &str = "wildrydes-dashboard";

impl Stack {
    /// Starts the dashboard on `listener` (its streams must exist: call
    /// after [`Stack::start`]); returns the page's URL.
    pub async fn add_dashboard(
        &mut self,
        listener: tokio::net::TcpListener,
        tiles: Tiles,
    ) -> Result<String, StackError> {
        let addr = listener.local_addr().map_err(|e| StackError::Task {
            stage: "dashboard".into(),
            detail: e.to_string(),
        })?;
        let options = DashboardOptions {
            connect: ConnectOptions {
                endpoint: Some(self.url()),
                ..ConnectOptions::default()
            },
            feed: FeedOptions {
                raw: SOURCE_STREAM.into(),
                summaries: SUMMARY_STREAM.into(),
                alerts: ALERT_STREAM.into(),
                fan_out: Some(DASHBOARD_CONSUMER.into()),
                ..FeedOptions::default()
            },
            tiles,
            ..DashboardOptions::default()
        };
        let dashboard = Dashboard::start(options)
            .await
            .map_err(StackError::Dashboard)?;
        self.add_stage("dashboard", |stopped| async move {
            dashboard
                .serve(listener, stopped)
                .await
                .map_err(StackError::Dashboard)
        });
        Ok(format!("{}/", local_url(addr)))
    }
}
