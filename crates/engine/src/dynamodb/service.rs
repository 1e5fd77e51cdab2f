//! The DynamoDB service: validates each request against botocore's model,
//! then runs its action on the [`Store`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::store::{Store, StoreError};
use super::value::AttributeValue;
use crate::front::error::{err, ApiError, Code};
use crate::front::validate::{self, Invalid};
use crate::Clock;

/// A table's description as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableMeta {
    pub name: String,
    pub id: u64,
    /// Partition key: (attribute name, type S/N/B).
    pub hash: (String, String),
    /// Sort key, if any.
    pub range: Option<(String, String)>,
    pub attribute_definitions: Json,
    pub billing_mode: String,
    pub read_capacity: u64,
    pub write_capacity: u64,
    /// Creation time, seconds since the epoch.
    pub created: f64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The TimeToLive attribute, when TTL is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// Secondary indexes (local and global).
    #[serde(default)]
    pub indexes: Vec<super::index::IndexMeta>,
    /// The number the next index gets.
    #[serde(default)]
    pub next_index: u32,
    /// Clock time (ms) from which the table is ACTIVE (CREATING before).
    #[serde(default)]
    pub active_at_ms: u64,
    /// Clock time (ms) at which a DELETING table is gone.
    #[serde(default)]
    pub deleted_at_ms: Option<u64>,
    /// Global indexes deleted by UpdateTable, described as DELETING until
    /// the clock time (ms) beside them (their entries are gone already).
    #[serde(default)]
    pub deleting_indexes: Vec<(super::index::IndexMeta, u64)>,
    /// A throughput or billing-mode change in progress (UPDATING).
    #[serde(default)]
    pub updating: Option<super::updating::Updating>,
    /// LastIncreaseDateTime, LastDecreaseDateTime and the decreases today.
    #[serde(default)]
    pub throughput_log: super::updating::ThroughputLog,
    /// How its storage keys are laid out: 0 plain (tables created before
    /// 2026-12-03), [`HASHED_LAYOUT`](super::partition::HASHED_LAYOUT) with
    /// the partition tag ([`super::partition`]).
    #[serde(default)]
    pub key_layout: u8,
    /// DeletionProtectionEnabled: DeleteTable refuses the table.
    #[serde(default)]
    pub deletion_protection: bool,
    /// Point-in-time recovery (UpdateContinuousBackups): since when, and
    /// over how many days. Nothing is restorable here; it is described.
    #[serde(default)]
    pub recovery: Option<(u64, u32)>,
    /// TableClass, SSESpecification, OnDemandThroughput ([`super::options`]).
    #[serde(default)]
    pub options: super::options::Options,
}

/// What the service needs of the engine's configuration.
#[derive(Clone)]
pub(crate) struct Settings {
    pub fail_entry_ratio: f64,
    pub clock: Arc<dyn Clock>,
    pub region: String,
    pub auth: Vec<(String, String)>,
    /// Share of calls answered 500 InternalServerError.
    pub fail_call_ratio: f64,
    /// How long a table (or a new global index) stays CREATING, and a
    /// deleted table DELETING.
    pub state_delay: std::time::Duration,
    /// Provisioned throughput enforced per table and index.
    pub enforce_limits: bool,
}

pub(crate) struct Service {
    pub(super) store: Store,
    pub(super) tables: Mutex<BTreeMap<String, TableMeta>>,
    pub(super) settings: Settings,
    /// Token buckets of provisioned throughput (see [`super::capacity`]).
    pub(super) buckets: super::capacity::Buckets,
    /// Clock time (ms) of the next TTL sweep.
    pub(super) next_sweep_ms: std::sync::atomic::AtomicU64,
    /// TransactWriteItems' client request tokens.
    pub(super) tokens: super::idempotency::Tokens,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "dynamodb storage");
        ApiError {
            status: 500,
            code: Code::InternalServerError,
            message: "Internal server error".into(),
            details: None,
        }
    }
}

pub(super) fn validation(message: impl Into<String>) -> ApiError {
    err(Code::ValidationException, message)
}

pub(super) fn not_found() -> ApiError {
    err(
        Code::ResourceNotFoundException,
        "Requested resource not found",
    )
}

