//! A table's settings that change nothing here but are kept and described
//! as the service describes them (Terraform and CloudFormation read them
//! back): `TableClass` (TableClassSummary), `SSESpecification`
//! (SSEDescription: the engine's files are not encrypted) and
//! `OnDemandThroughput`. Set by CreateTable, changed by UpdateTable.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::service::validation;
use super::tables::ACCOUNT;
use crate::front::error::ApiError;

/// The AWS managed key DynamoDB encrypts with when asked for KMS without a
/// key of one's own (`alias/aws/dynamodb`); here a fixed id.
const MANAGED_KEY: &str = "00000000-0000-4000-8000-0000000000db";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Options {
    #[serde(default)]
    table_class: Option<String>,
    /// KMS encryption on, with the key asked for (or the managed key).
    #[serde(default)]
    kms_key: Option<String>,
    /// MaxReadRequestUnits, MaxWriteRequestUnits.
    #[serde(default)]
    on_demand: Option<(i64, i64)>,
}

/// A refusal in the service's words (recorded, ack-api-quirks 2026-10).
fn invalid(what: &str) -> ApiError {
    validation(format!("One or more parameter values were invalid: {what}"))
}

impl Options {
    /// Checks what a CreateTable (`creating`) or UpdateTable request sets,
    /// for a table whose billing mode is then `billing`, as the service
    /// checks it.
    pub(crate) fn check(
        req: &Map<String, Json>,
        billing: &str,
        creating: bool,
    ) -> Result<(), ApiError> {
        if let Some(sse) = req.get("SSESpecification").filter(|v| v.is_object()) {
            let off = sse["Enabled"].as_bool() == Some(false);
            let ty = sse["SSEType"].as_str();
            let key = sse.get("KMSMasterKeyId").is_some_and(|k| !k.is_null());
            if off && ty.is_some() {
                return Err(invalid("SSEType can not be specified if Enabled is false"));
            }
            if off && key {
                return Err(invalid(
                    "KMSMasterKeyId can not be specified if Enabled is false",
                ));
            }
            if ty == Some("AES256") {
                return Err(invalid("SSEType AES256 is not supported"));
            }
            if key && ty != Some("KMS") {
                return Err(invalid(
                    "SSEType KMS is required if KMSMasterKeyId is specified",
                ));
            }
        }
        if let Some(t) = req.get("OnDemandThroughput").filter(|v| v.is_object()) {
            for member in ["MaxReadRequestUnits", "MaxWriteRequestUnits"] {
                let Some(units) = t.get(member).and_then(Json::as_i64) else {
                    continue;
                };
                if billing == "PROVISIONED" {
                    return Err(invalid(&format!(
                        "{member} for OnDemandThroughput cannot be specified when the table BillingMode is PROVISIONED"
                    )));
                }
                if units == 0 || units < -1 {
                    return Err(invalid(&format!(
                        "Requested {member} for OnDemandThroughput for table is outside of valid range"
                    )));
                }
            }
        }
        if let Some(stream) = req.get("StreamSpecification").filter(|v| v.is_object()) {
            let on = stream["StreamEnabled"].as_bool() == Some(true);
            let view = stream.get("StreamViewType").is_some_and(|v| !v.is_null());
            let refusal = match (creating, on, view) {
                (true, true, false) => {
                    "Table is being created with a stream enabled, UpdateViewType is required"
                }
                (true, false, true) => {
                    "Table is being created with a stream disabled, UpdateViewType should not be specified"
                }
                (false, true, false) => "If stream is being enabled then UpdateViewType is required",
                (false, false, true) => {
                    "If stream is being disabled, then UpdateViewType must not be specified"
                }
                _ => return Ok(()),
            };
            return Err(invalid(refusal));
        }
        Ok(())
    }

    /// Takes what a CreateTable or UpdateTable request sets.
    pub(crate) fn apply(&mut self, req: &Map<String, Json>) {
        if let Some(class) = req.get("TableClass").and_then(Json::as_str) {
            self.table_class = Some(class.to_string());
        }
        if let Some(sse) = req.get("SSESpecification").filter(|v| v.is_object()) {
            // Asking for KMS turns encryption on, Enabled or not.
            let kms = sse["Enabled"].as_bool() == Some(true) || sse["SSEType"] == "KMS";
            self.kms_key = kms.then(|| {
                sse["KMSMasterKeyId"]
                    .as_str()
                    .unwrap_or(MANAGED_KEY)
                    .to_string()
            });
        }
        if let Some(t) = req.get("OnDemandThroughput").filter(|v| v.is_object()) {
            let (read, write) = self.on_demand.unwrap_or((-1, -1));
            let limits = (
                t["MaxReadRequestUnits"].as_i64().unwrap_or(read),
                t["MaxWriteRequestUnits"].as_i64().unwrap_or(write),
            );
            // -1 is no limit: nothing is described then.
            self.on_demand = (limits != (-1, -1)).then_some(limits);
        }
    }

    /// Adds the settings to a TableDescription.
    pub(crate) fn describe(&self, desc: &mut Json, region: &str) {
        if let Some(class) = &self.table_class {
            desc["TableClassSummary"] = json!({ "TableClass": class });
        }
        if let Some(key) = &self.kms_key {
            let arn = match key.starts_with("arn:") {
                true => key.clone(),
                false => format!("arn:aws:kms:{region}:{ACCOUNT}:key/{key}"),
            };
            desc["SSEDescription"] =
                json!({ "Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": arn });
        }
        if let Some((read, write)) = self.on_demand {
            desc["OnDemandThroughput"] =
                json!({ "MaxReadRequestUnits": read, "MaxWriteRequestUnits": write });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_asked_for_are_described_and_updates_keep_the_rest() {
        let mut s = Options::default();
        let create = json!({
            "TableClass": "STANDARD_INFREQUENT_ACCESS",
            "SSESpecification": {"Enabled": true},
            "OnDemandThroughput": {"MaxReadRequestUnits": 100},
        });
        s.apply(create.as_object().unwrap());
        let mut desc = json!({});
        s.describe(&mut desc, "us-east-1");
        assert_eq!(
            desc["TableClassSummary"]["TableClass"],
            "STANDARD_INFREQUENT_ACCESS"
        );
        assert_eq!(desc["SSEDescription"]["SSEType"], "KMS");
        assert_eq!(
            desc["SSEDescription"]["KMSMasterKeyArn"],
            format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{MANAGED_KEY}")
        );
        assert_eq!(desc["OnDemandThroughput"]["MaxWriteRequestUnits"], -1);
        assert_eq!(desc["OnDemandThroughput"]["MaxReadRequestUnits"], 100);
        let update = json!({"SSESpecification": {"Enabled": false}});
        s.apply(update.as_object().unwrap());
        let mut desc = json!({});
        s.describe(&mut desc, "us-east-1");
        assert!(desc.get("SSEDescription").is_none());
        assert!(desc.get("TableClassSummary").is_some());
    }
}
