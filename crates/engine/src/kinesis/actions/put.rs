//! PutRecord and PutRecords.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::front::error::{err, internal, ApiError, Code};
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT, MAX_PUT_RECORDS_BYTES, MAX_RECORD};
use crate::store::codec::{encode_records, RecordBatch};

impl Engine {
    // ---- writes ----------------------------------------------------------

    pub(crate) async fn put_record(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let entry = parse_entry(v, "")?;
        let out = self.put(&name, vec![entry], true).await?;
        match out.into_iter().next() {
            Some(Ok((shard, seq))) => Ok(json!({
                "ShardId": shard,
                "SequenceNumber": seq,
                "EncryptionType": "NONE",
            })),
            Some(Err(e)) => Err(e),
            None => Err(internal("no result")),
        }
    }

    pub(crate) async fn put_records(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let records = match v.get("Records") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => {
                return Err(err(Code::ValidationException,
                    "1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null",
                ))
            }
            Some(_) => return Err(ser("Records", "a list")),
        };
        if records.is_empty() || records.len() > 500 {
            return Err(err(Code::ValidationException,
                format!("1 validation error detected: Value '{}' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500 and greater than or equal to 1", records.len()),
            ));
        }
        let mut entries = Vec::with_capacity(records.len());
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            let e = parse_entry(r, &format!("records.{}.member.", i + 1))?;
            total += e.data.len() + e.pk.len();
            entries.push(e);
        }
        if total > MAX_PUT_RECORDS_BYTES {
            return Err(err(
                Code::InvalidArgumentException,
                format!("Records size exceeds 5 MB limit: {total} bytes"),
            ));
        }
        let out = self.put(&name, entries, false).await?;
        let failed = out.iter().filter(|r| r.is_err()).count();
        let results: Vec<Value> = out
            .into_iter()
            .map(|r| match r {
                Ok((shard, seq)) => json!({"SequenceNumber": seq, "ShardId": shard}),
                Err(e) => json!({"ErrorCode": e.code.as_str(), "ErrorMessage": e.message}),
            })
            .collect();
        Ok(json!({
            "FailedRecordCount": failed,
            "Records": results,
            "EncryptionType": "NONE",
        }))
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
                return Err(err(Code::ResourceNotFoundException,
                    format!("Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING"),
                ));
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

pub(crate) fn parse_entry(v: &Value, prefix: &str) -> Result<PutEntry, ApiError> {
    let pk = req_str(v, "PartitionKey")?;
    let pk_len = pk.chars().count();
    if !(1..=256).contains(&pk_len) {
        return Err(err(Code::ValidationException,
            format!("1 validation error detected: Value at '{prefix}partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256 and greater than or equal to 1"),
        ));
    }
    let b64 = req_str(v, "Data")?;
    let data = STANDARD.decode(b64).map_err(|_| {
        err(
            Code::SerializationException,
            format!("field {prefix}Data is not valid base64"),
        )
    })?;
    if data.len() > MAX_RECORD {
        return Err(err(Code::ValidationException,
            format!("1 validation error detected: Value at '{prefix}data' failed to satisfy constraint: Member must have length less than or equal to 1048576"),
        ));
    }
    let hash = match opt_str(v, "ExplicitHashKey")? {
        Some(k) => parse_hash(k).ok_or_else(|| {
            err(Code::InvalidArgumentException,
                format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"),
            )
        })?,
        None => u128::from_be_bytes(Md5::digest(pk.as_bytes()).into()),
    };
    // SequenceNumberForOrdering is accepted: sequence numbers always increase.
    if let Some(s) = opt_str(v, "SequenceNumberForOrdering")? {
        if parse_seq(s).is_none() && !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                Code::InvalidArgumentException,
                format!("SequenceNumberForOrdering {s} is invalid."),
            ));
        }
    }
    Ok(PutEntry {
        pk: pk.to_string(),
        data: Bytes::from(data),
        hash,
    })
}
