//! SplitShard, MergeShards and UpdateShardCount.

use serde_json::json;
use tokio::sync::oneshot;

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT};

impl Engine {
    // ---- resharding ------------------------------------------------------

    /// The open shard `sid` names, resolved first by [`shard_index`].
    pub(crate) fn open_shard(s: &Stream, idx: usize) -> Result<usize, ApiError> {
        let sid = shard_id(idx);
        Some(idx)
            .filter(|i| *i < s.shards.len())
            .ok_or_else(|| {
                err(Code::ResourceNotFoundException,
                    format!("Could not find shard {sid} in stream {} under account {ACCOUNT}.", s.meta.name),
                )
            })
            .and_then(|i| {
                if s.is_open(i) {
                    Ok(i)
                } else {
                    Err(err(Code::InvalidArgumentException,
                        format!("Shard {sid} in stream {} under account {ACCOUNT} has already been merged or split, and thus is not eligible for merging or splitting.", s.meta.name),
                    ))
                }
            })
    }

    /// Refuses `extra` more open shards over the account's shard limit.
    pub(crate) fn check_shard_limit(
        &self,
        st: &State,
        extra: usize,
        region: &str,
    ) -> Result<(), ApiError> {
        let open: usize = st.streams.values().map(Stream::open_count).sum();
        if open + extra > self.config.shard_limit as usize {
            return Err(shard_limit_error(
                open,
                self.config.shard_limit,
                extra,
                region,
            ));
        }
        Ok(())
    }

    /// Closes `parents` and adds `children` as one durable metadata change.
    pub(crate) fn reshard(
        &self,
        st: &mut State,
        name: &str,
        parents: &[usize],
        children: Vec<(u128, u128, Option<u32>, Option<u32>)>,
    ) -> Result<oneshot::Receiver<Result<(), String>>, ApiError> {
        let now = self.now();
        let s = self.stream_mut(st, name)?;
        let mut meta = s.meta.clone();
        meta.settings.updating_until_ms =
            now + self.config.stream_activation_delay.as_millis() as u64;
        for &p in parents {
            meta.shards[p].closed_end = Some(s.shards[p].reserved);
        }
        for (start, end, parent, adjacent) in children {
            meta.shards.push(ShardMeta {
                start: start.to_string(),
                end: end.to_string(),
                parent,
                adjacent,
                created_ms: now,
                closed_end: None,
            });
        }
        let rx = self.queue_meta(&meta)?;
        st.apply_meta(MetaOp::Upsert(meta));
        Ok(rx)
    }

