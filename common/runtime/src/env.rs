//! The environment, read once at start-up, and what is wrong with it.
//!
//! Every variable is trimmed, and an empty value counts as unset (an operator who writes
//! `CALLSTATS_TABLE=` meant "not set", not "the table with no name").

use std::collections::HashMap;
use std::fmt;

/// A variable that is missing or unusable. A program ends with this one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    /// The variable to fix.
    pub variable: &'static str,
    /// What is wrong and what is expected: "is not set: give the bot token".
    pub problem: String,
}

impl ConfigError {
    /// `variable` is not set; `hint` says what to give.
    #[must_use]
    pub fn missing(variable: &'static str, hint: &str) -> Self {
        Self {
            variable,
            problem: format!("is not set: {hint}"),
        }
    }

    /// `variable` is set to something unusable; `expected` says what would do.
    #[must_use]
    pub fn invalid(variable: &'static str, expected: impl fmt::Display) -> Self {
        Self {
            variable,
            problem: format!("is invalid: {expected}"),
        }
    }
}

/// Where variables come from: the process environment, or fixed pairs in tests.
pub struct Env(Box<Lookup>);

/// Reads one variable.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}

impl Env {
    /// The process environment.
    #[must_use]
    pub fn process() -> Self {
        Self(Box::new(|name| std::env::var(name).ok()))
    }

    /// Fixed variables (tests).
    #[must_use]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self(Box::new(move |name| map.get(name).cloned()))
    }

    /// The trimmed value of `name`; `None` when unset or empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value of a required variable.
    pub fn required(&self, name: &'static str, hint: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::missing(name, hint))
    }

    /// The value of `name` parsed with `parse` (whose error says what is expected); `None`
    /// when unset.
    pub fn parse<T, E: fmt::Display>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|v| parse(&v).map_err(|e| ConfigError::invalid(name, e)))
            .transpose()
    }

    /// A whole number of seconds in `min..=86400`, `default` when unset.
    pub fn seconds(&self, name: &'static str, default: u64, min: u64) -> Result<u64, ConfigError> {
        self.parse(name, |v| match v.parse::<u64>() {
            Ok(n) if n >= min && n <= 86_400 => Ok(n),
            _ => Err(format!(
                "{v:?} is not a number of seconds from {min} to 86400"
            )),
        })
        .map(|n| n.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_values_are_trimmed() {
        let env = Env::from_pairs(&[("A", "  x "), ("B", "  ")]);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("C"), None);
        let err = env.required("B", "give a b").unwrap_err();
        assert_eq!(err.to_string(), "B is not set: give a b");
    }

    #[test]
    fn parse_errors_name_the_variable() {
        let env = Env::from_pairs(&[("N", "soon"), ("M", "5")]);
        let err = env.seconds("N", 30, 1).unwrap_err();
        assert_eq!(err.variable, "N");
        assert!(err.to_string().starts_with("N is invalid: \"soon\""));
        assert_eq!(env.seconds("M", 30, 1), Ok(5));
        assert_eq!(env.seconds("unset", 30, 1), Ok(30));
        assert!(Env::from_pairs(&[("Z", "0")]).seconds("Z", 30, 1).is_err());
    }
}
