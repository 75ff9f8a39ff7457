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
//!   consistent; a query adds up the sizes of every item it reads, then rounds once; a read
//!   of a missing item still costs the minimum.
//! - A global secondary index entry is the table's key attributes, the index's key
//!   attributes and the projected ones, plus 100 bytes; writing it costs one unit per started
//!   KiB, never transactional. An entry that appears or disappears costs one write, one whose
//!   index key changes two (delete and put), one whose projected attributes change one.

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

/// A global secondary index: its key attributes and the non-key attributes it projects.
#[derive(Clone, Copy, Debug)]
pub struct Index {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    pub projected: &'static [&'static str],
}

/// The table's indexes, as `table_definition()` declares them.
pub const INDEXES: [Index; 3] = [
    Index {
        name: "open-by-guild",
        hash: "og",
        range: "pk",
        projected: &["ch", "sid"],
    },
    Index {
        name: "lb-total",
        hash: "lb",
        range: "total",
        projected: &[],
    },
    Index {
        name: "lb-ranked",
        hash: "lb",
        range: "ranked",
        projected: &[],
    },
];

impl Index {
    /// The item's entry in this index, if the item has the index's keys.
    #[must_use]
    pub fn entry(&self, item: &Item) -> Option<Item> {
        item.get(self.hash)?;
        item.get(self.range)?;
        let names = ["pk", "sk", self.hash, self.range];
        Some(
            names
                .iter()
                .chain(self.projected.iter())
                .filter_map(|n| item.get(*n).map(|v| ((*n).to_owned(), v.clone())))
                .collect(),
        )
    }

    /// Index writes (units) when an item goes from `before` to `after`.
    #[must_use]
    pub fn write_units(&self, before: Option<&Item>, after: Option<&Item>) -> f64 {
        let old = before.and_then(|i| self.entry(i));
        let new = after.and_then(|i| self.entry(i));
        let units = |e: &Item| write_units(item_size(e) + 100);
        match (old, new) {
            (None, None) => 0.0,
            (Some(o), None) => units(&o),
            (None, Some(n)) => units(&n),
            (Some(o), Some(n)) => {
                if o.get(self.hash) != n.get(self.hash) || o.get(self.range) != n.get(self.range) {
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
        // Sizes only: base64 text of n bytes is about 4n/3 characters.
        "B" => AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![
            0u8;
            inner
                .as_str()?
                .len()
                * 3
                / 4
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

    #[test]
    fn index_writes_count_moves_as_two() {
        let lb = INDEXES[1];
        let a: Item = [
            ("pk".to_owned(), s("U#1")),
            ("sk".to_owned(), s("A#2")),
            ("lb".to_owned(), s("2#all")),
            ("total".to_owned(), n("60")),
        ]
        .into();
        let mut b = a.clone();
        b.insert("total".to_owned(), n("120"));
        assert!((lb.write_units(None, Some(&a)) - 1.0).abs() < 1e-9);
        assert!((lb.write_units(Some(&a), Some(&b)) - 2.0).abs() < 1e-9);
        assert!((lb.write_units(Some(&a), Some(&a)) - 0.0).abs() < 1e-9);
        assert!((lb.write_units(Some(&a), None) - 1.0).abs() < 1e-9);
        let mut no_lb = a.clone();
        no_lb.remove("lb");
        assert!((lb.write_units(Some(&no_lb), Some(&no_lb)) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn reads_the_wire_format() {
        let v: Value = serde_json::json!({"pk": {"S": "U#1"}, "n": {"N": "5"}, "m": {"M": {"x": {"BOOL": true}}}, "l": {"L": [{"NULL": true}]}});
        let item = item_from_json(&v).unwrap();
        assert_eq!(item.get("n"), Some(&n("5")));
        assert!(matches!(item.get("m"), Some(AttributeValue::M(_))));
    }
}
