//! The batch writer against scripted service responses: only failed entries
//! are resent, in order; throttling and 5xx are retried; fatal errors end.

use std::time::Duration;

use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_sdk_kinesis::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use kinesis::writer::{BatchWriter, Record, WriteError};
use kinesis::Connection;

fn ok(seq: &str) -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .shard_id("shardId-000000000000")
        .sequence_number(seq)
        .build()
}

fn failed(code: &str) -> PutRecordsResultEntry {
    PutRecordsResultEntry::builder()
        .error_code(code)
        .error_message("scripted")
        .build()
}

fn output(entries: Vec<PutRecordsResultEntry>) -> PutRecordsOutput {
    let failed = entries.iter().filter(|e| e.error_code().is_some()).count() as i32;
    PutRecordsOutput::builder()
        .set_records(Some(entries))
        .failed_record_count(failed)
        .build()
        .unwrap()
}

/// Error metadata as the SDK reads it off a real error response.
fn meta(code: &str) -> aws_sdk_kinesis::error::ErrorMetadata {
    aws_sdk_kinesis::error::ErrorMetadata::builder()
        .code(code)
        .message("scripted")
        .build()
}

fn writer(client: Client) -> BatchWriter {
    let conn = Connection {
        client,
        region: "us-east-1".into(),
        endpoint: Some("http://127.0.0.1:4567".into()),
    };
    BatchWriter::new(conn, "wildrydes")
        .with_backoff(Duration::from_millis(100), Duration::from_secs(2))
}

fn keys(records: &[aws_sdk_kinesis::types::PutRecordsRequestEntry]) -> Vec<&str> {
    records.iter().filter_map(|r| r.partition_key()).collect()
}

#[tokio::test(start_paused = true)]
async fn only_failed_entries_are_resent_in_request_order() {
    let first = mock!(Client::put_records)
        .match_requests(|r| keys(r.records()) == ["a", "b", "c", "d"])
        .then_output(|| {
            output(vec![
                ok("1"),
                failed("ProvisionedThroughputExceededException"),
                ok("2"),
                failed("InternalFailure"),
            ])
        });
    let second = mock!(Client::put_records)
        .match_requests(|r| keys(r.records()) == ["b", "d"])
        .then_output(|| {
            output(vec![
                failed("ProvisionedThroughputExceededException"),
                ok("3"),
            ])
        });
    let third = mock!(Client::put_records)
        .match_requests(|r| keys(r.records()) == ["b"])
        .then_output(|| output(vec![ok("4")]));
    let client = mock_client!(
        aws_sdk_kinesis,
        RuleMode::Sequential,
        [&first, &second, &third]
    );
    let writer = writer(client);
    let started = tokio::time::Instant::now();
    let acked = writer
        .put_records(
            ["a", "b", "c", "d"]
                .map(|k| Record::new(k, k.as_bytes()))
                .to_vec(),
        )
        .await
        .unwrap();
    let seqs: Vec<_> = acked.iter().map(|a| a.sequence_number.as_str()).collect();
    assert_eq!(seqs, ["1", "4", "2", "3"], "results in request order");
    assert_eq!(
        (first.num_calls(), second.num_calls(), third.num_calls()),
        (1, 1, 1)
    );
    let stats = writer.stats();
    assert_eq!(stats.sent.load(std::sync::atomic::Ordering::Relaxed), 4);
    assert_eq!(stats.retried.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(
        stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    // Two backoffs: the first within [50, 100] ms, the second within [100, 200] ms.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited <= Duration::from_millis(300),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_are_retried_until_they_succeed() {
    let throttled = mock!(Client::put_records)
        .sequence()
        .error(|| {
            aws_sdk_kinesis::operation::put_records::PutRecordsError::ProvisionedThroughputExceededException(
                aws_sdk_kinesis::types::error::ProvisionedThroughputExceededException::builder()
                    .message("slow down")
                    .meta(meta("ProvisionedThroughputExceededException"))
                    .build(),
            )
        })
        .times(5)
        .output(|| output(vec![ok("9")]))
        .build();
    // As `kinesis::connect` configures it: the SDK makes one attempt and
    // leaves retrying to the writer.
    let client = mock_client!(aws_sdk_kinesis, RuleMode::Sequential, [&throttled], |c| {
        c.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
    });
    let writer = writer(client);
    let acked = writer
        .put_records(vec![Record::new("k", b"x".to_vec())])
        .await
        .unwrap();
    assert_eq!(acked[0].sequence_number, "9");
    assert_eq!(throttled.num_calls(), 6);
    assert_eq!(
        writer
            .stats()
            .retried
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_stream_ends_the_write_with_a_clear_error() {
    let missing = mock!(Client::put_records).then_error(|| {
        aws_sdk_kinesis::operation::put_records::PutRecordsError::ResourceNotFoundException(
            aws_sdk_kinesis::types::error::ResourceNotFoundException::builder()
                .message("Stream wildrydes under account 000000000000 not found.")
                .meta(meta("ResourceNotFoundException"))
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::Sequential, [&missing]);
    let writer = writer(client);
    let err = writer
        .put_records(vec![Record::new("k", b"x".to_vec())])
        .await
        .unwrap_err();
    assert!(matches!(err, WriteError::Stream(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "stream \"wildrydes\" not found in region us-east-1 at http://127.0.0.1:4567"
        ),
        "{text}"
    );
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_entry_is_not_retried() {
    let rejected = mock!(Client::put_records)
        .then_output(|| output(vec![ok("1"), failed("ValidationException")]));
    let client = mock_client!(aws_sdk_kinesis, RuleMode::Sequential, [&rejected]);
    let err = writer(client)
        .put_records(vec![
            Record::new("a", b"x".to_vec()),
            Record::new("b", b"y".to_vec()),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, WriteError::Rejected { ref code, .. } if code == "ValidationException"),
        "{err:?}"
    );
}
