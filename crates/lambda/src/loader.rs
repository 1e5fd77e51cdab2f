//! The load function: a ride file uploaded to the data bucket (S3
//! `ObjectCreated` notification) → items in `UnicornSensorData`, over
//! [`process::Loader`], the loader `wildrydes load` and `wildrydes up` run.
//!
//! Bad lines are reported and skipped, as locally. An object that cannot be
//! read or written makes the invocation fail; S3 invokes asynchronously, so
//! Lambda retries it twice and then sends it to the function's on-failure
//! destination. Loading a file again is harmless (items are put by key).

use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use process::aws::AwsOptions;
use process::{ItemWriter, LoadError, Loader, OnBadLine};
use serde::{Deserialize, Serialize};

use crate::env::{self, ConfigError};

/// What one object's load did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Loaded {
    /// `s3://bucket/key`.
    pub file: String,
    pub lines: u64,
    pub items_written: u64,
    pub skipped: u64,
}

/// The function's result (logged by Lambda; S3 ignores it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResponse {
    pub loaded: Vec<Loaded>,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailed {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("loading did not finish before the function's deadline; Lambda retries the event (raise the function's Timeout for larger files)")]
    TimedOut,
}

/// The handler.
#[derive(Debug, Clone)]
pub struct Load {
    loader: Loader,
}

impl Load {
    pub fn new(loader: Loader) -> Self {
        Self { loader }
    }

    /// Writes to the table named by `TABLE_NAME`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = env::required(env::TABLE_NAME)?;
        let clients = process::aws::connect(&AwsOptions::default())
            .await
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self::new(Loader {
            writer: ItemWriter::new(clients.dynamodb, table),
            buckets: clients.buckets,
            on_bad_line: OnBadLine::Skip,
        }))
    }

    /// One notification; `budget` bounds the whole load.
    pub async fn handle(
        &self,
        event: S3Event,
        budget: Option<Duration>,
    ) -> Result<LoadResponse, LoadFailed> {
        let done = match budget {
            Some(budget) => tokio::time::timeout(budget, self.loader.handle(event))
                .await
                .map_err(|_| LoadFailed::TimedOut)??,
            None => self.loader.handle(event).await?,
        };
        Ok(LoadResponse {
            loaded: done
                .into_iter()
                .map(|s| Loaded {
                    file: s.file,
                    lines: s.lines,
                    items_written: s.items_written,
                    skipped: s.skipped,
                })
                .collect(),
        })
    }
}
