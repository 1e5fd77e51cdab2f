//! An in-process engine on 127.0.0.1:0 and an SDK client for it.

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::Client;

pub struct Engine {
    pub endpoint: String,
    pub client: Client,
    _handle: engine::EngineHandle,
}

impl Engine {
    pub async fn start() -> Self {
        Self::with_config(engine::Config::default()).await
    }

    /// An engine that fails this fraction of PutRecords entries.
    pub async fn start_with_failing_entries(ratio: f64) -> Self {
        Self::with_config(engine::Config {
            fail_entry_ratio: ratio,
            ..engine::Config::default()
        })
        .await
    }

    async fn with_config(config: engine::Config) -> Self {
        let handle = engine::spawn(config).await.expect("engine starts");
        let endpoint = handle.url();
        let config = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&endpoint)
            .build();
        Self {
            endpoint,
            client: Client::from_conf(config),
            _handle: handle,
        }
    }

    pub async fn create_stream(&self, name: &str, shards: i32) {
        self.client
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("stream created");
    }
}
