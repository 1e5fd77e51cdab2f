//! The batch writer against scripted service responses: only failed entries
//! are resent, in order; throttling and 5xx are retried; fatal errors end.

use std::time::Duration;

use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_sdk_kinesis::Client;
use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
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
    // Two backoffs, each within [50, 100] ms: both calls stored entries, so
    // neither wait grew.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited <= Duration::from_millis(200),
        "{waited:?}"
    );
}

/// Accepts the first entry of each call and fails the others, like a
/// service that fails most entries of every call.
fn first_entry_only(
    request: &aws_sdk_kinesis::operation::put_records::PutRecordsInput,
) -> PutRecordsOutput {
    let n = request.records().len();
    let mut entries = vec![ok(&format!("{}", 100 - n))];
    entries.extend((1..n).map(|_| failed("InternalFailure")));
    output(entries)
}

fn internal_failure() -> aws_sdk_kinesis::operation::put_records::PutRecordsError {
    aws_sdk_kinesis::operation::put_records::PutRecordsError::generic(meta("InternalFailure"))
}

#[tokio::test(start_paused = true)]
async fn a_call_that_stored_entries_resets_the_backoff() {
    // Eight records, one stored per call: seven waits. Reset after each
    // partial success, every wait is within [50, 100] ms; growing, they
    // would have taken at least 50+100+200+400+800+1000+1000 ms.
    let partial = mock!(Client::put_records).then_compute_output(first_entry_only);
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&partial]);
    let partial_writer = writer(client);
    let started = tokio::time::Instant::now();
    let records: Vec<Record> = (0..8).map(|i| Record::new(format!("k{i}"), "x")).collect();
    let acked = partial_writer.put_records(records).await.unwrap();
    assert_eq!(acked.len(), 8);
    assert_eq!(partial.num_calls(), 8);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited <= Duration::from_millis(700),
        "{waited:?}"
    );

    // Failed calls still back off more and more; progress starts over:
    // waits of [50, 100], [100, 200], then (reset) [50, 100], [100, 200] ms.
    // Calls 1, 2 and 4 fail as a whole; 3 and 5 store one entry each.
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mixed = mock!(Client::put_records).then_compute_response(move |request| {
        match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 | 1 | 3 => MockResponse::Error(internal_failure()),
            _ => MockResponse::Output(first_entry_only(request)),
        }
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&mixed], |c| {
        c.retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
    });
    let mixed_writer = writer(client);
    let started = tokio::time::Instant::now();
    let records = vec![Record::new("a", "x"), Record::new("b", "y")];
    mixed_writer.put_records(records).await.unwrap();
    assert_eq!(mixed.num_calls(), 5);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited <= Duration::from_millis(600),
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
