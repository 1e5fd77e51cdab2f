//! GetShardIterator and GetRecords: positions, disk and cache reads.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::front::error::{err, internal, ApiError, Code};
use crate::kinesis::iterator::*;
use crate::kinesis::meta::RecordEncryption;
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT, MAX_GET_BYTES};
use crate::store::read::{read_disk, DiskPlan, ReadError};

impl Engine {
    // ---- reads -----------------------------------------------------------

    /// What reading `shard` of `s` from disk between `from` and `upto` needs.
    pub(crate) fn disk_plan(
        st: &State,
        s: &Stream,
        shard: usize,
        from: u64,
        upto: u64,
        limit: usize,
        min_ts: u64,
    ) -> Option<DiskPlan> {
        let store = st.store.as_ref()?;
        let sh = s.shards.get(shard)?;
        if from >= upto || sh.index.is_empty() {
            return None;
        }
        let (entries, next) = sh.entries_from(from, limit.saturating_add(2).min(1024));
        let upto = next.map_or(upto, |n| n.min(upto));
        let files = entries
            .iter()
            .filter_map(|e| {
                let seg = store.segs.get(&e.seg)?;
                Some((e.seg, (seg.file.clone(), seg.len)))
            })
            .collect();
        Some(DiskPlan {
            files,
            entries,
            incarnation: s.meta.incarnation,
            shard: shard as u32,
            from,
            upto,
            limit,
            max_bytes: MAX_GET_BYTES,
            min_ts,
        })
    }

    /// Reads from disk. A damaged frame is a non-retryable 400 for that
    /// position (it stays unreadable until a repair) and an ERROR log.
    pub(crate) async fn read_disk(plan: DiskPlan) -> Result<(Vec<(u64, Rec)>, u64), ApiError> {
        let (shard, from) = (plan.shard as usize, plan.from);
        tokio::task::spawn_blocking(move || read_disk(&plan))
            .await
            .map_err(|e| internal(format!("read task failed: {e}")))?
            .map_err(|e| match e {
                ReadError::Damaged {
                    path,
                    offset,
                    reason,
                } => {
                    tracing::error!(
                        path = %path.display(),
                        offset,
                        reason,
                        shard = %shard_id(shard),
                        position = from,
                        "a damaged frame on disk makes records unreadable; stop the engine and run `wildrydes repair` on its data dir"
                    );
                    err(
                        Code::InvalidArgumentException,
                        format!(
                            "Records of shard {} from sequence number {} cannot be read: the engine's log file {} is damaged at offset {offset} ({reason}). Reading this position fails until the data dir is repaired (`wildrydes repair`); read from a later position to skip it.",
                            shard_id(shard),
                            record_seq(shard, from),
                            path.display()
                        ),
                    )
                }
                ReadError::Io(e) => internal(format!("storage failure: {e}")),
            })
    }

