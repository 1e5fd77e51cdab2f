//! Wild Rydes telemetry records and the ride simulator.
//!
//! This crate is shared by every tool of the workspace: it defines the raw
//! per-second [`Status`] a unicorn's sensor reports, the per-minute
//! [`Summary`] the aggregator emits, the `StatusTime` wire format both use,
//! and [`Ride`], the simulator the producer drives (one per unicorn).

mod record;
mod ride;
mod time;

pub use record::{ParseError, Status, Summary};
pub use ride::{Ride, RideConfig};
pub use time::{StatusTime, TimeError};
