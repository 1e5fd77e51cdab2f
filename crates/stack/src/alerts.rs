//! The alert side of the stack: the stream `wildrydes-alerts`, created when
//! missing, the alert stage between the raw stream and it (one alert when a
//! unicorn's MagicPoints fall below 50, see the `alert` crate), and for
//! `demo` a fleet in which some unicorns run low on magic and a printer of
//! the alerts.

use std::io::Write;
use std::path::Path;

use kinesis::{ConnectOptions, Reader, ReaderOptions};
use sensor::{Ride, RideConfig};

use crate::{Stack, StackError, StopSignal, SOURCE_STREAM};

/// The stream the alert stage writes to.
pub const ALERT_STREAM: &str = alert::ALERT_STREAM;
/// The alert stage's state (which unicorns are below, source positions) in
/// the data dir.
pub const ALERT_STATE_FILE: &str = "alert-state.json";
/// In the demo fleet, every this-many-th unicorn (the last of each group)
/// runs low on magic.
pub const DEMO_LOW_MAGIC_EVERY: usize = 5;

impl Stack {
    /// Creates the alert stream unless it exists and starts the alert stage
    /// between the raw stream and it.
    pub(crate) async fn add_alerts(
        &mut self,
        connect: ConnectOptions,
        shards: i32,
        data_dir: Option<&Path>,
    ) -> Result<(), StackError> {
        self.conn
            .ensure_stream(ALERT_STREAM, shards.max(1))
            .await
            .map_err(StackError::Stream)?;
        let options = alert::RunOptions {
            connect,
            source: SOURCE_STREAM.into(),
            destination: ALERT_STREAM.into(),
            state_file: data_dir.map(|dir| dir.join(ALERT_STATE_FILE)),
            start: kinesis::StartPosition::TrimHorizon,
            ..alert::RunOptions::default()
        };
        self.add_stage("alerts", |stopped| async move {
            let stats = alert::run(options, stopped)
                .await
                .map_err(StackError::Alert)?;
            tracing::info!(
                records = stats.records,
                alerts = stats.alerts,
                "alert stage stopped"
            );
            Ok(())
        });
        Ok(())
    }

    /// For `demo`: every new alert, one line each, on `out`.
    pub(crate) fn add_alert_printer<W>(&mut self, out: W)
    where
        W: Write + Send + 'static,
    {
        let conn = self.connection();
        self.add_stage("alert printer", move |stopped| {
            print_alerts(conn, out, stopped)
        });
    }
}

/// The demo's rides: lively ones, with every [`DEMO_LOW_MAGIC_EVERY`]-th
/// unicorn on a [`producer::low_magic_ride`] so alerts show up within a
/// minute.
pub(crate) fn demo_fleet(names: &[String], seed: u64) -> Vec<Ride> {
    let lively = RideConfig::lively();
    let low = producer::low_magic_ride();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let config = if i % DEMO_LOW_MAGIC_EVERY == DEMO_LOW_MAGIC_EVERY - 1 {
                &low
            } else {
                &lively
            };
            Ride::with_config(name.clone(), seed.wrapping_add(i as u64), config.clone())
        })
        .collect()
}

async fn print_alerts<W: Write>(
    conn: kinesis::Connection,
    mut out: W,
    mut stopped: StopSignal,
) -> Result<(), StackError> {
    let mut reader = Reader::start(
        conn,
        ReaderOptions::new(ALERT_STREAM, kinesis::StartPosition::Latest),
    );
    loop {
        let batch = tokio::select! {
            () = &mut stopped => return Ok(()),
            batch = reader.next() => batch.map_err(StackError::Alerts)?,
        };
        let mut text = String::new();
        for record in &batch.records {
            if let Ok(alert) = alert::Alert::from_json(&record.data) {
                text.push_str(&format!("alert: {}\n", alert.message()));
            }
        }
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(err) => return Err(StackError::Output(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_fleet_has_a_low_magic_unicorn_in_every_five() {
        let names = producer::fleet_names(&[], 10);
        let fleet = demo_fleet(&names, 42);
        let at = sensor::StatusTime::from_millis(0);
        let lows: Vec<usize> = fleet
            .into_iter()
            .enumerate()
            .filter_map(|(i, mut ride)| (ride.step(at).magic_points < 100).then_some(i))
            .collect();
        assert_eq!(lows, [4, 9]);
    }
}