    /// GetShardIterator, or the starting position of `action` (errors name it).
    pub(crate) async fn get_shard_iterator(&self, r: GetShardIterator, action: &str) -> ApiResult {
        let name = r.stream.name()?;
        let raw_sid = r.shard_id.as_str();
        let kind = r.shard_iterator_type.as_str();
        let start_seq = r.starting_sequence_number.as_deref();
        let at = r.timestamp;
        let now = self.now();
        let idx = parse_shard_id(raw_sid).ok_or_else(|| {
            err(
                Code::ResourceNotFoundException,
                format!("Could not find shard {raw_sid} in stream {name} under account {ACCOUNT}."),
            )
        })?;
        let sid = shard_id(idx);
        let sid = sid.as_str();
        let (pos, plan, incarnation, idx) = {
            let mut st = self.lock();
            st.trim(&name, now);
            let shard_not_found = || shard_not_found(&name, idx);
            match st.streams.get(&name) {
                // A stream being created has no shards yet.
                Some(s) if self.status(s) != "CREATING" => {}
                _ => return Err(shard_not_found()),
            }
            let st = &*st;
            let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
            if idx >= s.shards.len() {
                return Err(shard_not_found());
            }
            let either = |with: &str| {
                err(
                    Code::InvalidArgumentException,
                    format!("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {kind} and {with} StartingSequenceNumber."),
                )
            };
            if start_seq.is_some() && matches!(kind, "TRIM_HORIZON" | "LATEST") {
                return Err(either("also a"));
            }
            let closed_end = s.meta.shards[idx].closed_end;
            let shard = &s.shards[idx];
            let by_seq = |after: bool| -> Result<u64, ApiError> {
                let sq = start_seq.ok_or_else(|| either("no"))?;
                let (i, n) = parse_seq(sq).ok_or_else(|| {
                    err(Code::InvalidArgumentException,
                        format!("StartingSequenceNumber {sq} used in {action} on shard {sid} in stream {name} under account {ACCOUNT} is invalid."),
                    )
                })?;
                if i != idx {
                    return Err(err(Code::InvalidArgumentException,
                        format!("Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {sid}", shard_id(i)),
                    ));
                }
                // Counter n is "after the record at n - 1" and the record at n - 1.
                Ok(if after { n } else { n.saturating_sub(1) })
            };
            let latest = closed_end.unwrap_or_else(|| shard.visible_end());
            let mut plan = None;
            let pos = match kind {
                "TRIM_HORIZON" => shard.base,
                "LATEST" => latest,
                "AT_SEQUENCE_NUMBER" => by_seq(false)?,
                "AFTER_SEQUENCE_NUMBER" => by_seq(true)?,
                "AT_TIMESTAMP" => {
                    let t = at.ok_or_else(|| {
                        err(Code::InvalidArgumentException,
                            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.",
                        )
                    })?;
                    if t > now {
                        return Err(err(Code::InvalidArgumentException,
                            format!("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {t}, currentTimestampInMillis: {now}"),
                        ));
                    }
                    let first = shard.first_cached();
                    let skip = shard
                        .cache
                        .iter()
                        .skip((first - shard.cache_base()) as usize)
                        .take_while(|r| r.ts_ms < t)
                        .count() as u64;
                    if skip == 0 {
                        // Records before the cache may be at or after `t`: find the
                        // first one on disk.
                        let k = shard.index.partition_point(|e| e.first_ts < t);
                        let from = match k.checked_sub(1) {
                            Some(k) => shard.index[k].first_pos,
                            None => shard.base,
                        };
                        let min_ts = t.max(s.keep_after(now));
                        plan = Self::disk_plan(st, s, idx, from.max(shard.base), first, 1, min_ts);
                    }
                    first + skip
                }
                _ => return Err(either("no")),
            };
            let pos = pos.max(shard.base).min(latest.max(shard.visible_end()));
            (pos, plan, s.meta.incarnation, idx)
        };
        let pos = match plan {
            Some(plan) => match Self::read_disk(plan).await?.0.first() {
                Some((found, _)) => *found,
                None => pos,
            },
            None => pos,
        };
        Ok(json!({"ShardIterator": self.iterators.encode(&Iter {
            name: name.clone(),
            incarnation,
            shard: idx,
            pos,
            issued_ms: now,
        })}))
    }

    pub(crate) async fn get_records(&self, r: GetRecords) -> Result<GetRecordsOut, ApiError> {
        let raw = r.shard_iterator.as_str();
        let limit = r.limit.map_or(10_000, |n| n as usize);
        let it = self
            .iterators
            .decode(raw)
            .ok_or_else(|| err(Code::InvalidArgumentException, "Invalid ShardIterator."))?;
        let now = self.now();
        if now.saturating_sub(it.issued_ms) > ITERATOR_TTL_MS {
            return Err(err(Code::ExpiredIteratorException,
                format!("Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of {ITERATOR_TTL_MS} milliseconds.", java_date(it.issued_ms), java_date(now)),
            ));
        }
        let limits = ReadLimits {
            records: limit,
            bytes: MAX_GET_BYTES,
            rate_limited: self.config.enforce_limits,
        };
        self.read(&it, limits).await
    }

