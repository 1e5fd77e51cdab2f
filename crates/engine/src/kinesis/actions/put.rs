//! PutRecord and PutRecords.

use bytes::Bytes;
use md5::{Digest, Md5};
use serde_json::json;

use crate::front::error::{err, internal, ApiError, Code};
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT, MAX_PUT_RECORDS_BYTES, MAX_RECORD};
use crate::store::codec::{encode_records, RecordBatch};

impl Engine {
    // ---- writes ----------------------------------------------------------

    pub(crate) async fn put_record(&self, r: PutRecord) -> ApiResult {
        let (stream, entry, ordering) = r.into_parts();
        let name = stream.name()?;
        if let Some(n) = &ordering {
            // Accepted: sequence numbers always increase.
            if parse_seq(n).is_none() && !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(
                    Code::InvalidArgumentException,
                    format!("ExclusiveMinimumSequenceNumber {n} used in PutRecord on stream {name} under account {ACCOUNT} is invalid."),
                ));
            }
        }
        let max = self.max_record_bytes(&name)?;
        let entry = PutEntry::new(entry, max, None)?;
        let out = self.put(&name, vec![entry], true).await?;
        match out.into_iter().next() {
            Some(Ok((shard, seq))) => Ok(json!({
                "ShardId": shard,
                "SequenceNumber": seq,
                "EncryptionType": self.encryption_type(&name),
            })),
            Some(Err(e)) => Err(e),
            None => Err(internal("no result")),
        }
    }

    pub(crate) async fn put_records(&self, r: PutRecords) -> Result<PutRecordsOut, ApiError> {
        let name = r.stream().name()?;
        let max = self.max_record_bytes(&name)?;
        let mut entries = Vec::with_capacity(r.records.len());
        let mut total = 0usize;
        for (i, e) in r.records.into_iter().enumerate() {
            let e = PutEntry::new(e, max, Some(i))?;
            total += e.data.len() + e.pk.len();
            entries.push(e);
        }
        // 5 MiB per call, or one record of a stream taking larger records.
        if total > MAX_PUT_RECORDS_BYTES.max(max) {
            return Err(err(
                Code::InvalidArgumentException,
                "Records size exceeds 5 MB limit",
            ));
        }
        let out = self.put(&name, entries, false).await?;
        let failed = out.iter().filter(|r| r.is_err()).count();
        Ok(PutRecordsOut {
            failed_record_count: failed,
            records: out,
            encryption_type: self.encryption_type(&name),
        })
    }

    /// The largest record `name` accepts (1 MiB unless UpdateMaxRecordSize).
    fn max_record_bytes(&self, name: &str) -> Result<usize, ApiError> {
        let st = self.lock();
        let s = st.streams.get(name).ok_or_else(|| not_found(name))?;
        Ok(s.meta
            .settings
            .max_record_size_kib
            .map_or(MAX_RECORD, |k| k as usize * 1024))
    }

    /// `KMS` once StartStreamEncryption was called, else `NONE`.
    fn encryption_type(&self, name: &str) -> &'static str {
        let st = self.lock();
        match st.streams.get(name) {
            Some(s) if s.meta.settings.kms_key_id.is_some() => "KMS",
            _ => "NONE",
        }
    }

    /// Appends entries; per-entry results in request order.
    pub(crate) async fn put(
        &self,
        name: &str,
        entries: Vec<PutEntry>,
        single: bool,
    ) -> Result<Vec<Result<(String, String), ApiError>>, ApiError> {
        let (rx, results) = {
            let mut st = self.lock();
            let now = self.now();
            st.trim(name, now);
            let s = st.streams.get_mut(name).ok_or_else(|| not_found(name))?;
            if now < s.meta.active_at_ms {
                // A stream being created takes no records yet.
                return Err(not_found(name));
            }
            let mut batch = RecordBatch {
                incarnation: s.meta.incarnation,
                recs: Vec::with_capacity(entries.len()),
            };
            let mut results = Vec::with_capacity(entries.len());
            for e in entries {
                if !single
                    && self.config.fail_entry_ratio > 0.0
                    && rand::random::<f64>() < self.config.fail_entry_ratio
                {
                    results.push(Err(internal("Internal service failure.")));
                    continue;
                }
                let Some(idx) = s.route(e.hash) else {
                    results.push(Err(internal("no open shard owns the hash key")));
                    continue;
                };
                let shard = &mut s.shards[idx];
                if self.config.enforce_limits {
                    let size = (e.data.len() + e.pk.len()) as u64;
                    let w = shard.window.at(now);
                    if w.put_records + 1 > 1000 || w.put_bytes + size > 1 << 20 {
                        let pe = err(Code::ProvisionedThroughputExceededException,
                            format!("Rate exceeded for shard {} in stream {name} under account {ACCOUNT}.", shard_id(idx)),
                        );
                        if single {
                            return Err(pe);
                        }
                        results.push(Err(pe));
                        continue;
                    }
                    w.put_records += 1;
                    w.put_bytes += size;
                }
                let pos = shard.reserved;
                shard.reserved += 1;
                results.push(Ok((shard_id(idx), record_seq(idx, pos))));
                batch.recs.push((
                    idx as u32,
                    pos,
                    Rec {
                        ts_ms: now,
                        pk: e.pk,
                        data: e.data,
                    },
                ));
            }
            if batch.recs.is_empty() {
                return Ok(results);
            }
            let payload = encode_records(&batch);
            (self.queue(&payload, Some(batch)), results)
        };
        Self::durable(rx).await?;
        Ok(results)
    }
}

