//! The polling side of the reader: shard listing and one GetRecords loop
//! per shard (the `fanout` module is the enhanced fan-out side).

use super::*;

async fn list_shards(conn: &Connection, stream: &str) -> Result<Vec<ShardInfo>, ReadError> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = match &token {
            Some(t) => conn.client.list_shards().next_token(t),
            None => conn.client.list_shards().stream_name(stream),
        };
        match request.send().await {
            Ok(out) => {
                backoff.reset();
                for shard in out.shards() {
                    let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                        .into_iter()
                        .flatten()
                        .map(str::to_owned)
                        .collect();
                    let open = shard
                        .sequence_number_range()
                        .is_none_or(|r| r.ending_sequence_number().is_none());
                    shards.push(ShardInfo {
                        id: shard.shard_id().to_owned(),
                        parents,
                        open,
                    });
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => return Ok(shards),
                }
            }
            Err(err) => {
                match classify(&err) {
                    ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Unreachable => {
                        tracing::warn!(stream, error = %describe(&err), "listing shards, retrying");
                        backoff.wait().await;
                    }
                    ErrorKind::ExpiredIterator if token.is_some() => {
                        // An expired pagination token: start the listing over.
                        token = None;
                        shards.clear();
                    }
                    _ => return Err(fatal(conn, stream, &err)),
                }
            }
        }
    }
}

pub(super) async fn list_loop(
    conn: Connection,
    stream: String,
    fan_out: Option<String>,
    every: Duration,
    relist: std::sync::Arc<Relist>,
    tx: mpsc::Sender<Msg>,
) {
    if let Some(name) = fan_out {
        let msg = match fanout::ensure_consumer(&conn, &stream, &name).await {
            Ok(arn) => Msg::Consumer(arn),
            Err(err) => Msg::Error(err),
        };
        let failed = matches!(msg, Msg::Error(_));
        if tx.send(msg).await.is_err() || failed {
            return;
        }
    }
    loop {
        let asked = relist.asked.load(Ordering::SeqCst);
        let msg = match list_shards(&conn, &stream).await {
            Ok(shards) => Msg::Shards { asked, shards },
            Err(err) => {
                let _ = tx.send(Msg::Error(err)).await;
                return;
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = relist.notify.notified() => {}
        }
    }
}

pub(super) fn convert(record: aws_sdk_kinesis::types::Record) -> Record {
    let arrival = record
        .approximate_arrival_timestamp()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
    let sequence_number = record.sequence_number().to_owned();
    let partition_key = record.partition_key().unwrap_or_default().to_owned();
    Record {
        sequence_number,
        partition_key,
        arrival,
        data: Bytes::from(record.data.into_inner()),
    }
}

/// Where to start instead when Kinesis refuses `begin` as an invalid
/// argument: a sequence number of another shard means the trim horizon; a
/// time ahead of the service's clock (this machine's clock runs fast) means
/// latest. `None`: the refusal is an error.
pub(super) fn refused_start(
    begin: &Begin,
    shard: &str,
    err: &dyn std::fmt::Display,
) -> Option<Begin> {
    let (instead, why) = match begin {
        Begin::At(_) | Begin::After(_) => (
            ShardIteratorType::TrimHorizon,
            "sequence number not in this shard; reading it from the trim horizon",
        ),
        Begin::Timestamp(_) => (
            ShardIteratorType::Latest,
            "start time refused (is this machine's clock ahead?); reading from latest",
        ),
        Begin::Type(_) => return None,
    };
    tracing::warn!(shard, error = %err, "{why}");
    Some(Begin::Type(instead))
}

/// Gets an iterator for `begin`, retrying transient errors; a refused start
/// falls back as [`refused_start`] says.
async fn iterator(
    conn: &Connection,
    stream: &str,
    shard: &str,
    begin: &Begin,
) -> Result<Option<String>, ReadError> {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut begin = begin.clone();
    loop {
        let mut request = conn
            .client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard);
        request = match &begin {
            Begin::Type(t) => request.shard_iterator_type(t.clone()),
            Begin::Timestamp(t) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    t.timestamp_millis(),
                )),
            Begin::At(s) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(s),
            Begin::After(s) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(s),
        };
        match request.send().await {
            Ok(out) => return Ok(out.shard_iterator().map(str::to_owned)),
            Err(err) => {
                let invalid = err
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_argument_exception());
                if let Some(instead) = invalid
                    .then(|| refused_start(&begin, shard, &describe(&err)))
                    .flatten()
                {
                    begin = instead;
                    continue;
                }
                match classify(&err) {
                    ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Unreachable => {
                        tracing::warn!(shard, error = %describe(&err), "getting a shard iterator, retrying");
                        backoff.wait().await;
                    }
                    _ => return Err(fatal(conn, stream, &err)),
                }
            }
        }
    }
}

