//! Bucket operations: create, head, list, delete, location, notification
//! configuration and tagging.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::events::{Rule, RuleKind};
use super::store::{
    bucket_in, db_err, decode, encode, object_key, BucketMeta, Store, BUCKETS, OBJECTS,
};
use super::{timestamp, Backend};

/// The bucket `name` in a read transaction, or NoSuchBucket.
pub(crate) fn read_bucket(tx: &ReadTransaction, name: &str) -> S3Result<BucketMeta> {
    let t = tx.open_table(BUCKETS).map_err(db_err)?;
    bucket_in(&t, name)?.ok_or_else(no_such_bucket)
}

/// The bucket `name` in a write transaction, or NoSuchBucket.
pub(crate) fn write_bucket(tx: &WriteTransaction, name: &str) -> S3Result<BucketMeta> {
    let t = tx.open_table(BUCKETS).map_err(db_err)?;
    bucket_in(&t, name)?.ok_or_else(no_such_bucket)
}

/// S3's NoSuchBucket, in its words.
pub(crate) fn no_such_bucket() -> s3s::S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

/// The notification rules of a bucket.
pub(crate) fn rules(meta: &BucketMeta) -> Vec<Rule> {
    meta.notification
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Changes the bucket `name` in one durable transaction.
async fn update(
    backend: &Backend,
    name: String,
    f: impl FnOnce(&mut BucketMeta) + Send + 'static,
) -> S3Result<()> {
    backend
        .blocking(move |store: &Store| {
            store.write(|tx| {
                let mut meta = write_bucket(tx, &name)?;
                f(&mut meta);
                let mut t = tx.open_table(BUCKETS).map_err(db_err)?;
                t.insert(name.as_str(), encode(&meta).as_slice())
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
}

pub(crate) async fn bucket(backend: &Backend, name: String) -> S3Result<BucketMeta> {
    backend
        .blocking(move |store: &Store| read_bucket(&store.read()?, &name))
        .await
}

/// Whether `name` reads as an AWS region (`eu-west-1`, `us-gov-east-1`,
/// `ap-southeast-5`) or is `EU`, S3's old name of eu-west-1.
fn is_region(name: &str) -> bool {
    let mut parts = name.split('-');
    let area = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    name == "EU"
        || (area.len() == 2
            && area.bytes().all(|c| c.is_ascii_lowercase())
            && rest.len() >= 2
            && rest[..rest.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
            && rest[rest.len() - 1].parse::<u8>().is_ok())
}

pub(crate) async fn create(
    b: &Backend,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let name = req.input.bucket.clone();
    let region = req
        .input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map(|l| l.as_str().to_string())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| b.region.clone());
    // us-east-1 is asked for by sending no constraint; naming it (or what
    // is no region) is refused, as S3 does.
    let explicit = req
        .input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .is_some_and(|l| !l.as_str().is_empty());
    if explicit && (region == "us-east-1" || !is_region(&region)) {
        return Err(s3_error!(
            InvalidLocationConstraint,
            "The specified location-constraint is not valid"
        ));
    }
    let meta = BucketMeta {
        created_ms: b.now(),
        region: region.clone(),
        ..BucketMeta::default()
    };
    let n = name.clone();
    let existed = b
        .blocking(move |store: &Store| {
            store.write(|tx| {
                let mut t = tx.open_table(BUCKETS).map_err(db_err)?;
                if bucket_in(&t, &n)?.is_some() {
                    return Ok(true);
                }
                t.insert(n.as_str(), encode(&meta).as_slice())
                    .map_err(db_err)?;
                Ok(false)
            })
        })
        .await?;
    // In us-east-1, creating a bucket you own again succeeds (the service's
    // legacy behaviour); elsewhere it is BucketAlreadyOwnedByYou.
    if existed && region != "us-east-1" {
        return Err(s3_error!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ));
    }
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{name}")),
    }))
}

pub(crate) async fn head(
    b: &Backend,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let meta = bucket(b, req.input.bucket).await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(meta.region),
        ..Default::default()
    }))
}

pub(crate) async fn list(
    b: &Backend,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let prefix = req.input.prefix.clone().unwrap_or_default();
    let all = b
        .blocking(move |store: &Store| {
            let tx = store.read()?;
            let t = tx.open_table(BUCKETS).map_err(db_err)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let meta: BucketMeta = decode(k.value(), v.value())?;
                if k.value().starts_with(&prefix) {
                    out.push(Bucket {
                        name: Some(k.value().to_string()),
                        creation_date: Some(timestamp(meta.created_ms)),
                        bucket_region: Some(meta.region),
                    });
                }
            }
            Ok(out)
        })
        .await?;
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(all),
        owner: Some(owner()),
        prefix: req.input.prefix,
        continuation_token: None,
    }))
}

