//! Building the Kinesis client: region, credentials and endpoint resolved the
//! same way by every tool.
//!
//! * region: the flag, else the standard chain (`AWS_REGION`, the profile),
//!   else `us-east-1`;
//! * endpoint: the flag, else `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL`
//!   (honoured by the SDK itself), else AWS;
//! * credentials: the standard chain (environment, shared files, `AWS_PROFILE`,
//!   SSO, ...). For a loopback endpoint (a local engine) the chain stops at the
//!   environment and the shared files and falls back to dummy credentials, so a
//!   local run never needs an account and never waits on instance metadata.

use std::time::Duration;

use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_kinesis::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::retry::{classify, ErrorKind};

/// Region used when neither a flag nor the AWS chain names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to reach Kinesis; every field is optional.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `-region`: overrides the standard chain.
    pub region: Option<String>,
    /// `-endpoint`: any Kinesis-compatible engine, e.g. `http://127.0.0.1:4567`.
    pub endpoint: Option<String>,
    /// Longest a whole call may take, retries included (the SDK sets none).
    pub operation_timeout: Duration,
    /// Longest a single attempt may take.
    pub attempt_timeout: Duration,
    /// Attempts the SDK itself makes before returning an error to our own
    /// retry loops (1 = leave all retrying to them).
    pub sdk_max_attempts: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            operation_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
            sdk_max_attempts: 1,
        }
    }
}

/// Which stream a name stands for: a stream deleted and created again keeps
/// its name and ARN, not its creation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamIdentity {
    /// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`.
    pub arn: String,
    /// `StreamCreationTimestamp` (millisecond precision).
    pub created: DateTime<Utc>,
}

impl StreamIdentity {
    /// The stream's name, from its ARN.
    pub fn name(&self) -> &str {
        self.arn
            .rsplit_once(":stream/")
            .map_or(self.arn.as_str(), |(_, name)| name)
    }
}

impl std::fmt::Display for StreamIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created {}",
            self.arn,
            self.created
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    }
}

/// A client and what it was resolved against (for error messages).
#[derive(Debug, Clone)]
pub struct Connection {
    pub client: Client,
    pub region: String,
    /// The endpoint in use when it is not AWS's default.
    pub endpoint: Option<String>,
}

/// The options could not become a client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid endpoint {0:?}: expected a URL such as http://127.0.0.1:4567")]
    BadEndpoint(String),
}

/// A stream could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream {stream:?} not found in region {region} at {at}; create it first (aws kinesis create-stream --stream-name {stream} --shard-count 1) or check the stream name, the region and the endpoint")]
    NotFound {
        stream: String,
        region: String,
        at: String,
    },
    #[error("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure` or `aws sso login`, or set AWS_PROFILE ({detail})")]
    NoCredentials { detail: String },
    #[error("cannot reach Kinesis at {at}: {detail}")]
    Unreachable { at: String, detail: String },
    #[error("access denied to stream {stream:?}: {detail}")]
    AccessDenied { stream: String, detail: String },
    #[error("stream {stream:?}: {detail}")]
    Other { stream: String, detail: String },
}

