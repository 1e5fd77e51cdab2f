//! The producer's engine: simulated unicorn fleets and file replays sent to
//! a Kinesis stream at a steady pace.
//!
//! The `producer` binary parses flags ([`command`]) and calls [`run`];
//! everything it does lives here so tests and benchmarks drive the same code.

pub mod command;
pub mod replay;

use std::future::Future;
use std::time::Duration;

use kinesis::writer::{BatchWriter, Record, WriteError};
use sensor::{Ride, RideConfig, StatusTime};

pub use replay::{OnBadLine, Replay, ReplayError};

/// Names given to unicorns beyond those the user named.
const STABLE: &[&str] = &[
    "Shadowfax",
    "Rocinante",
    "Bucephalus",
    "Pegasus",
    "Silver",
    "Trigger",
    "Epona",
    "Artax",
    "Binky",
    "Buttercup",
    "Comet",
    "Falada",
    "Hidalgo",
    "Maximus",
    "Sleipnir",
    "Tornado",
    "Black Beauty",
    "Brego",
    "Champion",
    "Marengo",
];

/// Largest fleet `-unicorns` accepts: 100,000 records a second at the
/// default interval, all a 100-shard stream takes. A typo such as
/// `-unicorns 99999999999` is refused instead of spending minutes naming
/// unicorns before sending anything.
pub const MAX_UNICORNS: usize = 100_000;

/// What to send.
pub enum Source {
    /// Simulated unicorns, each reporting once per interval.
    Fleet(Vec<Ride>),
    /// Records from a file, `per_tick` of them each interval.
    Replay {
        replay: Box<Replay>,
        per_tick: usize,
    },
}

/// How long to run and how to send.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time between ticks (for a fleet: between two records of one unicorn).
    pub interval: Duration,
    /// Stop after this many ticks (fleet) or records (replay).
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Use PutRecord, one call per record, like the original producer.
    pub single_puts: bool,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub ticks: u64,
}

/// Why a run ended early.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// The names of a fleet of `unicorns`: the given names first, then well-known
/// horses, then `Unicorn-N`.
pub fn fleet_names(given: &[String], unicorns: usize) -> Vec<String> {
    let mut names: Vec<String> = given.to_vec();
    let mut extra = STABLE
        .iter()
        .map(|s| (*s).to_owned())
        .chain((1..).map(|i| format!("Unicorn-{i:05}")));
    while names.len() < unicorns {
        let candidate = extra.next().expect("endless names");
        if !names.contains(&candidate) {
            names.push(candidate);
        }
    }
    names
}

/// Rides whose magic runs low, to see alerts (`producer -low-magic`, and
/// some of `wildrydes demo`'s fleet): the lively ride starting at 60
/// MagicPoints and HealthPoints and losing one more MagicPoint every other
/// second on average, so it falls below the workshop's alert threshold of 50
/// within about half a minute.
pub fn low_magic_ride() -> RideConfig {
    RideConfig {
        start_points: 60,
        magic_drain: 0.5,
        ..RideConfig::lively()
    }
}

/// One ride per name; ride `i` uses `seed + i`, so a seed reproduces the fleet.
pub fn fleet(names: &[String], seed: u64, config: &RideConfig) -> Vec<Ride> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Ride::with_config(name.clone(), seed.wrapping_add(i as u64), config.clone())
        })
        .collect()
}

/// The replay pace for `rate` records per second: a tick period and the
/// records sent per tick (ticks no shorter than 10 ms).
pub fn replay_pace(rate: f64) -> (Duration, usize) {
    let rate = rate.max(0.001);
    let period = (1.0 / rate).max(0.01);
    let per_tick = (rate * period).round().max(1.0) as usize;
    (Duration::from_secs_f64(period), per_tick)
}

/// Sends `source` through `writer` until the count or duration is reached, the
/// replay file ends, `shutdown` resolves or an error no retry can fix occurs.
/// `on_sent` is told how many records each tick stored.
pub async fn run(
    writer: &BatchWriter,
    source: &mut Source,
    options: &Options,
    shutdown: impl Future<Output = ()>,
    mut on_sent: impl FnMut(u64),
) -> Result<Totals, ProducerError> {
    let mut totals = Totals::default();
    let mut ticker = tokio::time::interval(options.interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(shutdown, until_deadline);
    let mut batch = Vec::new();
    loop {
        if options.count.is_some_and(|count| {
            let done = match source {
                Source::Fleet(_) => totals.ticks,
                Source::Replay { .. } => totals.sent,
            };
            done >= count
        }) {
            break;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = &mut until_deadline => break,
            _ = ticker.tick() => {}
        }
        batch.clear();
        let now = StatusTime::now();
        match source {
            Source::Fleet(rides) => {
                batch.extend(rides.iter_mut().map(|ride| {
                    let status = ride.step(now);
                    Record::new(status.name.clone(), status.to_json_line())
                }));
            }
            Source::Replay { replay, per_tick } => {
                let left = options.count.map_or(u64::MAX, |c| c - totals.sent);
                let want = (*per_tick as u64).min(left) as usize;
                while batch.len() < want {
                    match replay.next_record()? {
                        Some(record) => batch.push(record),
                        None => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
            }
        }
        let n = batch.len() as u64;
        if options.single_puts {
            for record in batch.drain(..) {
                writer.put_record(record).await?;
                on_sent(1);
            }
        } else {
            writer.put_records(std::mem::take(&mut batch)).await?;
            on_sent(n);
        }
        totals.sent += n;
        totals.ticks += 1;
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_magic_rides_fall_below_50_within_a_minute() {
        let names = fleet_names(&[], 50);
        for mut ride in fleet(&names, 7, &low_magic_ride()) {
            let at = StatusTime::from_millis(0);
            let crossed = (1..=60).find(|_| ride.step(at).magic_points < 50);
            assert!(crossed.is_some(), "{} stayed at or above 50", ride.name());
        }
    }

    #[test]
    fn fleet_names_start_with_the_given_ones_and_stay_unique() {
        let names = fleet_names(&["Rocinante".to_owned()], 25);
        assert_eq!(names.len(), 25);
        assert_eq!(names[0], "Rocinante");
        assert_eq!(names[1], "Shadowfax");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 25);
        assert!(names.contains(&"Unicorn-00001".to_owned()));
        assert_eq!(fleet_names(&["A".into(), "B".into()], 1), ["A", "B"]);
    }

    #[test]
    fn fleets_are_reproducible_from_their_seed() {
        let names = fleet_names(&[], 3);
        let t = StatusTime::from_millis(0);
        let run = |seed| -> Vec<_> {
            fleet(&names, seed, &RideConfig::default())
                .iter_mut()
                .map(|r| r.step(t))
                .collect()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn replay_pace_covers_slow_and_fast_rates() {
        assert_eq!(replay_pace(1.0), (Duration::from_secs(1), 1));
        assert_eq!(replay_pace(1000.0), (Duration::from_millis(10), 10));
        assert_eq!(replay_pace(0.5), (Duration::from_secs(2), 1));
    }
}