/// One parsed record to put.
pub(crate) struct PutEntry {
    pub(crate) pk: String,
    pub(crate) data: Bytes,
    pub(crate) hash: u128,
}

impl PutEntry {
    /// Checks one record to put (entry `index` of PutRecords).
    fn new(e: PutEntryIn, max: usize, index: Option<usize>) -> Result<PutEntry, ApiError> {
        if e.data.len() > max {
            let at = index.map_or("data".to_string(), |i| {
                format!("records.{}.member.data", i + 1)
            });
            return Err(err(
                Code::ValidationException,
                format!(
                    "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]' at '{at}' failed to satisfy constraint: Member must have length less than or equal to {max}",
                    n = e.data.len()
                ),
            ));
        }
        let hash = match &e.explicit_hash_key {
            Some(k) => parse_hash(k).ok_or_else(|| {
                err(
                    Code::InvalidArgumentException,
                    format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"),
                )
            })?,
            None => u128::from_be_bytes(Md5::digest(e.partition_key.as_bytes()).into()),
        };
        Ok(PutEntry {
            pk: e.partition_key,
            data: Bytes::from(e.data),
            hash,
        })
    }
}

/// The PutRecords answer: each entry's shard and sequence number, or its error.
#[derive(Debug)]
pub(crate) struct PutRecordsOut {
    pub(crate) failed_record_count: usize,
    pub(crate) records: Vec<Result<(String, String), ApiError>>,
    pub(crate) encryption_type: &'static str,
}

impl PutRecordsOut {
    /// The answer in JSON, or in CBOR straight from this structure (it holds
    /// no blob or timestamp, the two members CBOR writes differently).
    pub(crate) fn encode(&self, cbor: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.records.len() * 64 + 64);
        let written = match cbor {
            true => ciborium::ser::into_writer(self, &mut out).map_err(|e| e.to_string()),
            false => serde_json::to_writer(&mut out, self).map_err(|e| e.to_string()),
        };
        if let Err(e) = written {
            // Writing strings and numbers to a Vec cannot fail; say so if it did.
            tracing::error!(error = %e, "encoding a PutRecords answer");
        }
        out
    }
}

impl serde::Serialize for PutRecordsOut {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("PutRecordsOutput", 3)?;
        out.serialize_field("EncryptionType", self.encryption_type)?;
        out.serialize_field("FailedRecordCount", &self.failed_record_count)?;
        out.serialize_field("Records", &Entries(&self.records))?;
        out.end()
    }
}

/// The entries of a PutRecords answer.
struct Entries<'a>(&'a [Result<(String, String), ApiError>]);

impl serde::Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Entry))
    }
}

/// One entry: its sequence number and shard, or its error.
struct Entry<'a>(&'a Result<(String, String), ApiError>);

impl serde::Serialize for Entry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        match self.0 {
            Ok((shard, seq)) => {
                map.serialize_entry("SequenceNumber", seq)?;
                map.serialize_entry("ShardId", shard)?;
            }
            Err(e) => {
                map.serialize_entry("ErrorCode", e.code.as_str())?;
                map.serialize_entry("ErrorMessage", &e.message)?;
            }
        }
        map.end()
    }
}
