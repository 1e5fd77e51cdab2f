//! The reader's polling against scripted responses, in paused (virtual) time:
//! at once while a shard is behind but never more than 5 GetRecords calls per
//! second per shard, slower and slower while idle, backing off on
//! ProvisionedThroughputExceeded without losing a record, ending at once when
//! access is denied.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kinesis::operation::get_records::{GetRecordsError, GetRecordsOutput};
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorOutput;
use aws_sdk_kinesis::operation::list_shards::ListShardsOutput;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange, Shard};
use aws_sdk_kinesis::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use kinesis::{Connection, Reader, ReaderOptions, StartPosition};
use tokio::time::Instant;

type Calls = Arc<Mutex<Vec<Instant>>>;

fn shards_rule() -> Rule {
    mock!(Client::list_shards).then_output(|| {
        ListShardsOutput::builder()
            .shards(
                Shard::builder()
                    .shard_id("shardId-000000000000")
                    .hash_key_range(
                        HashKeyRange::builder()
                            .starting_hash_key("0")
                            .ending_hash_key("340282366920938463463374607431768211455")
                            .build()
                            .unwrap(),
                    )
                    .sequence_number_range(
                        SequenceNumberRange::builder()
                            .starting_sequence_number("1")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    })
}

fn iterator_rule() -> Rule {
    mock!(Client::get_shard_iterator).then_output(|| {
        GetShardIteratorOutput::builder()
            .shard_iterator("it")
            .build()
    })
}

/// Never matches: notes the (virtual) time of every GetRecords call.
fn spy_rule(calls: Calls) -> Rule {
    mock!(Client::get_records)
        .match_requests(move |_| {
            calls.lock().unwrap().push(Instant::now());
            false
        })
        .then_output(|| GetRecordsOutput::builder().build().unwrap())
}

/// The first `times` GetRecords calls are refused with ProvisionedThroughputExceeded.
fn throttled_rule(times: usize) -> Rule {
    mock!(Client::get_records)
        .sequence()
        .error(|| {
            GetRecordsError::ProvisionedThroughputExceededException(
                aws_sdk_kinesis::types::error::ProvisionedThroughputExceededException::builder()
                    .message("Rate exceeded for shard")
                    .meta(
                        aws_sdk_kinesis::error::ErrorMetadata::builder()
                            .code("ProvisionedThroughputExceededException")
                            .build(),
                    )
                    .build(),
            )
        })
        .times(times)
        .build()
}

/// Answers with `records` records per call (data counting up from 1) and
/// `behind` MillisBehindLatest.
fn ok_records_rule(next: Arc<Mutex<u64>>, records: usize, behind: i64) -> Rule {
    mock!(Client::get_records).then_output(move || {
        let mut next = next.lock().unwrap();
        let batch = (0..records)
            .map(|_| {
                *next += 1;
                aws_sdk_kinesis::types::Record::builder()
                    .sequence_number(format!("{:020}", *next))
                    .partition_key("k")
                    .data(Blob::new(next.to_string()))
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        GetRecordsOutput::builder()
            .set_records(Some(batch))
            .next_shard_iterator("it")
            .millis_behind_latest(behind)
            .build()
            .unwrap()
    })
}

fn connection(client: Client) -> Connection {
    Connection {
        client,
        region: "us-east-1".into(),
        endpoint: Some("http://127.0.0.1:4567".into()),
    }
}

/// Reads until `calls` GetRecords calls were made; returns the data read.
async fn read_until(reader: &mut Reader, calls: &Calls, n: usize) -> Vec<u64> {
    let mut data = Vec::new();
    while calls.lock().unwrap().len() < n {
        let batch = reader.next().await.expect("read");
        data.extend(batch.records.iter().map(|r| {
            std::str::from_utf8(&r.data)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        }));
    }
    data
}

fn gaps(calls: &Calls) -> Vec<Duration> {
    let calls = calls.lock().unwrap();
    calls.windows(2).map(|w| w[1] - w[0]).collect()
}

fn client(calls: &Calls, records: usize, behind: i64, throttled: usize) -> Client {
    let ok = ok_records_rule(Arc::default(), records, behind);
    let spy = spy_rule(calls.clone());
    let (shards, iterator) = (shards_rule(), iterator_rule());
    // Only the reader retries: the SDK makes one attempt, as `connect` sets it.
    let disabled = aws_sdk_kinesis::config::retry::RetryConfig::disabled;
    if throttled > 0 {
        let refused = throttled_rule(throttled);
        mock_client!(
            aws_sdk_kinesis,
            RuleMode::MatchAny,
            [&shards, &iterator, &spy, &refused, &ok],
            |c| c.retry_config(disabled())
        )
    } else {
        mock_client!(
            aws_sdk_kinesis,
            RuleMode::MatchAny,
            [&shards, &iterator, &spy, &ok],
            |c| c.retry_config(disabled())
        )
    }
}

#[tokio::test(start_paused = true)]
async fn a_shard_that_is_behind_is_read_at_5_calls_per_second_not_more() {
    let calls: Calls = Arc::default();
    let conn = connection(client(&calls, 100, 60_000, 0));
    let mut reader = Reader::start(
        conn,
        ReaderOptions::new("wildrydes", StartPosition::TrimHorizon),
    );
    let data = read_until(&mut reader, &calls, 21).await;
    let gaps = gaps(&calls);
    assert!(gaps.len() >= 20);
    for gap in &gaps {
        assert!(
            *gap >= Duration::from_millis(200),
            "at most 5 calls/s: {gaps:?}"
        );
        assert!(
            *gap < Duration::from_millis(250),
            "no idle wait while behind: {gaps:?}"
        );
    }
    assert_eq!(
        data,
        (1..=data.len() as u64).collect::<Vec<_>>(),
        "every record, in order"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_shard_is_polled_less_and_less_often() {
    let calls: Calls = Arc::default();
    let conn = connection(client(&calls, 0, 0, 0));
    let mut reader = Reader::start(
        conn,
        ReaderOptions::new("wildrydes", StartPosition::TrimHorizon),
    );
    read_until(&mut reader, &calls, 120).await;
    let gaps = gaps(&calls);
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(200)),
        "{gaps:?}"
    );
    let last = *gaps.last().unwrap();
    assert!(
        last >= Duration::from_millis(900) && last <= Duration::from_millis(1100),
        "an idle shard ends up polled about once a second: {last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_reads_back_off_and_lose_nothing() {
    let calls: Calls = Arc::default();
    let conn = connection(client(&calls, 10, 5_000, 4));
    let mut reader = Reader::start(
        conn,
        ReaderOptions::new("wildrydes", StartPosition::TrimHorizon),
    );
    let data = read_until(&mut reader, &calls, 8).await;
    let gaps = gaps(&calls);
    // Four refusals: waits grow (jittered exponential backoff) ...
    let refused: Vec<_> = gaps[..4].to_vec();
    assert!(
        refused.iter().all(|g| *g >= Duration::from_millis(100)),
        "{gaps:?}"
    );
    assert!(
        refused.iter().sum::<Duration>() >= Duration::from_millis(800),
        "backs off, not retried at the normal pace: {gaps:?}"
    );
    // ... then reading goes on at the normal pace, from where it was.
    assert!(
        gaps[4..].iter().all(|g| *g < Duration::from_millis(250)),
        "{gaps:?}"
    );
    assert_eq!(data, (1..=data.len() as u64).collect::<Vec<_>>());
    assert!(data.len() >= 30, "{}", data.len());
}

#[tokio::test(start_paused = true)]
async fn access_denied_ends_the_read_with_a_clear_error() {
    let denied = mock!(Client::get_records).then_error(|| {
        GetRecordsError::generic(
            aws_sdk_kinesis::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message(
                    "User: arn:aws:iam::1:user/hq is not authorized to perform: kinesis:GetRecords",
                )
                .build(),
        )
    });
    let (shards, iterator) = (shards_rule(), iterator_rule());
    let client = mock_client!(
        aws_sdk_kinesis,
        RuleMode::MatchAny,
        [&shards, &iterator, &denied],
        |c| c.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
    );
    let mut reader = Reader::start(
        connection(client),
        ReaderOptions::new("wildrydes", StartPosition::TrimHorizon),
    );
    let started = Instant::now();
    let err = loop {
        match reader.next().await {
            Ok(batch) => assert!(batch.records.is_empty()),
            Err(err) => break err,
        }
    };
    // Not retried: a missing permission does not fix itself.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains("access denied to stream \"wildrydes\"")
            && message.contains("not authorized to perform: kinesis:GetRecords"),
        "{message}"
    );
}
