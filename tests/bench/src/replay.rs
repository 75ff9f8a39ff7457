//! Issues recorded reads again through a plain SDK client: the baseline of a command is the
//! very requests the handler made, sent without the handler.

use std::collections::HashMap;

use anyhow::{Context, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};
use serde_json::Value;

use crate::recorder::Call;
use crate::size::{from_json, item_from_json};

fn string(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn names(v: &Value) -> Option<HashMap<String, String>> {
    v.get("ExpressionAttributeNames")?.as_object().map(|m| {
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect()
    })
}

fn values(v: &Value) -> Option<HashMap<String, AttributeValue>> {
    v.get("ExpressionAttributeValues")?.as_object().map(|m| {
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), from_json(v)?)))
            .collect()
    })
}

/// A read, ready to send again.
#[derive(Clone, Debug)]
pub enum Read {
    Get(Value),
    BatchGet(Value),
    Query(Value),
}

impl Read {
    /// The reads among `calls` (writes are refused: a baseline must not change the table).
    pub fn from_calls(calls: &[Call]) -> anyhow::Result<Vec<Self>> {
        calls
            .iter()
            .map(|c| match c.op.as_str() {
                "GetItem" => Ok(Self::Get(c.request.clone())),
                "BatchGetItem" => Ok(Self::BatchGet(c.request.clone())),
                "Query" => Ok(Self::Query(c.request.clone())),
                other => bail!("cannot replay {other}: only reads"),
            })
            .collect()
    }

    /// Sends the read (without asking for consumed capacity, as the handler does not).
    pub async fn send(&self, client: &Client) -> anyhow::Result<()> {
        match self {
            Self::Get(r) => {
                client
                    .get_item()
                    .set_table_name(string(r, "TableName"))
                    .set_key(r.get("Key").and_then(item_from_json))
                    .set_consistent_read(r.get("ConsistentRead").and_then(Value::as_bool))
                    .set_projection_expression(string(r, "ProjectionExpression"))
                    .set_expression_attribute_names(names(r))
                    .send()
                    .await
                    .context("get item")?;
            }
            Self::BatchGet(r) => {
                let mut request = client.batch_get_item();
                for (table, ask) in r["RequestItems"].as_object().into_iter().flatten() {
                    let keys: Vec<_> = ask["Keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(item_from_json)
                        .collect();
                    let ask = KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .set_consistent_read(ask.get("ConsistentRead").and_then(Value::as_bool))
                        .set_projection_expression(string(ask, "ProjectionExpression"))
                        .set_expression_attribute_names(names(ask))
                        .build()
                        .context("batch read")?;
                    request = request.request_items(table, ask);
                }
                request.send().await.context("batch get item")?;
            }
            Self::Query(r) => {
                client
                    .query()
                    .set_table_name(string(r, "TableName"))
                    .set_index_name(string(r, "IndexName"))
                    .set_key_condition_expression(string(r, "KeyConditionExpression"))
                    .set_filter_expression(string(r, "FilterExpression"))
                    .set_projection_expression(string(r, "ProjectionExpression"))
                    .set_expression_attribute_names(names(r))
                    .set_expression_attribute_values(values(r))
                    .set_consistent_read(r.get("ConsistentRead").and_then(Value::as_bool))
                    .set_scan_index_forward(r.get("ScanIndexForward").and_then(Value::as_bool))
                    .set_limit(
                        r.get("Limit")
                            .and_then(Value::as_i64)
                            .and_then(|l| i32::try_from(l).ok()),
                    )
                    .set_select(string(r, "Select").map(|s| Select::from(s.as_str())))
                    .set_exclusive_start_key(r.get("ExclusiveStartKey").and_then(item_from_json))
                    .send()
                    .await
                    .context("query")?;
            }
        }
        Ok(())
    }
}

/// Sends `reads` at once, as the handler's `try_join!` does.
pub async fn send_all(client: &Client, reads: &[Read]) -> anyhow::Result<()> {
    futures_util::future::try_join_all(reads.iter().map(|r| r.send(client))).await?;
    Ok(())
}