impl Connection {
    /// Where calls go, for messages: the endpoint, or AWS's regional one.
    pub fn location(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://kinesis.{}.amazonaws.com", self.region),
        }
    }

    /// Checks that `stream` exists and is reachable, turning the usual
    /// failures (unknown stream, no credentials, nothing listening) into an
    /// error that says what to do. Returns the stream's ARN.
    pub async fn check_stream(&self, stream: &str) -> Result<String, StreamError> {
        self.describe_stream(stream).await.map(|id| id.arn)
    }

    /// Like [`Connection::check_stream`], and returns which stream the name
    /// stands for now (ARN and creation time), e.g. to tie saved positions
    /// to it.
    pub async fn describe_stream(&self, stream: &str) -> Result<StreamIdentity, StreamError> {
        let mut backoff = crate::retry::Backoff::default();
        loop {
            match self
                .client
                .describe_stream_summary()
                .stream_name(stream)
                .send()
                .await
            {
                Ok(out) => {
                    let summary = out.stream_description_summary();
                    return Ok(StreamIdentity {
                        arn: summary
                            .map(|d| d.stream_arn().to_owned())
                            .unwrap_or_default(),
                        created: summary
                            .and_then(|d| d.stream_creation_timestamp().to_millis().ok())
                            .and_then(DateTime::from_timestamp_millis)
                            .unwrap_or_default(),
                    });
                }
                // Throttling and 5xx pass; nothing listening is reported at once.
                Err(err)
                    if matches!(classify(&err), ErrorKind::Transient | ErrorKind::Throttled)
                        && backoff.attempts() < 5 =>
                {
                    backoff.wait().await;
                }
                Err(err) => return Err(self.stream_error(stream, &err)),
            }
        }
    }

    /// Creates `stream` with `shards` shards unless it exists, then waits until
    /// it is ACTIVE. Idempotent: an existing stream is left as it is.
    pub async fn ensure_stream(&self, stream: &str, shards: i32) -> Result<(), StreamError> {
        let created = self
            .client
            .create_stream()
            .stream_name(stream)
            .shard_count(shards)
            .send()
            .await;
        if let Err(err) = created {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(self.stream_error(stream, &err));
            }
        }
        let mut backoff = crate::retry::Backoff::new(
            std::time::Duration::from_millis(20),
            std::time::Duration::from_secs(1),
        );
        loop {
            let summary = self
                .client
                .describe_stream_summary()
                .stream_name(stream)
                .send()
                .await
                .map_err(|err| self.stream_error(stream, &err))?;
            let active = summary.stream_description_summary().is_some_and(|d| {
                d.stream_status() == &aws_sdk_kinesis::types::StreamStatus::Active
            });
            if active {
                return Ok(());
            }
            if backoff.attempts() > 60 {
                return Err(StreamError::Other {
                    stream: stream.to_owned(),
                    detail: "stream did not become ACTIVE".to_owned(),
                });
            }
            backoff.wait().await;
        }
    }

    /// Explains an SDK error about `stream` in the user's terms.
    pub fn stream_error<E>(
        &self,
        stream: &str,
        err: &aws_sdk_kinesis::error::SdkError<E, aws_sdk_kinesis::config::http::HttpResponse>,
    ) -> StreamError
    where
        E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let detail = crate::retry::describe(err);
        match classify(err) {
            ErrorKind::NotFound => StreamError::NotFound {
                stream: stream.to_owned(),
                region: self.region.clone(),
                at: self.location(),
            },
            ErrorKind::NoCredentials => StreamError::NoCredentials { detail },
            ErrorKind::Unreachable => StreamError::Unreachable {
                at: self.location(),
                detail,
            },
            ErrorKind::AccessDenied => StreamError::AccessDenied {
                stream: stream.to_owned(),
                detail,
            },
            _ => StreamError::Other {
                stream: stream.to_owned(),
                detail,
            },
        }
    }
}

/// Whether `endpoint` names this machine (`localhost`, `127.x.y.z`, `[::1]`).
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn validate_endpoint(endpoint: &str) -> Result<(), ConnectError> {
    let ok = ["http://", "https://"]
        .iter()
        .any(|scheme| endpoint.len() > scheme.len() && endpoint.starts_with(scheme));
    if ok {
        Ok(())
    } else {
        Err(ConnectError::BadEndpoint(endpoint.to_owned()))
    }
}

