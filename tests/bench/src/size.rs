//! DynamoDB's published rules for item sizes and capacity units, to compute what an operation
//! costs from the items it touches (the local server reports no real figures).
//!
//! - Item size: the sum over attributes of the name's UTF-8 length plus the value's size:
//!   strings their UTF-8 length, numbers one byte per two significant digits plus one,
//!   binary its length, booleans and null one byte, lists and maps 3 bytes plus one byte per
//!   element plus the elements, sets the sum of their elements.
//! - Writes: one unit per started KiB of the item (the larger of its sizes before and after
//!   for puts and updates), at least one; twice that inside a transaction, condition checks
//!   included.
//! - Reads: one unit per started 4 KiB, strongly consistent; half that eventually
//!   consistent; a query adds up the sizes of every item (or index entry) it reads, then
//!   rounds once; a batch read rounds every item by itself; a read of a missing item (a key of
//!   a batch read included) still costs the minimum.
//! - A global secondary index entry is the table's key attributes, the index's key
//!   attributes and the projected ones, plus 100 bytes; writing it costs one unit per started
//!   KiB, never transactional. An entry that appears or disappears costs one write, one whose
//!   index key changes two (delete and put), one whose projected attributes change one. The
//!   indexes are read from the store's `table_definition()`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

pub type Item = HashMap<String, AttributeValue>;

/// Bytes of one attribute value.
#[must_use]
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// One byte per two significant digits, plus one.
#[must_use]
pub fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

/// Bytes of an item.
#[must_use]
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units of writing an item of `size` bytes once (outside a transaction).
#[must_use]
pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units of reading `size` bytes in one request.
#[must_use]
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Read units of a `BatchGetItem` (or of point reads added up): DynamoDB treats each key as a
/// `GetItem` of its own, so every item is rounded up to 4 KiB by itself, and a key that finds
/// no item still costs the minimum. `sizes` holds one entry per key asked for (`None`: no
/// item).
#[must_use]
pub fn batch_read_units(sizes: &[Option<usize>], consistent: bool) -> f64 {
    sizes
        .iter()
        .map(|s| read_units(s.unwrap_or(0), consistent))
        .sum()
}

/// A global secondary index: its key attributes and the non-key attributes it projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub hash: &'static str,
    /// `None` for an index with a partition key only.
    pub range: Option<&'static str>,
    pub projected: Vec<&'static str>,
}

/// The table's indexes, as the store's `table_definition()` declares them (what
/// `create-table` creates): the benchmark charges the indexes the table really has.
#[must_use]
pub fn indexes() -> Vec<Index> {
    callstats_store::table_definition()
        .indexes
        .into_iter()
        .map(|i| Index {
            name: i.name,
            hash: i.hash,
            range: i.range,
            projected: match i.projection {
                callstats_store::Projection::KeysOnly => Vec::new(),
                callstats_store::Projection::Include(attrs) => attrs,
            },
        })
        .collect()
}

impl Index {
    /// The item's entry in this index, if the item has the index's keys (the indexes are
    /// sparse: an item without them is not in the index).
    #[must_use]
    pub fn entry(&self, item: &Item) -> Option<Item> {
        item.get(self.hash)?;
        if let Some(range) = self.range {
            item.get(range)?;
        }
        let names = ["pk", "sk", self.hash]
            .into_iter()
            .chain(self.range)
            .chain(self.projected.iter().copied());
        Some(
            names
                .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
                .collect(),
        )
    }

    /// Bytes of an entry as the index stores it: its attributes plus 100 bytes of overhead.
    #[must_use]
    pub fn entry_size(entry: &Item) -> usize {
        item_size(entry) + 100
    }

    /// Index writes (units) when an item goes from `before` to `after`.
    #[must_use]
    pub fn write_units(&self, before: Option<&Item>, after: Option<&Item>) -> f64 {
        let old = before.and_then(|i| self.entry(i));
        let new = after.and_then(|i| self.entry(i));
        let units = |e: &Item| write_units(Self::entry_size(e));
        let key = |e: &Item| {
            (
                e.get(self.hash).cloned(),
                self.range.and_then(|r| e.get(r).cloned()),
            )
        };
        match (old, new) {
            (None, None) => 0.0,
            (Some(o), None) => units(&o),
            (None, Some(n)) => units(&n),
            (Some(o), Some(n)) => {
                if key(&o) != key(&n) {
                    units(&o) + units(&n)
                } else if o == n {
                    0.0
                } else {
                    units(&n)
                }
            }
        }
    }
}

/// An attribute value from DynamoDB's JSON wire format (`{"S": "x"}`, `{"N": "1"}`, ...).
#[must_use]
pub fn from_json(value: &Value) -> Option<AttributeValue> {
    let (kind, inner) = value.as_object()?.iter().next()?;
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        // Sizes only: the bytes a base64 text holds (every 4 characters are 3 bytes, less one
        // per `=` of padding), so a binary attribute read from the wire weighs what it holds.
        "B" => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![
            0u8;
            base64_len(
                inner.as_str()?
            )
        ])),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(from_json)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(inner)?),
        _ => return None,
    })
}

