//! DynamoDB and S3 clients resolved like the Kinesis one (see
//! [`kinesis::client`]): region from the flag, the standard chain, else
//! `us-east-1`; endpoint from the flag, else `AWS_ENDPOINT_URL_DYNAMODB` /
//! `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (read by the SDK itself);
//! for a loopback endpoint the credentials chain stops at the environment and
//! the shared files and falls back to dummy credentials.

use std::time::Duration;

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use kinesis::client::{is_loopback, DEFAULT_REGION};

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
    pub s3: aws_sdk_s3::Client,
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

/// The endpoint is not a URL.
#[derive(Debug, thiserror::Error)]
#[error("invalid endpoint {0:?}: expected a URL such as http://127.0.0.1:4567")]
pub struct BadEndpoint(pub String);

fn configured_endpoint(options: &AwsOptions) -> Option<String> {
    options.endpoint.clone().or_else(|| {
        [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
        ]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    })
}

/// Builds the clients; SDK retries are off (the writer retries itself).
pub async fn connect(options: &AwsOptions) -> Result<Clients, BadEndpoint> {
    let endpoint = configured_endpoint(options);
    if let Some(e) = &endpoint {
        let ok = ["http://", "https://"]
            .iter()
            .any(|s| e.len() > s.len() && e.starts_with(s));
        if !ok {
            return Err(BadEndpoint(e.clone()));
        }
    }
    let local = endpoint.as_deref().is_some_and(is_loopback);
    let flag_region = options.region.clone().map(Region::new);
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(30))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    if local {
        let region = RegionProviderChain::first_try(flag_region)
            .or_else(aws_config::environment::region::EnvironmentVariableRegionProvider::new())
            .or_else(aws_config::profile::ProfileFileRegionProvider::builder().build())
            .or_else(Region::new(DEFAULT_REGION));
        let credentials = CredentialsProviderChain::first_try(
            "Environment",
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
        )
        .or_else(
            "Profile",
            aws_config::profile::ProfileFileCredentialsProvider::builder().build(),
        )
        .or_else(
            "LocalDummy",
            Credentials::new("wildrydes-local", "wildrydes-local", None, None, "loopback"),
        );
        loader = loader.region(region).credentials_provider(credentials);
    } else {
        let region = RegionProviderChain::first_try(flag_region)
            .or_default_provider()
            .or_else(Region::new(DEFAULT_REGION));
        loader = loader.region(region);
    }
    if let Some(e) = &options.endpoint {
        loader = loader.endpoint_url(e);
    }
    let config: SdkConfig = loader.load().await;
    let region = config
        .region()
        .map_or_else(|| DEFAULT_REGION.to_owned(), |r| r.to_string());
    // A local endpoint serves every bucket on one host: path-style URLs.
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(endpoint.is_some())
        .build();
    Ok(Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(s3),
        region,
        endpoint,
    })
}