    /// Reads at `it` within `limits`. The answer's `next_pos` is where the
    /// next read starts.
    pub(crate) async fn read(
        &self,
        it: &Iter,
        limits: ReadLimits,
    ) -> Result<GetRecordsOut, ApiError> {
        let ReadLimits {
            records: limit,
            bytes: max_bytes,
            rate_limited,
        } = limits;
        let now = self.now();
        let plan = {
            let mut st = self.lock();
            st.trim(&it.name, now);
            let s = st
                .streams
                .get_mut(&it.name)
                .filter(|s| s.meta.incarnation == it.incarnation && it.shard < s.shards.len())
                .ok_or_else(|| shard_not_found(&it.name, it.shard))?;
            let shard = &mut s.shards[it.shard];
            if rate_limited {
                let w = shard.window.at(now);
                // 5 calls/s, and 2 MiB/s: reads wait until at most one second of
                // bandwidth is owed for bytes already returned.
                let owed_ms = shard.read_busy_until_ms.saturating_sub(now);
                if w.reads >= 5 || owed_ms >= 1000 {
                    return Err(err(
                        Code::ProvisionedThroughputExceededException,
                        format!(
                            "Rate exceeded for Shard - {ACCOUNT}/{}/{}",
                            it.name,
                            shard_id(it.shard)
                        ),
                    ));
                }
                w.reads += 1;
            }
            let s = st
                .streams
                .get(&it.name)
                .ok_or_else(|| not_found(&it.name))?;
            let shard = &s.shards[it.shard];
            let first = shard.first_cached();
            let pos = it.pos.max(shard.base);
            let encryption = s.meta.settings.record_encryption();
            match Self::disk_plan(&st, s, it.shard, pos, first, limit, s.keep_after(now)) {
                Some(plan) => (DiskPlan { max_bytes, ..plan }, encryption),
                None => {
                    let s = st
                        .streams
                        .get_mut(&it.name)
                        .ok_or_else(|| not_found(&it.name))?;
                    let shard = &s.shards[it.shard];
                    let mut pos = pos.max(first);
                    let mut bytes = 0usize;
                    let mut records = Vec::new();
                    while records.len() < limit {
                        let Some(r) = shard.cached(pos) else {
                            break;
                        };
                        let size = r.data.len() + r.pk.len();
                        if !records.is_empty() && bytes + size > max_bytes {
                            break;
                        }
                        bytes += size;
                        records.push(record_out(it.shard, pos, r, &encryption));
                        pos += 1;
                    }
                    return Ok(self.finish_read(s, it, pos, records, bytes, now, rate_limited));
                }
            }
        };
        let (plan, encryption) = plan;
        let (found, pos) = Self::read_disk(plan).await?;
        let bytes = found.iter().map(|(_, r)| r.data.len() + r.pk.len()).sum();
        let records = found
            .into_iter()
            .map(|(p, r)| RecordOut {
                seq: record_seq(it.shard, p),
                ts_ms: r.ts_ms,
                data: r.data,
                pk: r.pk,
                encryption: encryption.of(r.ts_ms),
            })
            .collect();
        let mut st = self.lock();
        let s = st
            .streams
            .get_mut(&it.name)
            .filter(|s| s.meta.incarnation == it.incarnation)
            .ok_or_else(|| shard_not_found(&it.name, it.shard))?;
        Ok(self.finish_read(s, it, pos, records, bytes, now, rate_limited))
    }