/// The number of bytes a base64 text (standard alphabet, padded) decodes to.
#[must_use]
pub fn base64_len(text: &str) -> usize {
    let text = text.trim();
    let padding = text.chars().rev().take_while(|c| *c == '=').count();
    (text.len() / 4 * 3).saturating_sub(padding)
}

/// An item (or key) from DynamoDB's JSON wire format.
#[must_use]
pub fn item_from_json(value: &Value) -> Option<Item> {
    value
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), from_json(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.to_owned())
    }

    #[test]
    fn sizes_follow_the_published_rules() {
        assert_eq!(number_size("0"), 2);
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("12"), 2);
        assert_eq!(number_size("123"), 3);
        assert_eq!(number_size("1700000000"), 2);
        assert_eq!(number_size("1790012345"), 6);
        assert_eq!(number_size("1000"), 2);
        let item: Item = [("pk".to_owned(), s("U#1")), ("total".to_owned(), n("3600"))].into();
        // "pk" 2 + "U#1" 3 + "total" 5 + 3600 (2 significant digits: 2 bytes)
        assert_eq!(item_size(&item), 12);
        let map = AttributeValue::M([("a".to_owned(), AttributeValue::Bool(true))].into());
        assert_eq!(value_size(&map), 3 + 1 + 1 + 1);
    }

    #[test]
    fn units_round_up() {
        assert!((write_units(1) - 1.0).abs() < 1e-9);
        assert!((write_units(1025) - 2.0).abs() < 1e-9);
        assert!((read_units(10, false) - 0.5).abs() < 1e-9);
        assert!((read_units(4097, true) - 2.0).abs() < 1e-9);
    }

    fn index(name: &str) -> Index {
        indexes().into_iter().find(|i| i.name == name).unwrap()
    }

    #[test]
    fn index_writes_count_moves_as_two() {
        // guild-days: keys gm (partition) and gd (sort), projects hb.
        let days = index("guild-days");
        let a: Item = [
            ("pk".to_owned(), s("U#1")),
            ("sk".to_owned(), s("D#2#2026-11-25")),
            ("gm".to_owned(), s("2#2026-11")),
            ("gd".to_owned(), s("2026-11-25")),
            ("t".to_owned(), n("60")),
        ]
        .into();
        let mut grown = a.clone();
        grown.insert("t".to_owned(), n("120"));
        let mut hb = a.clone();
        hb.insert(
            "hb".to_owned(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1, 2])),
        );
        let mut moved = a.clone();
        moved.insert("gd".to_owned(), s("2026-11-26"));
        assert!((days.write_units(None, Some(&a)) - 1.0).abs() < 1e-9);
        // An attribute the index does not project changes nothing in it.
        assert!((days.write_units(Some(&a), Some(&grown)) - 0.0).abs() < 1e-9);
        // A projected one is one write; a changed key a delete and a put.
        assert!((days.write_units(Some(&a), Some(&hb)) - 1.0).abs() < 1e-9);
        assert!((days.write_units(Some(&a), Some(&moved)) - 2.0).abs() < 1e-9);
        assert!((days.write_units(Some(&a), None) - 1.0).abs() < 1e-9);
        let mut unlisted = a.clone();
        unlisted.remove("gm");
        assert!((days.write_units(Some(&unlisted), Some(&unlisted)) - 0.0).abs() < 1e-9);
        assert!((days.write_units(Some(&a), Some(&unlisted)) - 1.0).abs() < 1e-9);
        // open-by-guild has no sort key.
        let open = index("open-by-guild");
        assert_eq!(open.range, None);
        let o: Item = [
            ("pk".to_owned(), s("U#1")),
            ("sk".to_owned(), s("USER")),
            ("og".to_owned(), s("2")),
            ("oc".to_owned(), s("3")),
        ]
        .into();
        assert_eq!(open.entry(&o).map(|e| e.len()), Some(4));
    }

    #[test]
    fn batch_reads_round_each_item_and_charge_missing_keys() {
        // Two small items and a missing key, eventually consistent: 3 × 0.5.
        assert!((batch_read_units(&[Some(10), Some(4000), None], false) - 1.5).abs() < 1e-9);
        // One item of 5 KB, strongly consistent: 2.
        assert!((batch_read_units(&[Some(5000)], true) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn base64_lengths_are_exact() {
        assert_eq!(base64_len(""), 0);
        assert_eq!(base64_len("AQ=="), 1);
        assert_eq!(base64_len("AQI="), 2);
        assert_eq!(base64_len("AQID"), 3);
    }

    #[test]
    fn reads_the_wire_format() {
        let v: Value = serde_json::json!({"pk": {"S": "U#1"}, "n": {"N": "5"}, "m": {"M": {"x": {"BOOL": true}}}, "l": {"L": [{"NULL": true}]}});
        let item = item_from_json(&v).unwrap();
        assert_eq!(item.get("n"), Some(&n("5")));
        assert!(matches!(item.get("m"), Some(AttributeValue::M(_))));
    }
}