impl Service {
    /// Opens the store in `dir` (`dir/dynamodb/`), or in memory.
    pub(crate) fn open(
        dir: Option<&std::path::Path>,
        settings: Settings,
    ) -> Result<Service, StoreError> {
        let store = Store::open(dir)?;
        let mut tables = BTreeMap::new();
        for desc in store.tables()? {
            let meta: TableMeta = serde_json::from_value(desc)
                .map_err(|e| StoreError::Corrupt(format!("a table description ({e})")))?;
            tables.insert(meta.name.clone(), meta);
        }
        // Files written before the figures were kept: count once (the
        // journal is applied: nothing is buffered).
        for meta in tables.values() {
            if !store.has_stats(meta.id)? {
                let (n, bytes) = store.write::<_, StoreError>(|w| {
                    let (from, to) = super::store::table_bounds(meta.id);
                    let (mut n, mut bytes) = (0, 0);
                    let mut after: Option<Vec<u8>> = None;
                    loop {
                        let start = match &after {
                            Some(k) => std::ops::Bound::Excluded(k.as_slice()),
                            None => std::ops::Bound::Included(from.as_slice()),
                        };
                        let chunk = w.items(start, to.as_slice(), 1000)?;
                        let Some((last, _)) = chunk.last() else { break };
                        after = Some(last.clone());
                        n += chunk.len() as u64;
                        bytes += chunk
                            .iter()
                            .map(|(_, i)| super::value::item_size(i) as u64)
                            .sum::<u64>();
                    }
                    Ok((n, bytes))
                })?;
                store.set_table_figures(meta.id, n, bytes)?;
            }
        }
        Ok(Service {
            store,
            tables: Mutex::new(tables),
            settings,
            buckets: Default::default(),
            next_sweep_ms: std::sync::atomic::AtomicU64::new(0),
            tokens: Default::default(),
        })
    }

    pub(super) fn tables(&self) -> MutexGuard<'_, BTreeMap<String, TableMeta>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An ACTIVE table (the service answers ResourceNotFoundException for a
    /// table being created or deleted).
    pub(super) fn table(&self, name: &str) -> Result<TableMeta, ApiError> {
        let now = self.now_ms();
        self.tables()
            .get(name)
            .filter(|t| t.status(now) != "CREATING" && t.status(now) != "DELETING")
            .cloned()
            .ok_or_else(not_found)
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.settings.clock.now_millis()
    }

    pub(super) fn now_secs(&self) -> f64 {
        self.settings.clock.now_millis() as f64 / 1000.0
    }

    /// Runs one action: the model's checks first, then the action. Query and
    /// Scan also answer their Items as JSON text, to splice into the answer.
    pub(crate) fn call(
        &self,
        action: &str,
        body: &Json,
    ) -> Result<(Json, Option<Vec<u8>>), ApiError> {
        let refused = |invalid: Invalid| {
            let code = match invalid {
                Invalid::Serialization(_) => Code::SerializationException,
                Invalid::Validation(_) => Code::ValidationException,
            };
            err(code, invalid.message())
        };
        let model = validate::dynamodb();
        validate::check_types(model, action, body).map_err(refused)?;
        // The tagging actions look at their ResourceArn, the table-level
        // actions at their TableName, between the two steps.
        super::tags::check_arn_given(action, body)?;
        super::tables::check_table_action(action, body)?;
        validate::check_constraints(model, action, body).map_err(refused)?;
        self.inject_call_failure()?;
        self.housekeeping();
        let empty = Map::new();
        let req = body.as_object().unwrap_or(&empty);
        let resolved = super::arns::resolve(req, &self.settings.region)?;
        let req = resolved.as_ref().map_or(req, |(r, _)| r);
        if let Some((exprs, non_exprs)) = super::legacy::params_of(action) {
            super::legacy::check_mixing(req, exprs, non_exprs)?;
        }
        let (mut out, items) = match action {
            "Query" => self.query(req, true)?,
            "Scan" => self.query(req, false)?,
            _ => (self.act(action, req)?, None),
        };
        if let Some((_, named)) = &resolved {
            super::arns::restore(&mut out, named);
        }
        if let Some(obj) = out.as_object_mut() {
            // Never a null member (ConsumedCapacity when not asked for, say).
            obj.retain(|_, v| !v.is_null());
        }
        Ok((out, items))
    }

    /// A BatchWriteItem read straight from its body
    /// ([`super::typed::batch_write`]): what that reader accepts passes the
    /// model's checks, the rest goes as in [`Service::call`].
    pub(crate) fn call_batch_write(
        &self,
        request: &super::typed::BatchWrite,
    ) -> Result<(Json, Option<Vec<u8>>), ApiError> {
        self.inject_call_failure()?;
        self.housekeeping();
        Ok((self.write_batch(request)?, None))
    }

