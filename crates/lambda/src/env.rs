//! Function settings from environment variables (`deploy/template.yaml`
//! sets them on each function).

/// The stream the aggregate function writes its summaries to.
pub const SUMMARY_STREAM: &str = "SUMMARY_STREAM";
/// The DynamoDB table the process and load functions write to.
pub const TABLE_NAME: &str = "TABLE_NAME";
/// The SNS topic the alert function publishes to.
pub const TOPIC_ARN: &str = "TOPIC_ARN";
/// The DynamoDB table keeping the alert detector's state per shard.
pub const STATE_TABLE: &str = "STATE_TABLE";
/// The alert threshold (default 50).
pub const MAGIC_POINTS_THRESHOLD: &str = "MAGIC_POINTS_THRESHOLD";
/// The stream alert records are also written to (optional).
pub const ALERT_STREAM: &str = "ALERT_STREAM";

/// A setting is missing or unusable, or a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var} is not set; deploy/template.yaml sets it on the function (set it yourself to run the binary elsewhere)")]
    Missing { var: &'static str },
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot build the AWS client: {0}")]
    Client(String),
}

/// The value of `var`, which must be set and not empty.
pub fn required(var: &'static str) -> Result<String, ConfigError> {
    optional(var).ok_or(ConfigError::Missing { var })
}

/// The value of `var` when it is set and not empty.
pub fn optional(var: &'static str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
