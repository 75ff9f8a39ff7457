//! A DynamoDB client that records every request and answer, and asks the server for its
//! consumed capacity, without touching the store's code: an SDK interceptor on a client the
//! [`Store`] is then built with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
    delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
    query::QueryInput, scan::ScanInput, transact_get_items::TransactGetItemsInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use callstats_store::Store;
use serde_json::Value;

/// One call as it went over the wire.
#[derive(Clone, Debug)]
pub struct Call {
    /// `GetItem`, `Query`, `TransactWriteItems`, ...
    pub op: String,
    pub request: Value,
    /// The answer's JSON (`Null` when the call failed before an answer).
    pub response: Value,
    pub ok: bool,
}

impl Call {
    /// What the server reported as consumed, summed over its entries (0 when it reported
    /// nothing).
    #[must_use]
    pub fn reported_units(&self) -> Option<f64> {
        match self.response.get("ConsumedCapacity")? {
            Value::Array(entries) => Some(
                entries
                    .iter()
                    .filter_map(|e| e.get("CapacityUnits").and_then(Value::as_f64))
                    .sum(),
            ),
            entry => entry.get("CapacityUnits").and_then(Value::as_f64),
        }
    }
}

/// The interceptor and what it saw.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Requests sent and not yet answered, by the address of their call's configuration bag
    /// (one per call, alive until the call ends): the request is gone from the context by
    /// the time the answer is read.
    pending: Arc<Mutex<HashMap<usize, (String, Value)>>>,
}

impl Recorder {
    /// Everything recorded since the last take.
    #[must_use]
    pub fn take(&self) -> Vec<Call> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// A store on `table` whose client reports to this recorder.
    #[must_use]
    pub fn store(&self, plain: &Store) -> Store {
        let config = plain
            .client()
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        Store::new(Client::from_conf(config), plain.table().clone())
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "callstats-bench-recorder"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let total = Some(ReturnConsumedCapacity::Total);
        let input = context.input_mut();
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<DeleteItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactGetItemsInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchWriteItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<ScanInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let op = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit_once('.'))
            .map_or_else(|| "unknown".to_owned(), |(_, op)| op.to_owned());
        let body = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(bag_id(cfg), (op, body));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((op, request)) = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&bag_id(cfg)))
        else {
            return Ok(());
        };
        let response = context.response();
        let ok = response.is_some_and(|r| r.status().is_success());
        let response = response
            .and_then(|r| r.body().bytes())
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                op,
                request,
                response,
                ok,
            });
        }
        Ok(())
    }
}

/// The identity of a call's configuration bag while the call runs.
fn bag_id(cfg: &ConfigBag) -> usize {
    std::ptr::from_ref(cfg) as usize
}
