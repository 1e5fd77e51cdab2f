//! DescribeContinuousBackups, UpdateContinuousBackups and DescribeLimits:
//! what the SDKs' and Terraform's table reads ask besides DescribeTable,
//! with the answers recorded from the service while a table is created or
//! deleted (ack-api-quirks' lab notes, 2026-10-08).
//! Continuous backups are on for every table, as the service has them;
//! point-in-time recovery is kept and described (nothing is restorable
//! here: the engine keeps no backups); the limits are the service's
//! defaults for an account.

use serde_json::{json, Map, Value as Json};

use super::service::{str_of, validation, Service, TableMeta};
use crate::front::error::{err, ApiError, Code};

/// The service's default recovery period, in days.
const RECOVERY_DAYS: u32 = 35;

/// The TableNotFoundException of the backup actions.
fn table_not_found(name: &str) -> ApiError {
    err(
        Code::TableNotFoundException,
        format!("Table not found: {name}"),
    )
}

/// A table's ContinuousBackupsDescription at `now_ms` (continuous backups
/// are being enabled while the table is created, as recorded).
fn description(meta: &TableMeta, now_ms: u64) -> Json {
    let backups = match meta.status(now_ms) {
        "CREATING" => "DISABLED",
        _ => "ENABLED",
    };
    let recovery = match meta.recovery {
        None => json!({ "PointInTimeRecoveryStatus": "DISABLED" }),
        Some((since_ms, days)) => {
            let earliest = since_ms.max(now_ms.saturating_sub(u64::from(days) * 86_400_000));
            // The service restores up to five minutes before now.
            let latest = now_ms.saturating_sub(300_000).max(earliest);
            json!({
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": days,
                "EarliestRestorableDateTime": earliest as f64 / 1000.0,
                "LatestRestorableDateTime": latest as f64 / 1000.0,
            })
        }
    };
    json!({ "ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": backups,
        "PointInTimeRecoveryDescription": recovery,
    }})
}

/// DescribeLimits: the service's default limits of an account.
pub(super) fn limits() -> Json {
    json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    })
}

impl Service {
    pub(super) fn describe_continuous_backups(
        &self,
        req: &Map<String, Json>,
    ) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let now = self.now_ms();
        let tables = self.tables();
        let meta = tables.get(name).ok_or_else(|| table_not_found(name))?;
        Ok(description(meta, now))
    }

    pub(super) fn update_continuous_backups(
        &self,
        req: &Map<String, Json>,
    ) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let spec = req.get("PointInTimeRecoverySpecification");
        let on = spec
            .and_then(|s| s.get("PointInTimeRecoveryEnabled"))
            .and_then(Json::as_bool)
            .unwrap_or(false);
        let period = spec
            .and_then(|s| s.get("RecoveryPeriodInDays"))
            .and_then(Json::as_u64);
        if !on && period.is_some() {
            return Err(validation(
                "Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.",
            ));
        }
        let days = period.map_or(RECOVERY_DAYS, |d| d as u32);
        let now = self.now_ms();
        // While a table is created its backups are being enabled; one being
        // deleted answers as it is (both recorded from the service).
        if let Some(m) = self.tables().get(name) {
            match m.status(now) {
                "CREATING" => {
                    return Err(err(
                        Code::ContinuousBackupsUnavailableException,
                        format!(
                            "Backups are being enabled for the table: {name}. Please retry later"
                        ),
                    ))
                }
                "DELETING" => return Ok(description(m, now)),
                _ => {}
            }
        }
        let meta = self.change_table_with(
            name,
            || table_not_found(name),
            |m| {
                m.recovery = match (on, m.recovery) {
                    (false, _) => None,
                    (true, Some((since, _))) => Some((since, days)),
                    (true, None) => Some((now, days)),
                };
                Ok(())
            },
            |_, _| Ok(()),
        )?;
        Ok(description(&meta, now))
    }
}
