//! UpdateTable (billing mode and throughput), UpdateTimeToLive,
//! DescribeTimeToLive, TagResource, UntagResource, ListTagsOfResource.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use super::service::{str_of, validation, Service, TableMeta};
use super::tables::ACCOUNT;
use crate::front::error::{err, ApiError, Code};

/// The `Tags` of a request as a map.
pub(super) fn tags_of(req: &Map<String, Json>) -> BTreeMap<String, String> {
    req.get("Tags")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["Key"].as_str()?.to_string(),
                t["Value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

impl Service {
    /// Applies `change` to the table `name` and stores its description.
    fn change_table(
        &self,
        name: &str,
        not_found: impl FnOnce() -> ApiError,
        change: impl FnOnce(&mut TableMeta) -> Result<(), ApiError>,
    ) -> Result<TableMeta, ApiError> {
        let mut tables = self.tables();
        let Some(meta) = tables.get(name) else {
            return Err(not_found());
        };
        let mut meta = meta.clone();
        change(&mut meta)?;
        let stored = serde_json::to_value(&meta).unwrap_or_default();
        self.store
            .write::<_, ApiError>(|w| Ok(w.put_table(name, &stored)?))?;
        tables.insert(name.to_string(), meta.clone());
        Ok(meta)
    }

    fn table_not_found(name: &str) -> impl FnOnce() -> ApiError + '_ {
        move || {
            err(
                Code::ResourceNotFoundException,
                format!("Requested resource not found: Table: {name} not found"),
            )
        }
    }

    pub(super) fn update_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let meta = self.change_table(name, Self::table_not_found(name), |m| {
            let mode = str_of(req, "BillingMode").unwrap_or(&m.billing_mode).to_string();
            match (mode.as_str(), req.get("ProvisionedThroughput")) {
                ("PAY_PER_REQUEST", Some(_)) => {
                    return Err(validation(
                        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                    ))
                }
                ("PAY_PER_REQUEST", None) => {
                    m.read_capacity = 0;
                    m.write_capacity = 0;
                }
                (_, Some(t)) => {
                    m.read_capacity = t["ReadCapacityUnits"].as_u64().unwrap_or(m.read_capacity);
                    m.write_capacity = t["WriteCapacityUnits"].as_u64().unwrap_or(m.write_capacity);
                }
                (_, None) if m.billing_mode != mode => {
                    return Err(validation(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                    ))
                }
                (_, None) => {}
            }
            m.billing_mode = mode;
            Ok(())
        })?;
        Ok(json!({
            "TableDescription": meta.describe("ACTIVE", ACCOUNT, &self.settings.region)
        }))
    }

    pub(super) fn update_time_to_live(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let spec = req
            .get("TimeToLiveSpecification")
            .cloned()
            .unwrap_or_default();
        let enable = spec["Enabled"].as_bool().unwrap_or(false);
        let attr = spec["AttributeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.change_table(name, super::service::not_found, |m| {
            match (&m.ttl_attribute, enable) {
                (Some(_), true) => Err(validation("TimeToLive is already enabled")),
                (None, false) => Err(validation("TimeToLive is already disabled")),
                (_, true) => {
                    m.ttl_attribute = Some(attr.clone());
                    Ok(())
                }
                (_, false) => {
                    m.ttl_attribute = None;
                    Ok(())
                }
            }
        })?;
        Ok(json!({ "TimeToLiveSpecification": spec }))
    }

    pub(super) fn describe_time_to_live(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let meta = self
            .tables()
            .get(name)
            .cloned()
            .ok_or_else(Self::table_not_found(name))?;
        Ok(json!({
            "TimeToLiveDescription": match meta.ttl_attribute {
                Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
                None => json!({"TimeToLiveStatus": "DISABLED"}),
            }
        }))
    }

    /// The table an ARN names (`arn:aws:dynamodb:<region>:<account>:table/<name>`).
    fn arn_table(req: &Map<String, Json>) -> (String, impl FnOnce() -> ApiError) {
        let arn = str_of(req, "ResourceArn").unwrap_or_default().to_string();
        let name = arn
            .strip_prefix("arn:aws:dynamodb:")
            .and_then(|rest| rest.split_once(":table/"))
            .map(|(_, name)| name.to_string())
            .unwrap_or_default();
        (name, move || {
            err(
                Code::ResourceNotFoundException,
                format!("Requested resource not found: ResourcArn: {arn} not found"),
            )
        })
    }

    pub(super) fn tag_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let (name, missing) = Self::arn_table(req);
        self.change_table(&name, missing, |m| {
            m.tags.extend(tags_of(req));
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn untag_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let (name, missing) = Self::arn_table(req);
        self.change_table(&name, missing, |m| {
            for k in req
                .get("TagKeys")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                m.tags.remove(k.as_str().unwrap_or_default());
            }
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn list_tags_of_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let (name, missing) = Self::arn_table(req);
        let meta = self.tables().get(&name).cloned().ok_or_else(missing)?;
        let tags: Vec<Json> = meta
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}