pub(super) async fn shard_loop(
    conn: Connection,
    options: ReaderOptions,
    shard: String,
    start: Begin,
    tx: mpsc::Sender<Msg>,
) {
    if let Err(err) = read_shard(&conn, &options, &shard, start, &tx).await {
        let _ = tx.send(Msg::Error(err)).await;
    }
}

async fn read_shard(
    conn: &Connection,
    options: &ReaderOptions,
    shard: &str,
    start: Begin,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), ReadError> {
    let stream = options.stream.as_str();
    let mut last_sequence: Option<String> = None;
    // `latest` means "from now": if the iterator expires before any record,
    // resume at this time rather than at a later "latest".
    let start = match start {
        Begin::Type(ShardIteratorType::Latest) => {
            let now = Utc::now();
            let it = iterator(conn, stream, shard, &start).await?;
            (Begin::Timestamp(now), it)
        }
        other => {
            let it = iterator(conn, stream, shard, &other).await?;
            (other, it)
        }
    };
    let (start, mut it) = start;
    let mut errors = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut throttled = Backoff::new(MIN_POLL_INTERVAL, Duration::from_secs(5));
    let mut idle_polls: u32 = 0;
    let mut last_call: Option<Instant> = None;
    let mut wait = Duration::ZERO;
    loop {
        let Some(current) = it.clone() else {
            // No iterator at all: the shard is closed and fully read.
            let batch = Batch {
                shard_id: shard.to_owned(),
                records: Vec::new(),
                millis_behind_latest: 0,
                shard_ended: true,
                caught_up: false,
            };
            let _ = tx.send(Msg::Batch(batch)).await;
            return Ok(());
        };
        // Never more than 5 calls per second.
        let earliest = last_call.map(|t| t + wait.max(MIN_POLL_INTERVAL));
        if let Some(earliest) = earliest {
            tokio::time::sleep_until(earliest).await;
        }
        last_call = Some(Instant::now());
        let result = conn
            .client
            .get_records()
            .shard_iterator(&current)
            .limit(options.limit)
            .send()
            .await;
        match result {
            Ok(out) => {
                errors.reset();
                throttled.reset();
                let behind = out.millis_behind_latest().unwrap_or(0);
                let next = out.next_shard_iterator().map(str::to_owned);
                let records: Vec<Record> = out.records.into_iter().map(convert).collect();
                if let Some(last) = records.last() {
                    last_sequence = Some(last.sequence_number.clone());
                }
                let ended = next.is_none();
                wait = if !records.is_empty() || behind > 0 {
                    idle_polls = 0;
                    Duration::ZERO
                } else {
                    idle_polls = idle_polls.saturating_add(1);
                    // After ~30 idle polls, slow down gradually.
                    let extra = idle_polls.saturating_sub(30).min(50);
                    (options.poll_interval + options.poll_interval * extra / 10)
                        .min(options.idle_poll_max)
                };
                let batch = Batch {
                    shard_id: shard.to_owned(),
                    records,
                    millis_behind_latest: behind,
                    shard_ended: ended,
                    caught_up: false,
                };
                if tx.send(Msg::Batch(batch)).await.is_err() {
                    return Ok(());
                }
                if ended {
                    return Ok(());
                }
                it = next;
            }
            Err(err) => match classify(&err) {
                ErrorKind::ExpiredIterator => {
                    tracing::debug!(shard, "iterator expired, getting a new one");
                    let begin = match &last_sequence {
                        Some(seq) => Begin::After(seq.clone()),
                        None => start.clone(),
                    };
                    it = iterator(conn, stream, shard, &begin).await?;
                    wait = Duration::ZERO;
                }
                ErrorKind::Throttled => {
                    tracing::debug!(shard, "read throughput exceeded, backing off");
                    wait = throttled.next_delay();
                }
                // The reader is gone (the program is ending): connections
                // closing under it are no failure.
                _ if tx.is_closed() => return Ok(()),
                ErrorKind::Transient | ErrorKind::Unreachable => {
                    tracing::warn!(shard, error = %describe(&err), "reading shard, retrying");
                    wait = errors.next_delay();
                }
                _ => return Err(fatal(conn, stream, &err)),
            },
        }
    }
}