pub(crate) fn owner() -> Owner {
    Owner {
        display_name: Some("wildrydes".into()),
        id: Some("75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".into()),
    }
}

pub(crate) async fn delete(
    b: &Backend,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let name = req.input.bucket;
    b.blocking(move |store: &Store| {
        store.write(|tx| {
            write_bucket(tx, &name)?;
            let first = object_key(&name, "");
            let objects = tx.open_table(OBJECTS).map_err(db_err)?;
            let mut range = objects.range(first.as_slice()..).map_err(db_err)?;
            if let Some(row) = range.next() {
                let (k, _) = row.map_err(db_err)?;
                if k.value().starts_with(&first) {
                    return Err(s3_error!(
                        BucketNotEmpty,
                        "The bucket you tried to delete is not empty"
                    ));
                }
            }
            drop(range);
            drop(objects);
            let mut t = tx.open_table(BUCKETS).map_err(db_err)?;
            t.remove(name.as_str()).map_err(db_err)?;
            Ok(())
        })
    })
    .await?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(crate) async fn location(
    b: &Backend,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let meta = bucket(b, req.input.bucket).await?;
    // us-east-1 is answered as an empty LocationConstraint, as S3 does.
    let constraint =
        (meta.region != "us-east-1").then(|| BucketLocationConstraint::from(meta.region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: constraint,
    }))
}

/// The prefix and suffix of a configuration's filter, refused as S3 refuses
/// another rule name or a rule given twice.
fn filter_of(
    f: Option<&NotificationConfigurationFilter>,
) -> S3Result<(Option<String>, Option<String>)> {
    let mut prefix = None;
    let mut suffix = None;
    for rule in f
        .and_then(|f| f.key.as_ref())
        .and_then(|k| k.filter_rules.as_ref())
        .into_iter()
        .flatten()
    {
        let name = rule.name.as_ref().map(|n| n.as_str().to_ascii_lowercase());
        let (slot, name) = match name.as_deref() {
            Some("prefix") => (&mut prefix, "prefix"),
            Some("suffix") => (&mut suffix, "suffix"),
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "filter rule name must be either prefix or suffix"
                ))
            }
        };
        if slot
            .replace(rule.value.clone().unwrap_or_default())
            .is_some()
        {
            return Err(s3_error!(
                InvalidArgument,
                "Cannot specify more than one {name} rule in a filter."
            ));
        }
    }
    Ok((prefix, suffix))
}

/// The events S3 notifies of (botocore's `Event` enum).
const EVENTS: [&str; 27] = [
    "s3:ReducedRedundancyLostObject",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:ObjectRestore:Delete",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectAcl:Put",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
];

/// A configuration's destination and events, checked as S3 checks them.
fn checked_rule(
    kind: RuleKind,
    id: Option<String>,
    arn: &str,
    events: &[Event],
    filter: Option<&NotificationConfigurationFilter>,
) -> S3Result<Rule> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2].is_empty() || parts[5].is_empty() {
        return Err(s3_error!(InvalidArgument, "The ARN could not be parsed"));
    }
    let events = names(events);
    if events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
        return Err(s3_error!(
            InvalidArgument,
            "The event is not supported for notifications"
        ));
    }
    let (prefix, suffix) = filter_of(filter)?;
    Ok(Rule {
        kind,
        id,
        arn: arn.to_string(),
        events,
        prefix,
        suffix,
    })
}

fn filter_to(rule: &Rule) -> Option<NotificationConfigurationFilter> {
    let mut rules = Vec::new();
    for (name, value) in [("Prefix", &rule.prefix), ("Suffix", &rule.suffix)] {
        if let Some(v) = value {
            rules.push(FilterRule {
                name: Some(FilterRuleName::from(name.to_string())),
                value: Some(v.clone()),
            });
        }
    }
    let empty = rules.is_empty();
    (!empty).then_some(NotificationConfigurationFilter {
        key: Some(S3KeyFilter {
            filter_rules: Some(rules),
        }),
    })
}

fn names(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.as_ref().to_string()).collect()
}

