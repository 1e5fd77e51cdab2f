//! The crossing detector and the alert record.

use std::collections::BTreeSet;

use sensor::{Status, StatusTime};
use serde::{Deserialize, Serialize};

/// The workshop's threshold: alert when MagicPoints fall below 50.
pub const DEFAULT_THRESHOLD: i64 = 50;

/// One alert: a unicorn's MagicPoints just fell below the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    #[serde(rename = "Name")]
    pub name: String,
    /// The StatusTime of the record that crossed.
    #[serde(rename = "StatusTime")]
    pub status_time: StatusTime,
    #[serde(rename = "MagicPoints")]
    pub magic_points: i64,
    #[serde(rename = "Threshold")]
    pub threshold: i64,
    #[serde(rename = "Latitude")]
    pub latitude: f64,
    #[serde(rename = "Longitude")]
    pub longitude: f64,
}

impl Alert {
    /// The record as written to the alert stream: the JSON object and `\n`.
    pub fn to_json_line(&self) -> Vec<u8> {
        // Plain fields into a Vec cannot fail.
        let mut out = serde_json::to_vec(self).expect("alert serialises");
        out.push(b'\n');
        out
    }

    /// Parses an alert record (trailing whitespace allowed).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A one-line text for a person (an SNS subject or an e-mail).
    pub fn message(&self) -> String {
        format!(
            "{} is low on magic: {} MagicPoints (below {}) at {} near {:.5}, {:.5}",
            self.name,
            self.magic_points,
            self.threshold,
            self.status_time,
            self.latitude,
            self.longitude
        )
    }
}

/// What the detector remembers: the threshold and which unicorns are below
/// it (already alerted, not re-armed yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorState {
    pub threshold: i64,
    pub below: BTreeSet<String>,
}

impl Default for DetectorState {
    fn default() -> Self {
        Self::new(DEFAULT_THRESHOLD)
    }
}

impl DetectorState {
    pub fn new(threshold: i64) -> Self {
        Self {
            threshold,
            below: BTreeSet::new(),
        }
    }
}

/// One alert per crossing below the threshold, per unicorn.
///
/// A unicorn seen for the first time already below the threshold is a
/// crossing too (operations have not heard of it). Changing the threshold
/// of a saved state keeps the set: a unicorn in it that is at or above the
/// new threshold is re-armed by its next record, one not in it that is
/// below the new threshold alerts on its next record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detector {
    state: DetectorState,
}

impl Detector {
    pub fn new(threshold: i64) -> Self {
        Self::from_state(DetectorState::new(threshold))
    }

    pub fn from_state(state: DetectorState) -> Self {
        Self { state }
    }

    pub fn state(&self) -> &DetectorState {
        &self.state
    }

    pub fn into_state(self) -> DetectorState {
        self.state
    }

    pub fn threshold(&self) -> i64 {
        self.state.threshold
    }

    pub fn set_threshold(&mut self, threshold: i64) {
        self.state.threshold = threshold;
    }

    /// Whether `name` is below the threshold (alerted, not re-armed).
    pub fn is_below(&self, name: &str) -> bool {
        self.state.below.contains(name)
    }

    /// Feeds one record (records of a unicorn in the order it sent them);
    /// returns the alert when this record is a crossing.
    pub fn observe(&mut self, status: &Status) -> Option<Alert> {
        let threshold = self.state.threshold;
        if status.magic_points >= threshold {
            self.state.below.remove(&status.name);
            return None;
        }
        if self.state.below.contains(&status.name) {
            return None;
        }
        self.state.below.insert(status.name.clone());
        Some(Alert {
            name: status.name.clone(),
            status_time: status.status_time,
            magic_points: status.magic_points,
            threshold,
            latitude: status.latitude,
            longitude: status.longitude,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, second: i64, magic: i64) -> Status {
        Status {
            name: name.into(),
            status_time: StatusTime::from_millis(1_496_654_229_000 + second * 1000),
            latitude: 40.749167,
            longitude: -73.985184,
            distance: 30.0,
            magic_points: magic,
            health_points: 150,
        }
    }

    fn run(detector: &mut Detector, name: &str, magic: &[i64]) -> Vec<(usize, i64)> {
        magic
            .iter()
            .enumerate()
            .filter_map(|(i, &m)| {
                detector
                    .observe(&status(name, i as i64, m))
                    .map(|a| (i, a.magic_points))
            })
            .collect()
    }

    #[test]
    fn one_alert_per_crossing_not_per_second() {
        let mut d = Detector::new(50);
        // Ten seconds below the threshold: one alert, at the crossing.
        let alerts = run(
            &mut d,
            "Shadowfax",
            &[52, 51, 50, 49, 48, 47, 49, 48, 47, 46],
        );
        assert_eq!(alerts, vec![(3, 49)]);
        assert!(d.is_below("Shadowfax"));
    }

    #[test]
    fn exactly_the_threshold_is_not_below() {
        let mut d = Detector::new(50);
        assert!(run(&mut d, "Shadowfax", &[50, 50, 50]).is_empty());
        assert!(!d.is_below("Shadowfax"));
    }

    #[test]
    fn re_armed_at_or_above_the_threshold() {
        let mut d = Detector::new(50);
        // Down, back to exactly 50 (re-armed), down again: two alerts.
        let alerts = run(&mut d, "Shadowfax", &[51, 49, 48, 50, 49, 49, 51, 52]);
        assert_eq!(alerts, vec![(1, 49), (4, 49)]);
        assert!(!d.is_below("Shadowfax"));
    }

    #[test]
    fn first_record_already_below_alerts() {
        let mut d = Detector::new(50);
        assert_eq!(run(&mut d, "Rocinante", &[10, 11]), vec![(0, 10)]);
    }

    #[test]
    fn unicorns_are_independent() {
        let mut d = Detector::new(50);
        assert_eq!(run(&mut d, "A", &[49]).len(), 1);
        assert_eq!(run(&mut d, "B", &[49]).len(), 1);
        assert_eq!(run(&mut d, "A", &[48]).len(), 0);
        assert_eq!(run(&mut d, "B", &[60, 40]), vec![(1, 40)]);
    }

    #[test]
    fn state_round_trips_and_keeps_a_unicorn_below() {
        let mut d = Detector::new(50);
        run(&mut d, "Shadowfax", &[49]);
        let json = serde_json::to_string(d.state()).unwrap();
        assert_eq!(json, r#"{"threshold":50,"below":["Shadowfax"]}"#);
        let mut restored = Detector::from_state(serde_json::from_str(&json).unwrap());
        assert!(run(&mut restored, "Shadowfax", &[48, 47]).is_empty());
        assert_eq!(run(&mut restored, "Shadowfax", &[55, 45]), vec![(1, 45)]);
    }

    #[test]
    fn alert_record_has_the_workshop_fields_in_order() {
        let mut d = Detector::new(50);
        let alert = d.observe(&status("Shadowfax", 0, 49)).unwrap();
        assert_eq!(
            String::from_utf8(alert.to_json_line()).unwrap(),
            "{\"Name\":\"Shadowfax\",\"StatusTime\":\"2017-06-05 09:17:09.000\",\"MagicPoints\":49,\
             \"Threshold\":50,\"Latitude\":40.749167,\"Longitude\":-73.985184}\n"
        );
        assert_eq!(Alert::from_json(&alert.to_json_line()).unwrap(), alert);
        assert_eq!(
            alert.message(),
            "Shadowfax is low on magic: 49 MagicPoints (below 50) at 2017-06-05 09:17:09.000 near 40.74917, -73.98518"
        );
    }
}
