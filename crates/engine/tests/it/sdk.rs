//! Every action and error through the AWS SDK for Rust against the in-process engine.

use crate::common;

use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::create_stream::CreateStreamError;
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::put_record::PutRecordError;
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::operation::split_shard::SplitShardError;
use aws_sdk_kinesis::operation::update_shard_count::UpdateShardCountError;
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ScalingType, ShardFilter, ShardFilterType, ShardIteratorType,
    StreamMode, StreamModeDetails, StreamStatus,
};
use common::{blob, client, create, iterator};
use engine::{Config, ManualClock};

fn entry(pk: &str, data: &str) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(pk)
        .data(blob(data))
        .build()
        .unwrap()
}

#[path = "sdk/encryption.rs"]
mod encryption;
#[path = "sdk/errors.rs"]
mod errors;
#[path = "sdk/records.rs"]
mod records;
#[path = "sdk/shards.rs"]
mod shards;
#[path = "sdk/streams.rs"]
mod streams;
