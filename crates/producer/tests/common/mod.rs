//! An in-process engine on 127.0.0.1:0 and an SDK client for it.

use aws_sdk_kinesis::Client;

pub struct Engine {
    pub endpoint: String,
    pub client: Client,
    _engine: testkit::Engine,
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
        let engine = testkit::Engine::with_config(config).await;
        Self {
            endpoint: engine.url.clone(),
            client: engine.kinesis(),
            _engine: engine,
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
