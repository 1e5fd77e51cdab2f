//! The process function: `wildrydes-summary` → `UnicornSensorData` over
//! [`process::Processor`], the handler `wildrydes process` drives locally.
//!
//! The event source mapping has `FunctionResponseTypes:
//! [ReportBatchItemFailures]`: the response lists the sequence numbers of the
//! records whose items were not written (BatchWriteItem, 25 a call,
//! `UnprocessedItems` and throttling retried with backoff by
//! [`process::ItemWriter`]), and Lambda retries from the first of them. A
//! batch still being written when the function's deadline nears reports every
//! record as failed (items are put by key, so writing one again is harmless).

use std::time::Duration;

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use process::aws::AwsOptions;
use process::{ItemWriter, Processor};

use crate::env::{self, ConfigError};

/// The handler.
#[derive(Debug, Clone)]
pub struct Process {
    processor: Processor,
}

impl Process {
    pub fn new(processor: Processor) -> Self {
        Self { processor }
    }

    /// Writes to the table named by `TABLE_NAME`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = env::required(env::TABLE_NAME)?;
        let clients = process::aws::connect(&AwsOptions::default())
            .await
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let writer = ItemWriter::new(clients.dynamodb, table);
        Ok(Self::new(Processor::new(writer)))
    }

    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// One batch; `budget` bounds the writing (see the module doc).
    pub async fn handle(
        &self,
        event: KinesisEvent,
        budget: Option<Duration>,
    ) -> KinesisEventResponse {
        let Some(budget) = budget else {
            return self.processor.handle(event).await;
        };
        let sequence_numbers: Vec<String> = event
            .records
            .iter()
            .map(|r| r.kinesis.sequence_number.clone())
            .collect();
        match tokio::time::timeout(budget, self.processor.handle(event)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(
                    records = sequence_numbers.len(),
                    table = self.processor.writer().table(),
                    "the batch was not written before the function's deadline; every record is reported as failed"
                );
                let mut response = KinesisEventResponse::default();
                response.set_failures(sequence_numbers);
                response
            }
        }
    }
}
