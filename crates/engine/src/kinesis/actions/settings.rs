//! Retention periods and tags.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT};

impl Engine {
    // ---- retention and tags ---------------------------------------------

    pub(crate) async fn update_meta(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamMeta) -> Result<(), ApiError>,
    ) -> ApiResult {
        let rx = {
            let mut st = self.lock();
            let s = self.stream_mut(&mut st, name)?;
            let mut meta = s.meta.clone();
            change(&mut meta)?;
            let rx = self.queue_meta(&meta)?;
            st.apply_meta(MetaOp::Upsert(meta));
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn retention(&self, v: &Value, increase: bool) -> ApiResult {
        let name = stream_name(v)?;
        let hours = opt_int(v, "RetentionPeriodHours")?.ok_or_else(|| {
            err(Code::ValidationException, "1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null")
        })?;
        let hours = range_check("retentionPeriodHours", hours, 1, 100_000)?;
        self.update_meta(&name, |m| {
            let cur = i64::from(m.retention_hours);
            if !(24..=8760).contains(&hours) {
                return Err(err(Code::InvalidArgumentException,
                    format!("Minimum allowed retention period is 24 hours and maximum is 8760 hours. Requested retention period ({hours} hours) is out of range."),
                ));
            }
            if increase && hours < cur {
                return Err(err(Code::InvalidArgumentException, format!("Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({cur} hours). Use DecreaseRetentionPeriod API.")));
            }
            if !increase && hours > cur {
                return Err(err(Code::InvalidArgumentException, format!("Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({cur} hours). Use IncreaseRetentionPeriod API.")));
            }
            m.retention_hours = hours as u32;
            Ok(())
        })
        .await
    }

    pub(crate) async fn add_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let tags = parse_tag_map(v)?;
        if tags.is_empty() || tags.len() > 10 {
            return Err(err(Code::ValidationException,
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have between 1 and 10 entries",
            ));
        }
        self.update_meta(&name, |m| {
            let mut all = m.tags.clone();
            all.extend(tags);
            if all.len() > 50 {
                return Err(err(Code::LimitExceededException,
                    format!("Failed to add tags to stream {name} under account {ACCOUNT} because a given stream cannot have more than 50 tags."),
                ));
            }
            m.tags = all;
            Ok(())
        })
        .await
    }

    pub(crate) async fn remove_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let keys: Vec<String> = match v.get("TagKeys") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|k| k.as_str().map(str::to_string).ok_or_else(|| ser("TagKeys", "a list of strings")))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => {
                return Err(err(Code::ValidationException, "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"))
            }
            Some(_) => return Err(ser("TagKeys", "a list of strings")),
        };
        if keys.is_empty() || keys.len() > 50 {
            return Err(err(Code::ValidationException, "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length between 1 and 50"));
        }
        self.update_meta(&name, |m| {
            for k in &keys {
                m.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    pub(crate) fn list_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let limit = match opt_int(v, "Limit")? {
            Some(n) => range_check("limit", n, 1, 50)? as usize,
            None => 50,
        };
        let start = opt_str(v, "ExclusiveStartTagKey")?;
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let all: Vec<(&String, &String)> = s
            .meta
            .tags
            .iter()
            .filter(|(k, _)| start.is_none_or(|st| k.as_str() > st))
            .collect();
        let tags: Vec<Value> = all
            .iter()
            .take(limit)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags, "HasMoreTags": all.len() > limit}))
    }
}

pub(crate) fn parse_tag_map(v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    match v.get("Tags") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, val)| {
                let val = match val {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    _ => return Err(ser("Tags", "a map of strings")),
                };
                if k.is_empty() || k.chars().count() > 128 || val.chars().count() > 256 {
                    return Err(err(
                        Code::InvalidArgumentException,
                        "Tag keys must be 1..128 characters and values at most 256 characters.",
                    ));
                }
                Ok((k.clone(), val))
            })
            .collect(),
        Some(_) => Err(ser("Tags", "a map of strings")),
    }
}
