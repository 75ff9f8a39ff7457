//! The table's plumbing every store module shares: point reads, batch reads and writes,
//! queries over all pages, transactions and why one was cancelled.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem, WriteRequest};

use crate::Store;
use crate::codec::{Item, s};
use crate::error::{StoreError, classify};
use crate::retry::Backoff;

/// `BatchWriteItem` takes at most 25 requests, `BatchGetItem` 100 keys.
const BATCH_WRITE: usize = 25;
const BATCH_GET: usize = 100;
/// Unprocessed batch items are sent again after this backoff, this many times.
const UNPROCESSED_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(50),
    max: Duration::from_secs(2),
};
const UNPROCESSED_ATTEMPTS: u32 = 8;

/// How a read reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Consistency {
    /// Eventually consistent (half the price).
    Eventual,
    /// Strongly consistent: an opt-out, a heartbeat or what a write is about to rewrite must be
    /// seen at once.
    Strong,
}

/// Why a transaction was cancelled: one code per item, in the order of the items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cancelled(Vec<String>);

impl Cancelled {
    /// Whether the condition of item `index` failed.
    pub(crate) fn condition_failed(&self, index: usize) -> bool {
        self.0
            .get(index)
            .is_some_and(|c| c == "ConditionalCheckFailed")
    }

    /// Whether any condition failed.
    pub(crate) fn any_condition_failed(&self) -> bool {
        self.0.iter().any(|c| c == "ConditionalCheckFailed")
    }

    /// Whether an item was throttled or in conflict with another transaction (reasons that
    /// pass with time).
    pub(crate) fn any_transient(&self) -> bool {
        self.0.iter().any(|c| {
            matches!(
                c.as_str(),
                "ThrottlingError" | "TransactionConflict" | "ProvisionedThroughputExceeded"
            )
        })
    }
}

/// What a transaction came to.
pub(crate) enum Transacted {
    Done,
    Cancelled(Cancelled),
}

impl Store {
    pub(crate) fn table_name(&self) -> String {
        self.table.as_str().to_owned()
    }

    /// One item by its key, `None` when there is none.
    pub(crate) async fn get_one(
        &self,
        op: &'static str,
        key: Item,
        consistency: Consistency,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key))
            .consistent_read(consistency == Consistency::Strong)
            .send()
            .await
            .map_err(|e| classify(op, e))?;
        Ok(out.item)
    }

    /// One item read and validated by `read`, or `T`'s default when it does not exist.
    pub(crate) async fn get_or_default<T: Default>(
        &self,
        op: &'static str,
        key: Item,
        consistency: Consistency,
        read: impl FnOnce(&Item) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.get_one(op, key, consistency)
            .await?
            .as_ref()
            .map(read)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// The items of `keys` that exist, in any order; unprocessed keys are asked again with
    /// backoff.
    pub(crate) async fn batch_get(
        &self,
        op: &'static str,
        keys: Vec<Item>,
        consistency: Consistency,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistency == Consistency::Strong)
                .build()
                .map_err(|e| StoreError::rejected(op, e.to_string()))?;
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table.as_str(), pending)
                    .send()
                    .await
                    .map_err(|e| classify(op, e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(self.table.as_str()).unwrap_or_default());
                }
                match out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(self.table.as_str()))
                {
                    Some(rest) if !rest.keys().is_empty() => pending = rest,
                    _ => break,
                }
                if attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Unavailable {
                        op,
                        message: "keys still unprocessed after retries".into(),
                    });
                }
                tokio::time::sleep(UNPROCESSED_BACKOFF.delay(attempt)).await;
            }
        }
        Ok(found)
    }

    /// Writes requests in batches of 25, retrying unprocessed ones with backoff.
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.as_str(), pending)
                    .send()
                    .await
                    .map_err(|e| classify("batch write", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(self.table.as_str()))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Unavailable {
                        op: "batch write",
                        message: format!("{} items still unprocessed after retries", pending.len()),
                    });
                }
                tokio::time::sleep(UNPROCESSED_BACKOFF.delay(attempt)).await;
            }
        }
        Ok(())
    }

    /// One transaction; a cancellation is an outcome (which conditions failed), other failures
    /// are errors.
    pub(crate) async fn transact(
        &self,
        op: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Transacted, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transacted::Done),
            Err(err) => match cancellation(&err) {
                Some(codes) if codes.any_condition_failed() => Ok(Transacted::Cancelled(codes)),
                // Throttled, or in conflict with another transaction: nothing was written,
                // and the same transaction may pass later.
                Some(codes) if codes.any_transient() => Err(StoreError::Unavailable {
                    op,
                    message: format!("transaction cancelled: {:?}", codes.0),
                }),
                _ => Err(classify(op, err)),
            },
        }
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, all pages.
    pub(crate) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        consistency: Consistency,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table.as_str())
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(consistency == Consistency::Strong);
        let query = if prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        all_items("query", query).await
    }
}

/// The per-item cancellation codes of a cancelled transaction, if that is what failed.
fn cancellation<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Cancelled> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(Cancelled(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        )),
        _ => None,
    }
}

/// Every item a query finds, over all its pages.
pub(crate) async fn all_items(
    op: &'static str,
    query: QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    let mut pages = query.into_paginator().items().send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.map_err(|e| classify(op, e))?);
    }
    Ok(items)
}