/// How to build the SDK configuration of any AWS service (Kinesis here;
/// DynamoDB and S3 in the `process` crate), so that every tool resolves
/// region, credentials and endpoint alike.
#[derive(Debug, Clone)]
pub struct SdkOptions<'a> {
    /// `--region`: overrides the standard chain.
    pub region: Option<String>,
    /// `--endpoint`: overrides the standard variables.
    pub endpoint: Option<String>,
    /// The variables naming the endpoint when the flag does not, most
    /// specific first (the SDK reads them too; they decide whether the
    /// endpoint is local).
    pub endpoint_vars: &'a [&'a str],
    pub operation_timeout: Duration,
    pub attempt_timeout: Duration,
    /// Attempts the SDK itself makes (1 = leave all retrying to the caller).
    pub sdk_max_attempts: u32,
}

/// An SDK configuration and what it resolved to.
#[derive(Debug, Clone)]
pub struct Sdk {
    pub config: SdkConfig,
    pub region: String,
    /// The endpoint named by the flag or the environment, if any.
    pub endpoint: Option<String>,
}

/// Loads the SDK configuration from the options and the standard AWS chain.
pub async fn load_sdk(options: &SdkOptions<'_>) -> Result<Sdk, ConnectError> {
    let endpoint = options.endpoint.clone().or_else(|| {
        options
            .endpoint_vars
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    });
    if let Some(endpoint) = &endpoint {
        validate_endpoint(endpoint)?;
    }
    let local = endpoint.as_deref().is_some_and(is_loopback);
    let flag_region = options.region.clone().map(Region::new);

    let http = crate::https::client();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http.clone())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(options.operation_timeout)
                .operation_attempt_timeout(options.attempt_timeout)
                .build(),
        )
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(options.sdk_max_attempts.max(1)),
        );
    if local {
        // No instance metadata, no container credentials: a local engine
        // accepts anything, so a missing configuration is not an error.
        let files = ProviderConfig::default().with_http_client(http);
        let region = RegionProviderChain::first_try(flag_region)
            .or_else(aws_config::environment::region::EnvironmentVariableRegionProvider::new())
            .or_else(
                aws_config::profile::ProfileFileRegionProvider::builder()
                    .configure(&files)
                    .build(),
            )
            .or_else(Region::new(DEFAULT_REGION));
        let credentials = CredentialsProviderChain::first_try(
            "Environment",
            aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
        )
        .or_else(
            "Profile",
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(&files)
                .build(),
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
    if let Some(endpoint) = &options.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map_or_else(|| DEFAULT_REGION.to_owned(), |r| r.to_string());
    Ok(Sdk {
        config,
        region,
        endpoint,
    })
}

/// Builds a Kinesis client from the options and the standard AWS chain.
pub async fn connect(options: &ConnectOptions) -> Result<Connection, ConnectError> {
    let sdk = load_sdk(&SdkOptions {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        endpoint_vars: &["AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"],
        operation_timeout: options.operation_timeout,
        attempt_timeout: options.attempt_timeout,
        sdk_max_attempts: options.sdk_max_attempts,
    })
    .await?;
    Ok(Connection {
        client: Client::new(&sdk.config),
        region: sdk.region,
        endpoint: sdk.endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_loopback_endpoints() {
        for yes in [
            "http://127.0.0.1:4567",
            "http://localhost:4567/",
            "https://LOCALHOST",
            "http://[::1]:4567",
            "http://127.1.2.3",
            "http://user@127.0.0.1:80/path",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://kinesis.us-east-1.amazonaws.com",
            "http://10.0.0.1:4567",
            "http://localhost.example.com",
            "http://[2001:db8::1]:4567",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn rejects_endpoints_without_scheme() {
        assert!(validate_endpoint("127.0.0.1:4567").is_err());
        assert!(validate_endpoint("http://").is_err());
        assert!(validate_endpoint("http://127.0.0.1:4567").is_ok());
    }

    #[tokio::test]
    async fn loopback_without_configuration_gets_a_region_and_credentials() {
        // Only the flag matters here: the environment may hold anything.
        let conn = connect(&ConnectOptions {
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            ..ConnectOptions::default()
        })
        .await
        .unwrap();
        assert_eq!(conn.region, "eu-west-1");
        assert_eq!(conn.location(), "http://127.0.0.1:9");
    }
}