    pub(crate) async fn split_shard(&self, r: SplitShard) -> ApiResult {
        let name = r.stream.name()?;
        let key = r.new_starting_hash_key.as_str();
        let idx = shard_index(&r.shard_to_split, &name)?;
        let rx = {
            let mut st = self.lock();
            let s = self.active_mut(&mut st, &name)?;
            let idx = Self::open_shard(s, idx)?;
            let region = region_of(&self.stream_mut(&mut st, &name)?.meta.arn);
            self.check_shard_limit(&st, 1, &region)?;
            let s = self.stream_mut(&mut st, &name)?;
            let sh = &s.shards[idx];
            // Both children must hold at least two hash keys' worth of range,
            // as on the service: StartingHashKey + 1 < key < EndingHashKey.
            let new_start = parse_hash(key)
                .filter(|k| sh.start.checked_add(1).is_some_and(|low| *k > low) && *k < sh.end)
                .ok_or_else(|| {
                    err(Code::InvalidArgumentException,
                        format!("NewStartingHashKey {key} used in SplitShard() on shard {} in stream {name} under account {ACCOUNT} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.", shard_id(idx), sh.start, sh.end),
                    )
                })?;
            let (start, end) = (sh.start, sh.end);
            let p = Some(idx as u32);
            self.reshard(
                &mut st,
                &name,
                &[idx],
                vec![(start, new_start - 1, p, None), (new_start, end, p, None)],
            )?
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn merge_shards(&self, r: MergeShards) -> ApiResult {
        let name = r.stream.name()?;
        let a = shard_index(&r.shard_to_merge, &name)?;
        let b = shard_index(&r.adjacent_shard_to_merge, &name)?;
        let rx = {
            let mut st = self.lock();
            let s = self.active_mut(&mut st, &name)?;
            let a = Self::open_shard(s, a)?;
            let b = Self::open_shard(s, b)?;
            let (sa, sb) = (&s.shards[a], &s.shards[b]);
            // The adjacent shard must follow the one to merge: a pair named
            // the other way round is refused (recorded from the service).
            let adjacent = sa.end.checked_add(1) == Some(sb.start);
            if a == b || !adjacent {
                return Err(err(Code::InvalidArgumentException,
                    format!("Shards {} and {} in stream {name} under account {ACCOUNT} are not an adjacent pair of shards eligible for merging", shard_id(a), shard_id(b)),
                ));
            }
            let (start, end) = (sa.start.min(sb.start), sa.end.max(sb.end));
            self.reshard(
                &mut st,
                &name,
                &[a, b],
                vec![(start, end, Some(a as u32), Some(b as u32))],
            )?
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn update_shard_count(&self, r: UpdateShardCount) -> ApiResult {
        let name = r.stream.name()?;
        let target = r.target_shard_count as usize;
        let (rx, current, arn) = {
            let mut st = self.lock();
            let s = self.active_mut(&mut st, &name)?;
            let open: Vec<usize> = (0..s.shards.len()).filter(|i| s.is_open(*i)).collect();
            let current = open.len();
            let arn = s.meta.arn.clone();
            let limit = self.config.shard_limit as usize;
            let refuse = |what: String| {
                Err(err(
                    Code::LimitExceededException,
                    format!(
                        "{what}. Current open shard count: {current}, Target shard count: {target}"
                    ),
                ))
            };
            if target > limit {
                return refuse(format!(
                    "Target shard count or number of open shards cannot be greater than {limit}"
                ));
            }
            if target > current * 2 {
                return refuse(
                    "UpdateShardCount cannot scale up over double your current open shard count"
                        .into(),
                );
            }
            if target * 2 < current {
                return refuse(
                    "UpdateShardCount cannot scale down below half your current open shard count"
                        .into(),
                );
            }
            if target == current {
                return Ok(
                    json!({"StreamName": name, "StreamARN": arn, "CurrentShardCount": current, "TargetShardCount": target}),
                );
            }
            // Splits and merges, as the service reshards (`kinesis::scaling`).
            let ranges: Vec<_> = open
                .iter()
                .map(|&i| (i, s.shards[i].start, s.shards[i].end))
                .collect();
            let steps = crate::kinesis::scaling::plan(&ranges, target, s.shards.len());
            self.check_shard_limit(&st, target.saturating_sub(current), &region_of(&arn))?;
            let mut queued = Vec::new();
            for step in steps {
                queued.push(self.reshard(&mut st, &name, &step.parents, step.children)?);
            }
            (queued, current, arn)
        };
        for rx in rx {
            Self::durable(rx).await?;
        }
        Ok(
            json!({"StreamName": name, "StreamARN": arn, "CurrentShardCount": current, "TargetShardCount": target}),
        )
    }
}

/// The index of a shard id in a resharding request (a malformed id names no shard).
fn shard_index(sid: &str, stream: &str) -> Result<usize, ApiError> {
    parse_shard_id(sid).ok_or_else(|| {
        err(
            Code::ResourceNotFoundException,
            format!("Could not find shard {sid} in stream {stream} under account {ACCOUNT}."),
        )
    })
}

/// The account's shard limit error, in the service's words.
pub(crate) fn shard_limit_error(open: usize, limit: u32, extra: usize, region: &str) -> ApiError {
    err(
        Code::LimitExceededException,
        format!("This request would exceed the shard limit for the account {ACCOUNT} in {region}. Current shard count for the account: {open}. Limit: {limit}. Number of additional shards that would have resulted from this request: {extra}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits."),
    )
}

/// The region of a stream ARN.
fn region_of(arn: &str) -> String {
    arn.split(':').nth(3).unwrap_or("us-east-1").to_string()
}
