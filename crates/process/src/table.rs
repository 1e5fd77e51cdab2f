//! The table of the workshop, created when missing.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use kinesis::retry::{describe, ErrorKind};

/// The table could not be created or did not become ACTIVE.
#[derive(Debug, thiserror::Error)]
#[error("cannot create table {table:?}: {detail}")]
pub struct TableError {
    pub table: String,
    pub detail: String,
}

/// Creates `table` (`Name` S hash key, `StatusTime` S range key,
/// PAY_PER_REQUEST) unless it exists, and waits until it is ACTIVE.
/// Returns whether it was created.
pub async fn ensure_table(client: &Client, table: &str) -> Result<bool, TableError> {
    let err = |detail: String| TableError {
        table: table.to_owned(),
        detail,
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("name and type are set")
    };
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("Name"))
        .attribute_definitions(attr("StatusTime"))
        .key_schema(key("Name", KeyType::Hash))
        .key_schema(key("StatusTime", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    let created = match created {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(err(describe(&e))),
    };
    if !created {
        // It exists already. DescribeTable can take a moment (the local
        // engine first writes its buffered changes into its B-tree, so that
        // ItemCount is exact): only a clear answer that it is not usable
        // yet makes us wait.
        match client.describe_table().table_name(table).send().await {
            Ok(out)
                if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Creating) => {}
            Ok(_) => return Ok(false),
            Err(e) => {
                tracing::warn!(table, error = %describe(&e), "cannot describe the existing table; going on");
                return Ok(false);
            }
        }
    }
    let mut backoff =
        kinesis::retry::Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| err(describe(&e)))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(created);
        }
        if backoff.attempts() > 60 {
            return Err(err("the table did not become ACTIVE".into()));
        }
        backoff.wait().await;
    }
}

/// Checks that `table` exists, so that a wrong `--table` fails at once
/// with the command that creates it.
pub async fn check_table(
    clients: &crate::aws::Clients,
    table: &str,
) -> Result<(), crate::WriteError> {
    let mut backoff = kinesis::retry::Backoff::default();
    loop {
        let Err(e) = clients
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
        else {
            return Ok(());
        };
        let kind = kinesis::retry::classify(&e);
        // Throttling, 5xx and timeouts pass; nothing listening is reported at once.
        if matches!(kind, ErrorKind::Transient | ErrorKind::Throttled) {
            if backoff.attempts() < 2 {
                backoff.wait().await;
                continue;
            }
            // A slow DescribeTable (the local engine may first write its
            // buffered changes into its B-tree) must not stop the stage: a
            // missing table is still reported by the first write.
            tracing::warn!(table, error = %describe(&e), "cannot check the table; going on");
            return Ok(());
        }
        let at = clients.dynamodb_location();
        return Err(match kind {
            ErrorKind::NotFound => crate::WriteError::NotFound {
                table: table.to_owned(),
                at,
                unwritten: Vec::new(),
            },
            _ => crate::WriteError::Refused {
                table: table.to_owned(),
                detail: format!("DescribeTable at {at}: {}", describe(&e)),
                unwritten: Vec::new(),
            },
        });
    }
}

/// Value parser of a table name: 3 to 255 letters, digits, `_`, `.`, `-`.
pub fn table_name(name: &str) -> Result<String, String> {
    let valid = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(name.to_owned())
    } else {
        Err("a table name has 3 to 255 letters, digits, '_', '.' or '-'".into())
    }
}