    /// The GetRecords answer once `records` (ending before `pos`) are read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish_read(
        &self,
        s: &mut Stream,
        it: &Iter,
        pos: u64,
        records: Vec<RecordOut>,
        bytes: usize,
        now: u64,
        rate_limited: bool,
    ) -> GetRecordsOut {
        let closed_end = s.meta.shards[it.shard].closed_end;
        let shard = &mut s.shards[it.shard];
        if rate_limited {
            let start = shard.read_busy_until_ms.max(now);
            shard.read_busy_until_ms = start + bytes as u64 * 1000 / READ_BYTES_PER_SEC;
        }
        let next_ts = match shard.cached(pos) {
            Some(r) => Some(r.ts_ms),
            None if pos < shard.visible_end() => {
                let k = shard.index.partition_point(|e| e.first_pos <= pos);
                k.checked_sub(1).map(|k| shard.index[k].first_ts)
            }
            None => None,
        };
        let behind = next_ts.map_or(0, |t| now.saturating_sub(t));
        let mut out = GetRecordsOut {
            records,
            millis_behind_latest: behind,
            next_shard_iterator: None,
            child_shards: None,
            next_pos: pos,
        };
        match closed_end {
            Some(end) if pos >= end => {
                let children: Vec<Value> = s
                    .meta
                    .shards
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        m.parent == Some(it.shard as u32) || m.adjacent == Some(it.shard as u32)
                    })
                    .map(|(i, m)| {
                        let mut parents = vec![];
                        for p in [m.parent, m.adjacent].into_iter().flatten() {
                            parents.push(shard_id(p as usize));
                        }
                        json!({
                            "ShardId": shard_id(i),
                            "ParentShards": parents,
                            "HashKeyRange": {"StartingHashKey": m.start, "EndingHashKey": m.end},
                        })
                    })
                    .collect();
                out.child_shards = Some(children);
            }
            _ => {
                out.next_shard_iterator = Some(self.iterators.encode(&Iter {
                    name: it.name.clone(),
                    incarnation: it.incarnation,
                    shard: it.shard,
                    pos,
                    issued_ms: now,
                }));
            }
        }
        out
    }
}

/// One record of a GetRecords answer, serialised without an intermediate
/// `serde_json::Value` (this runs for every record read).
#[derive(Debug)]
pub(crate) struct RecordOut {
    pub(crate) seq: String,
    pub(crate) ts_ms: u64,
    pub(crate) data: Bytes,
    pub(crate) pk: String,
    /// `KMS` or `NONE` when the stream is or was encrypted (see
    /// [`RecordEncryption`]); omitted otherwise.
    pub(crate) encryption: Option<&'static str>,
}

impl serde::Serialize for RecordOut {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Record", 5)?;
        out.serialize_field("SequenceNumber", &self.seq)?;
        out.serialize_field("ApproximateArrivalTimestamp", &(self.ts_ms as f64 / 1000.0))?;
        // Encoded straight into the answer, not into a string of its own.
        out.serialize_field("Data", &Base64(&self.data))?;
        out.serialize_field("PartitionKey", &self.pk)?;
        if let Some(encryption) = self.encryption {
            out.serialize_field("EncryptionType", encryption)?;
        }
        out.end()
    }
}

/// A blob written as base64 text without an intermediate string.
struct Base64<'a>(&'a [u8]);

impl serde::Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&base64::display::Base64Display::new(self.0, &STANDARD))
    }
}

impl RecordOut {
    /// Appends the record as JSON: the same bytes as its `Serialize`, but the
    /// sequence number (digits) and the base64 data (its alphabet) are
    /// written as they are, without serde_json scanning them for characters
    /// to escape: the largest cost of a GetRecords answer otherwise.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        debug_assert!(self.seq.bytes().all(|b| b.is_ascii_digit()));
        out.extend_from_slice(b"{\"SequenceNumber\":\"");
        out.extend_from_slice(self.seq.as_bytes());
        out.extend_from_slice(b"\",\"ApproximateArrivalTimestamp\":");
        serde_json::to_writer(&mut *out, &(self.ts_ms as f64 / 1000.0))?;
        out.extend_from_slice(b",\"Data\":\"");
        let start = out.len();
        out.resize(start + self.data.len().div_ceil(3) * 4, 0);
        let written = STANDARD
            .encode_slice(&self.data, &mut out[start..])
            .map_err(|e| serde::ser::Error::custom(format!("base64: {e}")))?;
        out.truncate(start + written);
        out.extend_from_slice(b"\",\"PartitionKey\":");
        serde_json::to_writer(&mut *out, &self.pk)?;
        if let Some(encryption) = self.encryption {
            out.extend_from_slice(b",\"EncryptionType\":");
            serde_json::to_writer(&mut *out, encryption)?;
        }
        out.push(b'}');
        Ok(())
    }
}