pub(crate) async fn put_notification(
    b: &Backend,
    req: S3Request<PutBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
    let c = req.input.notification_configuration;
    let mut rules = Vec::new();
    for l in c.lambda_function_configurations.iter().flatten() {
        let (arn, f) = (&l.lambda_function_arn, l.filter.as_ref());
        rules.push(checked_rule(
            RuleKind::Lambda,
            l.id.clone(),
            arn,
            &l.events,
            f,
        )?);
    }
    for q in c.queue_configurations.iter().flatten() {
        let (arn, f) = (&q.queue_arn, q.filter.as_ref());
        rules.push(checked_rule(
            RuleKind::Queue,
            q.id.clone(),
            arn,
            &q.events,
            f,
        )?);
    }
    for t in c.topic_configurations.iter().flatten() {
        let (arn, f) = (&t.topic_arn, t.filter.as_ref());
        rules.push(checked_rule(
            RuleKind::Topic,
            t.id.clone(),
            arn,
            &t.events,
            f,
        )?);
    }
    for r in &rules {
        if r.events.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "a notification configuration must name at least one event"
            ));
        }
    }
    if rules
        .iter()
        .enumerate()
        .any(|(i, a)| rules[..i].iter().any(|b| overlap(a, b)))
    {
        return Err(s3_error!(
            InvalidArgument,
            "Configurations overlap. Configurations on the same bucket cannot share a common event type."
        ));
    }
    // A configuration without an Id gets one, as S3 assigns it.
    for r in rules.iter_mut().filter(|r| r.id.is_none()) {
        let id = format!("{:032x}", rand::random::<u128>());
        r.id = Some(base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            id,
        ));
    }
    let value = serde_json::to_value(&rules).ok();
    update(b, req.input.bucket, move |m| m.notification = value).await?;
    Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
}

/// Whether two notification configurations could both match one event: a
/// common event type (`s3:ObjectCreated:*` covers `s3:ObjectCreated:Put`)
/// and prefix and suffix filters that some key satisfies together.
pub(crate) fn overlap(a: &Rule, b: &Rule) -> bool {
    let covers = |x: &str, y: &str| x == y || x.strip_suffix('*').is_some_and(|p| y.starts_with(p));
    let events = a
        .events
        .iter()
        .any(|x| b.events.iter().any(|y| covers(x, y) || covers(y, x)));
    let along = |x: &Option<String>, y: &Option<String>, f: fn(&str, &str) -> bool| match (x, y) {
        (Some(x), Some(y)) => f(x, y) || f(y, x),
        _ => true,
    };
    events
        && along(&a.prefix, &b.prefix, |x, y| x.starts_with(y))
        && along(&a.suffix, &b.suffix, |x, y| x.ends_with(y))
}

pub(crate) async fn get_notification(
    b: &Backend,
    req: S3Request<GetBucketNotificationConfigurationInput>,
) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
    let meta = bucket(b, req.input.bucket).await?;
    let mut out = GetBucketNotificationConfigurationOutput::default();
    for r in rules(&meta) {
        let events: Vec<Event> = r.events.iter().map(|e| Event::from(e.clone())).collect();
        let filter = filter_to(&r);
        match r.kind {
            RuleKind::Lambda => out
                .lambda_function_configurations
                .get_or_insert_with(Vec::new)
                .push(LambdaFunctionConfiguration {
                    events,
                    filter,
                    id: r.id,
                    lambda_function_arn: r.arn,
                }),
            RuleKind::Queue => {
                out.queue_configurations
                    .get_or_insert_with(Vec::new)
                    .push(QueueConfiguration {
                        events,
                        filter,
                        id: r.id,
                        queue_arn: r.arn,
                    })
            }
            RuleKind::Topic => {
                out.topic_configurations
                    .get_or_insert_with(Vec::new)
                    .push(TopicConfiguration {
                        events,
                        filter,
                        id: r.id,
                        topic_arn: r.arn,
                    })
            }
        }
    }
    Ok(S3Response::new(out))
}

pub(crate) fn tags_of(tagging: Tagging) -> Vec<(String, String)> {
    tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect()
}

pub(crate) fn tag_set(tags: &[(String, String)]) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub(crate) async fn put_tagging(
    b: &Backend,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let tags = tags_of(req.input.tagging);
    update(b, req.input.bucket, move |m| m.tags = tags).await?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

pub(crate) async fn get_tagging(
    b: &Backend,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let meta = bucket(b, req.input.bucket).await?;
    if meta.tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    }
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: tag_set(&meta.tags),
    }))
}

pub(crate) async fn delete_tagging(
    b: &Backend,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    update(b, req.input.bucket, |m| m.tags.clear()).await?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}