    /// [`Service::call_batch_write`] in a task, for a batch whose tables
    /// have neither indexes nor TTL and which asks for no consumed capacity
    /// (writing it reads nothing), when no TTL sweep is due: its writes are
    /// applied on the calling thread (memory work; the open group's lock may
    /// be held meanwhile by another request staging its writes, which can
    /// read the B-tree) and the task waits for their group to be durable
    /// without holding a thread; only a group's commit (the journal's sync)
    /// runs on a blocking thread. None: the batch is for
    /// [`Service::call_batch_write`] on a blocking thread.
    pub(crate) async fn batch_write_in_task(
        self: &Arc<Self>,
        request: &super::typed::BatchWrite,
    ) -> Option<Result<(Json, Option<Vec<u8>>), ApiError>> {
        if self.sweep_due() || !self.reads_nothing(request) {
            return None;
        }
        Some(self.batch_write_applied_here(request).await)
    }

    async fn batch_write_applied_here(
        self: &Arc<Self>,
        request: &super::typed::BatchWrite,
    ) -> Result<(Json, Option<Vec<u8>>), ApiError> {
        self.inject_call_failure()?;
        self.settle_tables();
        let (out, ticket) = self.apply_batch(request)?;
        if let Some(ticket) = ticket {
            let commit = || {
                let service = self.clone();
                // Not waited for: it goes on committing while groups keep
                // coming, and this request waits for its own group only.
                drop(tokio::task::spawn_blocking(move || {
                    service.store.lead(true)
                }));
            };
            self.store.durable(ticket, commit).await?;
        }
        Ok((out, None))
    }

    /// Whether writing a batch reads nothing: every table exists and has
    /// neither indexes nor TTL, and no consumed capacity is asked for (its
    /// report needs the sizes of the items replaced).
    fn reads_nothing(&self, request: &super::typed::BatchWrite) -> bool {
        let report = super::capacity::report_named(request.return_consumed.as_deref());
        let tables = self.tables();
        matches!(report, super::capacity::Report::None)
            && request
                .tables
                .iter()
                .all(|(name, _)| tables.get(name).is_some_and(TableMeta::is_plain))
    }

    /// The engine's fault injection: a share of calls fail as the
    /// service's internal errors do.
    fn inject_call_failure(&self) -> Result<(), ApiError> {
        let ratio = self.settings.fail_call_ratio;
        if ratio > 0.0 && rand::random::<f64>() < ratio {
            return Err(ApiError {
                status: 500,
                code: Code::InternalServerError,
                message: "Internal server error".into(),
                details: None,
            });
        }
        Ok(())
    }

    fn act(&self, action: &str, req: &Map<String, Json>) -> Result<Json, ApiError> {
        match action {
            "CreateTable" => self.create_table(req),
            "DescribeTable" => self.describe_table(req),
            "ListTables" => self.list_tables(req),
            "DeleteTable" => self.delete_table(req),
            "PutItem" => self.put_item(req),
            "GetItem" => self.get_item(req),
            "DeleteItem" => self.delete_item(req),
            "UpdateItem" => self.update_item(req),
            "BatchWriteItem" => self.batch_write_item(req),
            "BatchGetItem" => self.batch_get_item(req),
            "TransactWriteItems" => self.transact_write_items(req),
            "TransactGetItems" => self.transact_get_items(req),
            "UpdateTable" => self.update_table(req),
            "UpdateTimeToLive" => self.update_time_to_live(req),
            "DescribeTimeToLive" => self.describe_time_to_live(req),
            "TagResource" => self.tag_resource(req),
            "UntagResource" => self.untag_resource(req),
            "ListTagsOfResource" => self.list_tags_of_resource(req),
            "DescribeContinuousBackups" => self.describe_continuous_backups(req),
            "UpdateContinuousBackups" => self.update_continuous_backups(req),
            "DescribeLimits" => Ok(super::backups::limits()),
            _ => Err(err(Code::UnknownOperationException, "")),
        }
    }
}

impl TableMeta {
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:dynamodb:us-east-1:{}:table/{}",
            super::tables::ACCOUNT,
            self.name
        )
    }

    /// CREATING, UPDATING, ACTIVE or DELETING at clock time `now_ms`.
    pub(crate) fn status(&self, now_ms: u64) -> &'static str {
        if self.deleted_at_ms.is_some() {
            "DELETING"
        } else if now_ms < self.active_at_ms {
            "CREATING"
        } else if self.updating.as_ref().is_some_and(|u| now_ms < u.until_ms) {
            "UPDATING"
        } else {
            "ACTIVE"
        }
    }
}

