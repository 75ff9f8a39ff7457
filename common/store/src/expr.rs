//! Builds update and condition expressions with every attribute name aliased.
//!
//! Many plain words (`total`, `name`, `count`...) are DynamoDB reserved words; aliasing every
//! name (`#a0`) and value (`:v0`) means no expression here ever trips on one.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Clone, Debug, Default)]
pub(crate) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
}

impl Expr {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The alias of attribute `attr`, the same for every use in one expression.
    pub(crate) fn name(&mut self, attr: &str) -> String {
        if let Some((alias, _)) = self.names.iter().find(|(_, a)| a.as_str() == attr) {
            return alias.clone();
        }
        let alias = format!("#a{}", self.names.len());
        self.names.insert(alias.clone(), attr.to_owned());
        alias
    }

    /// A fresh placeholder for `value`.
    pub(crate) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(crate) fn set(&mut self, attr: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.set.push(format!("{n} = {v}"));
        self
    }

    /// `SET a.b.c = value`: a path through maps (every part aliased).
    pub(crate) fn set_path(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let names: Vec<String> = path.iter().map(|p| self.name(p)).collect();
        let v = self.value(value);
        self.set.push(format!("{} = {v}", names.join(".")));
        self
    }

    /// A `SET` clause written by hand (with names and values from this builder).
    pub(crate) fn set_raw(&mut self, clause: String) -> &mut Self {
        self.set.push(clause);
        self
    }

    pub(crate) fn remove(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        self.remove.push(n);
        self
    }

    /// Adds a condition; all conditions must hold. Build it with [`Expr::name`] and
    /// [`Expr::value`].
    pub(crate) fn condition(&mut self, condition: String) -> &mut Self {
        self.conditions.push(condition);
        self
    }

    pub(crate) fn update_expression(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub(crate) fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| {
            self.conditions
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
    }

    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_every_name_once() {
        let mut e = Expr::new();
        e.set("total", AttributeValue::N("5".into()))
            .set_path(&["o", "seg"], AttributeValue::N("9".into()))
            .remove("lb");
        let total = e.name("total");
        let five = e.value(AttributeValue::N("5".into()));
        e.condition(format!("{total} >= {five}"));
        assert_eq!(
            e.update_expression().unwrap(),
            "SET #a0 = :v0, #a1.#a2 = :v1 REMOVE #a3"
        );
        assert_eq!(e.condition_expression().unwrap(), "(#a0 >= :v2)");
        assert_eq!(e.names().unwrap().len(), 4);
        assert!(Expr::new().names().is_none());
        assert!(Expr::new().update_expression().is_none());
    }
}