impl GetRecordsOut {
    /// The answer as JSON: the bytes `serde_json::to_vec` gives, written
    /// faster (see [`RecordOut::write_json`]).
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(self.json_len_hint());
        out.extend_from_slice(b"{\"Records\":[");
        for (i, record) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            record.write_json(&mut out)?;
        }
        out.extend_from_slice(b"],\"MillisBehindLatest\":");
        serde_json::to_writer(&mut out, &self.millis_behind_latest)?;
        if let Some(iterator) = &self.next_shard_iterator {
            out.extend_from_slice(b",\"NextShardIterator\":");
            serde_json::to_writer(&mut out, iterator)?;
        }
        if let Some(children) = &self.child_shards {
            out.extend_from_slice(b",\"ChildShards\":");
            serde_json::to_writer(&mut out, children)?;
        }
        out.push(b'}');
        Ok(out)
    }

    /// About the size of the JSON answer, to encode it without regrowing.
    pub(crate) fn json_len_hint(&self) -> usize {
        let records: usize = self
            .records
            .iter()
            .map(|r| r.data.len().div_ceil(3) * 4 + r.pk.len() + 128)
            .sum();
        records + self.next_shard_iterator.as_ref().map_or(0, String::len) + 256
    }
}

/// How much one read may return.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    pub(crate) records: usize,
    /// Keys and data; the first record is returned whatever its size.
    pub(crate) bytes: usize,
    /// Apply the shard's 5 calls/s and 2 MiB/s read limits (GetRecords;
    /// enhanced fan-out has its own pipe).
    pub(crate) rate_limited: bool,
}

/// The GetRecords answer.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecordsOut {
    pub(crate) records: Vec<RecordOut>,
    pub(crate) millis_behind_latest: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_shard_iterator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) child_shards: Option<Vec<Value>>,
    /// Where the next read starts (in the iterator; not sent).
    #[serde(skip)]
    pub(crate) next_pos: u64,
}

pub(crate) fn record_out(
    shard: usize,
    pos: u64,
    r: &Rec,
    encryption: &RecordEncryption,
) -> RecordOut {
    RecordOut {
        seq: record_seq(shard, pos),
        ts_ms: r.ts_ms,
        data: r.data.clone(),
        pk: r.pk.clone(),
        encryption: encryption.of(r.ts_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_json_is_byte_for_byte_serde_jsons() {
        let record = |seq: &str, ts_ms, data: &[u8], pk: &str| RecordOut {
            seq: seq.to_string(),
            ts_ms,
            data: Bytes::copy_from_slice(data),
            pk: pk.to_string(),
            encryption: None,
        };
        let all: Vec<u8> = (0..=255).collect();
        let mut out = GetRecordsOut {
            records: vec![
                record(&record_seq(0, 0), 1_700_000_000_123, b"", "a"),
                record(
                    &record_seq(3, 41),
                    1_700_000_000_000,
                    &all[..1],
                    "q\"uote\\ \n ü \u{1}",
                ),
                record(&record_seq(7, 9), 1, &all[..2], ""),
                record(&record_seq(9, 1 << 40), 1_787_036_486_712, &all, "k"),
            ],
            millis_behind_latest: 42,
            next_shard_iterator: Some("it+/=".into()),
            child_shards: Some(vec![serde_json::json!({"ShardId": "shardId-000000000001"})]),
            next_pos: 0,
        };
        assert_eq!(out.to_json().unwrap(), serde_json::to_vec(&out).unwrap());
        out.records[1].encryption = Some("KMS");
        out.records[2].encryption = Some("NONE");
        assert_eq!(out.to_json().unwrap(), serde_json::to_vec(&out).unwrap());
        out.records.clear();
        out.next_shard_iterator = None;
        out.child_shards = None;
        assert_eq!(out.to_json().unwrap(), serde_json::to_vec(&out).unwrap());
    }
}