/// The `__type` the service sends for `code`.
pub(crate) fn wire_type(code: Code) -> String {
    let ns = match code {
        Code::ValidationException => "com.amazon.coral.validate#",
        Code::SerializationException
        | Code::UnknownOperationException
        | Code::AccessDeniedException
        | Code::IncompleteSignatureException
        | Code::InvalidSignatureException
        | Code::MissingAuthenticationTokenException
        | Code::UnrecognizedClientException => "com.amazon.coral.service#",
        _ => "com.amazonaws.dynamodb.v20120810#",
    };
    format!("{ns}{}", code.as_str())
}

// Request helpers.

pub(super) fn str_of<'a>(req: &'a Map<String, Json>, key: &str) -> Option<&'a str> {
    req.get(key).and_then(Json::as_str)
}

pub(super) fn names_of(req: &Map<String, Json>) -> Option<BTreeMap<String, String>> {
    req.get("ExpressionAttributeNames")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
}

pub(super) fn values_of(req: &Map<String, Json>) -> Option<&Map<String, Json>> {
    req.get("ExpressionAttributeValues")
        .and_then(Json::as_object)
}

/// A value error as the service reports it (shape errors are serialization errors).
pub(super) fn value_err(e: super::value::ValueError) -> ApiError {
    match e {
        super::value::ValueError::Shape(m) => err(Code::SerializationException, m),
        other => validation(other.to_string()),
    }
}

pub(super) fn expr_err(e: super::expr::ExprError) -> ApiError {
    validation(e.to_string())
}

/// How a request gives a key, for the service's checks and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyGiven {
    /// A `Key` (GetItem, DeleteItem, …): exactly the key attributes.
    Key,
    /// PutItem's `Item`: a missing or mistyped key attribute is named.
    Item,
    /// A BatchWriteItem PutRequest's `Item`: other attributes may come
    /// along, but a missing or mistyped key is worded as for a `Key`.
    BatchItem,
}

impl TableMeta {
    /// The storage key of `item` (which holds the key attributes), or the
    /// service's error when the key does not match the schema.
    pub(crate) fn key_of(
        &self,
        item: &BTreeMap<String, AttributeValue>,
        exact: bool,
    ) -> Result<Vec<u8>, ApiError> {
        self.key_given(item, if exact { KeyGiven::Key } else { KeyGiven::Item })
    }

    /// [`TableMeta::key_of`] for a key given as `given`.
    pub(crate) fn key_given(
        &self,
        item: &BTreeMap<String, AttributeValue>,
        given: KeyGiven,
    ) -> Result<Vec<u8>, ApiError> {
        let mismatch = || validation("The provided key element does not match the schema");
        // Table id, partition tag, two keys of a few dozen bytes each.
        let mut key = Vec::with_capacity(96);
        key.extend(self.id.to_be_bytes());
        let want = 1 + usize::from(self.range.is_some());
        if given == KeyGiven::Key && item.len() != want {
            return Err(mismatch());
        }
        // Only PutItem names the attribute that does not match.
        let exact = given != KeyGiven::Item;
        for (i, (name, ty)) in std::iter::once(&self.hash)
            .chain(self.range.as_ref())
            .enumerate()
        {
            let is_hash = i == 0;
            let Some(v) = item.get(name) else {
                return Err(if exact {
                    mismatch()
                } else {
                    validation(format!(
                        "One or more parameter values were invalid: Missing the key {name} in the item"
                    ))
                });
            };
            if v.type_name() != ty {
                return Err(if exact {
                    mismatch()
                } else {
                    validation(format!(
                        "One or more parameter values were invalid: Type mismatch for key {name} expected: {ty} actual: {}",
                        v.type_name()
                    ))
                });
            }
            let empty = v.is_empty_scalar();
            if empty {
                // As recorded: a Key's wording differs from an Item's.
                let prefix = if given == KeyGiven::Key {
                    "One or more parameter values were invalid:"
                } else {
                    "One or more parameter values are not valid."
                };
                let kind = if ty == "B" { "binary" } else { "string" };
                return Err(validation(format!(
                    "{prefix} The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
                )));
            }
            let limit = if is_hash { 2048 } else { 1024 };
            if v.size() > limit {
                return Err(validation(if limit == 2048 {
                    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
                } else {
                    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
                }));
            }
            if is_hash && self.hashed() {
                key.extend(super::partition::tag(v, None));
            }
            if !v.push_key_bytes(&mut key) {
                return Err(mismatch());
            }
        }
        Ok(key)
    }

    /// The key attributes of `item`.
    pub(crate) fn key_attrs(
        &self,
        item: &BTreeMap<String, AttributeValue>,
    ) -> BTreeMap<String, AttributeValue> {
        std::iter::once(&self.hash.0)
            .chain(self.range.as_ref().map(|r| &r.0))
            .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
            .collect()
    }
}
