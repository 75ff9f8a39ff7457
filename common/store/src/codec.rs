//! Reading and writing attribute values. Reading validates: a missing or mistyped attribute is
//! [`StoreError::Malformed`], never a silent zero.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::StoreError;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Typed access to one item, naming the item in every error.
pub(crate) struct Reader<'a> {
    item: &'a Item,
    key: String,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(item: &'a Item) -> Self {
        let part = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str)
        };
        let key = format!("{}/{}", part("pk"), part("sk"));
        Self { item, key }
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> StoreError {
        StoreError::malformed(self.key.clone(), reason)
    }

    fn get(&self, name: &str) -> Result<&'a AttributeValue, StoreError> {
        self.item
            .get(name)
            .ok_or_else(|| self.error(format!("missing attribute {name}")))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.item.contains_key(name)
    }

    pub(crate) fn string(&self, name: &str) -> Result<&'a str, StoreError> {
        self.get(name)?
            .as_s()
            .map(String::as_str)
            .map_err(|_| self.error(format!("attribute {name} is not a string")))
    }

    pub(crate) fn parse<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        let raw = self.string(name)?;
        raw.parse()
            .map_err(|_| self.error(format!("attribute {name} has unexpected value {raw:?}")))
    }

    pub(crate) fn opt_parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        if self.has(name) {
            self.parse(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn u64(&self, name: &str) -> Result<u64, StoreError> {
        let raw = self
            .get(name)?
            .as_n()
            .map_err(|_| self.error(format!("attribute {name} is not a number")))?;
        raw.parse().map_err(|_| {
            self.error(format!(
                "attribute {name} is not a whole non-negative number: {raw:?}"
            ))
        })
    }

    pub(crate) fn bool(&self, name: &str) -> Result<bool, StoreError> {
        self.get(name)?
            .as_bool()
            .copied()
            .map_err(|_| self.error(format!("attribute {name} is not a boolean")))
    }

    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, StoreError> {
        if self.has(name) {
            self.bool(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn bytes(&self, name: &str) -> Result<&'a [u8], StoreError> {
        self.get(name)?
            .as_b()
            .map(aws_sdk_dynamodb::primitives::Blob::as_ref)
            .map_err(|_| self.error(format!("attribute {name} is not binary")))
    }

    pub(crate) fn timestamp(&self, name: &str) -> Result<callstats_core::Timestamp, StoreError> {
        let secs = self.u64(name)?;
        i64::try_from(secs)
            .ok()
            .and_then(callstats_core::Timestamp::new)
            .ok_or_else(|| self.error(format!("attribute {name} is not a valid time: {secs}")))
    }

    /// The part of the sort key after `prefix`.
    pub(crate) fn sk_suffix(&self, prefix: &str) -> Result<&'a str, StoreError> {
        self.string("sk")?
            .strip_prefix(prefix)
            .ok_or_else(|| self.error(format!("sort key does not start with {prefix}")))
    }
}
