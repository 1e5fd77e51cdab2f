//! The DynamoDB client, built by [`kinesis::client::load_sdk`] like the
//! Kinesis one: region from the flag, the standard chain, else `us-east-1`;
//! endpoint from the flag, else `AWS_ENDPOINT_URL_DYNAMODB` /
//! `AWS_ENDPOINT_URL` (read by the SDK itself); for a loopback endpoint the
//! credentials chain stops at the environment and the shared files and falls
//! back to dummy credentials. S3 is read through [`objects::Buckets`], with
//! the same options and chain.

use std::time::Duration;

use kinesis::client::{load_sdk, SdkOptions};
use kinesis::ConnectError;

/// How to reach DynamoDB and S3.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--region`.
    pub region: Option<String>,
    /// `--endpoint`: the engine, e.g. `http://127.0.0.1:4567`.
    pub endpoint: Option<String>,
}

/// The clients of the processing stages.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3 buckets with the same region and endpoint.
    pub buckets: objects::Buckets,
    pub region: String,
    /// The endpoint named by the options or the environment, if any.
    pub endpoint: Option<String>,
}

impl Clients {
    /// Where DynamoDB calls go, for messages.
    pub fn dynamodb_location(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://dynamodb.{}.amazonaws.com", self.region),
        }
    }
}

/// Builds the clients; SDK retries are off (the writer retries itself).
pub async fn connect(options: &AwsOptions) -> Result<Clients, ConnectError> {
    let sdk = load_sdk(&SdkOptions {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        endpoint_vars: &["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"],
        operation_timeout: Duration::from_secs(30),
        attempt_timeout: Duration::from_secs(10),
        sdk_max_attempts: 1,
    })
    .await?;
    Ok(Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk.config),
        buckets: objects::Buckets::new(objects::S3Options {
            region: options.region.clone(),
            endpoint: options.endpoint.clone(),
        }),
        region: sdk.region,
        endpoint: sdk.endpoint,
    })
}
