//! The ride simulator: one [`Ride`] per unicorn, stepped once per interval.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{Status, StatusTime};

/// Metres per degree of latitude, as in the original producer.
const METRES_PER_DEGREE_LAT: f64 = 110_540.0;
/// Metres per degree of longitude at the equator, scaled by cos(latitude).
const METRES_PER_DEGREE_LON: f64 = 111_320.0;

/// How a ride moves. The default is the original Go producer's ride.
#[derive(Debug, Clone, PartialEq)]
pub struct RideConfig {
    /// Where every ride starts (the default is Times Square's neighbourhood).
    pub start_latitude: f64,
    pub start_longitude: f64,
    /// Starting MagicPoints and HealthPoints.
    pub start_points: i64,
    /// Metres per step, drawn uniformly from this range.
    pub min_distance: f64,
    pub max_distance: f64,
    /// Largest change of bearing per step in degrees (0 keeps a straight line).
    pub max_turn_degrees: f64,
    /// Chance per step that MagicPoints drain by one more point (0 disables it).
    pub magic_drain: f64,
}

impl Default for RideConfig {
    fn default() -> Self {
        Self {
            start_latitude: 40.749167,
            start_longitude: -73.985184,
            start_points: 150,
            min_distance: 29.0,
            max_distance: 31.0,
            max_turn_degrees: 0.0,
            magic_drain: 0.0,
        }
    }
}

impl RideConfig {
    /// A ride that wanders a little and slowly loses magic, still recognisably
    /// the original (same start, same speed).
    pub fn lively() -> Self {
        Self {
            max_turn_degrees: 5.0,
            magic_drain: 0.05,
            ..Self::default()
        }
    }
}

/// One unicorn on one ride. Small (a few dozen bytes) so a process can drive
/// thousands of them; deterministic for a given seed.
#[derive(Debug, Clone)]
pub struct Ride {
    name: String,
    config: RideConfig,
    rng: SmallRng,
    latitude: f64,
    longitude: f64,
    /// Radians, clockwise from north.
    bearing: f64,
    magic_points: i64,
    health_points: i64,
}

impl Ride {
    /// A ride with the original defaults.
    pub fn new(name: impl Into<String>, seed: u64) -> Self {
        Self::with_config(name, seed, RideConfig::default())
    }

    /// A ride with its own settings.
    pub fn with_config(name: impl Into<String>, seed: u64, config: RideConfig) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let bearing = rng.random_range(0.0..std::f64::consts::TAU);
        Self {
            name: name.into(),
            rng,
            latitude: config.start_latitude,
            longitude: config.start_longitude,
            bearing,
            magic_points: config.start_points,
            health_points: config.start_points,
            config,
        }
    }

    /// The unicorn's name (also the record's partition key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Advances the ride by one step and returns the reading taken at `at`.
    pub fn step(&mut self, at: StatusTime) -> Status {
        let c = &self.config;
        let distance = if c.max_distance > c.min_distance {
            self.rng.random_range(c.min_distance..=c.max_distance)
        } else {
            c.min_distance
        };
        if c.max_turn_degrees > 0.0 {
            let turn = c.max_turn_degrees.to_radians();
            self.bearing = (self.bearing + self.rng.random_range(-turn..=turn))
                .rem_euclid(std::f64::consts::TAU);
        }
        self.latitude += distance * self.bearing.cos() / METRES_PER_DEGREE_LAT;
        self.latitude = self.latitude.clamp(-89.9, 89.9);
        self.longitude += distance * self.bearing.sin()
            / (METRES_PER_DEGREE_LON * self.latitude.to_radians().cos());
        if !(-180.0..=180.0).contains(&self.longitude) {
            self.longitude = (self.longitude + 180.0).rem_euclid(360.0) - 180.0;
        }
        self.magic_points += self.rng.random_range(-1..=1);
        self.health_points += self.rng.random_range(-1..=1);
        if c.magic_drain > 0.0 && self.rng.random_bool(c.magic_drain.min(1.0)) {
            self.magic_points -= 1;
        }
        self.magic_points = self.magic_points.max(0);
        self.health_points = self.health_points.max(0);
        Status {
            name: self.name.clone(),
            status_time: at,
            latitude: self.latitude,
            longitude: self.longitude,
            distance,
            magic_points: self.magic_points,
            health_points: self.health_points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn haversine_metres(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (la1, lo1, la2, lo2) = (
            a.0.to_radians(),
            a.1.to_radians(),
            b.0.to_radians(),
            b.1.to_radians(),
        );
        let h = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        2.0 * 6_371_000.0 * h.sqrt().asin()
    }

    #[test]
    fn same_seed_same_ride() {
        let t = StatusTime::from_millis(0);
        let mut a = Ride::new("Shadowfax", 7);
        let mut b = Ride::new("Shadowfax", 7);
        let mut c = Ride::new("Shadowfax", 8);
        let ra: Vec<_> = (0..100).map(|_| a.step(t)).collect();
        let rb: Vec<_> = (0..100).map(|_| b.step(t)).collect();
        let rc: Vec<_> = (0..100).map(|_| c.step(t)).collect();
        assert_eq!(ra, rb);
        assert_ne!(ra, rc);
    }

    #[test]
    fn physics_match_the_original() {
        let mut ride = Ride::new("Rocinante", 42);
        let t = StatusTime::from_millis(0);
        let (mut lat, mut lon) = (40.749167, -73.985184);
        let (mut magic, mut health) = (150, 150);
        for _ in 0..600 {
            let s = ride.step(t);
            assert!((29.0..=31.0).contains(&s.distance), "{}", s.distance);
            let moved = haversine_metres((lat, lon), (s.latitude, s.longitude));
            // The flat-earth step of the original agrees with the sphere within 1%.
            assert!(
                (moved - s.distance).abs() < s.distance * 0.01,
                "{moved} vs {}",
                s.distance
            );
            assert!((s.magic_points - magic).abs() <= 1);
            assert!((s.health_points - health).abs() <= 1);
            (lat, lon, magic, health) = (s.latitude, s.longitude, s.magic_points, s.health_points);
        }
    }

    #[test]
    fn default_ride_is_a_straight_line() {
        let mut ride = Ride::new("Bucephalus", 3);
        let t = StatusTime::from_millis(0);
        let first = ride.step(t);
        let bearing =
            |a: &Status, b: &Status| (b.latitude - a.latitude).atan2(b.longitude - a.longitude);
        let second = ride.step(t);
        let third = ride.step(t);
        assert!((bearing(&first, &second) - bearing(&second, &third)).abs() < 1e-3);
    }

    #[test]
    fn lively_rides_turn_and_drain() {
        let mut ride = Ride::with_config("Pegasus", 9, RideConfig::lively());
        let t = StatusTime::from_millis(0);
        let last = (0..3_600).map(|_| ride.step(t)).last().unwrap();
        assert!(
            last.magic_points < 150,
            "magic drains over an hour: {}",
            last.magic_points
        );
    }
}
