//! QAPI-style feature flags: device types declare named promises, plain or
//! conditional on the machine's configuration symbols (QAPI's `if`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Migrating at any point keeps the whole command state (lossless).
pub const MIGRATES_COMMAND_STATE: &str = "migrates-command-state";
/// A migrated cfi01 serves reads in the mode it was in (ROMD restored).
pub const RESTORES_READ_MODE: &str = "restores-read-mode";
/// After an incoming migration the array is written back to the drive.
pub const WRITES_BACK_IMAGE: &str = "writes-back-image";
/// Intel write-to-buffer (0xE8) is supported.
pub const WRITE_BUFFER: &str = "write-buffer";
/// AMD erase suspend/resume (0xB0/0x30) is supported.
pub const ERASE_SUSPEND: &str = "erase-suspend";

/// Every feature name the harness understands, with what it promises.
pub const KNOWN_FEATURES: &[(&str, &str)] = &[
    (
        MIGRATES_COMMAND_STATE,
        "a migration at any point is lossless: command cycle, status, modes, timers and buffers survive",
    ),
    (
        RESTORES_READ_MODE,
        "after a migration, reads are served in the read mode the source was in (cfi01 ROMD)",
    ),
    (
        WRITES_BACK_IMAGE,
        "after an incoming migration the device writes its array to its own drive: storage need not be shared",
    ),
    (WRITE_BUFFER, "write-to-buffer programming (0xE8) is available"),
    (ERASE_SUSPEND, "erase suspend (0xB0) and resume (0x30) are available"),
];

/// A condition over configuration symbols (QAPI's `if`): a symbol, or
/// `{ all = [...] }`, `{ any = [...] }`, `{ not = ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    Symbol(String),
    All { all: Vec<Condition> },
    Any { any: Vec<Condition> },
    Not { not: Box<Condition> },
}

impl Condition {
    /// Evaluates the condition against the set of defined symbols.
    pub fn holds(&self, symbols: &BTreeSet<String>) -> bool {
        match self {
            Condition::Symbol(s) => symbols.contains(s),
            Condition::All { all } => all.iter().all(|c| c.holds(symbols)),
            Condition::Any { any } => any.iter().any(|c| c.holds(symbols)),
            Condition::Not { not } => !not.holds(symbols),
        }
    }

    /// Symbols the condition mentions.
    pub fn symbols(&self, out: &mut Vec<String>) {
        match self {
            Condition::Symbol(s) => out.push(s.clone()),
            Condition::All { all: cs } | Condition::Any { any: cs } => {
                cs.iter().for_each(|c| c.symbols(out))
            }
            Condition::Not { not } => not.symbols(out),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, cs: &[Condition], op: &str| {
            f.write_str("(")?;
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        };
        match self {
            Condition::Symbol(s) => f.write_str(s),
            Condition::All { all } => join(f, all, "and"),
            Condition::Any { any } => join(f, any, "or"),
            Condition::Not { not } => write!(f, "not {not}"),
        }
    }
}

/// A declared feature: a plain name or `{ name = "...", if = ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureDecl {
    Plain(String),
    Conditional {
        name: String,
        #[serde(rename = "if")]
        condition: Condition,
    },
}

impl FeatureDecl {
    /// The feature's name.
    pub fn name(&self) -> &str {
        match self {
            FeatureDecl::Plain(n) | FeatureDecl::Conditional { name: n, .. } => n,
        }
    }

    /// True if the feature is in effect under `symbols`.
    pub fn effective(&self, symbols: &BTreeSet<String>) -> bool {
        match self {
            FeatureDecl::Plain(_) => true,
            FeatureDecl::Conditional { condition, .. } => condition.holds(symbols),
        }
    }
}

impl fmt::Display for FeatureDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureDecl::Plain(n) => f.write_str(n),
            FeatureDecl::Conditional { name, condition } => write!(f, "{name} if {condition}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(s: &[&str]) -> BTreeSet<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn conditions_follow_qapi_all_any_not() {
        let c: Condition = toml::from_str::<toml::Table>(
            r#"c = { all = ["a", { not = "b" }, { any = ["c", "d"] }] }"#,
        )
        .unwrap()["c"]
            .clone()
            .try_into()
            .unwrap();
        assert!(c.holds(&syms(&["a", "d"])));
        assert!(!c.holds(&syms(&["a", "b", "d"])));
        assert!(!c.holds(&syms(&["a"])));
        assert_eq!(c.to_string(), "(a and not b and (c or d))");
    }

    #[test]
    fn plain_features_always_hold_and_conditional_ones_may_drop() {
        let plain = FeatureDecl::Plain("write-buffer".into());
        let cond = FeatureDecl::Conditional {
            name: MIGRATES_COMMAND_STATE.into(),
            condition: Condition::Not {
                not: Box::new(Condition::Symbol("machine-type:nor-5.0".into())),
            },
        };
        let compat = syms(&["machine-type:nor-5.0"]);
        assert!(plain.effective(&compat));
        assert!(!cond.effective(&compat));
        assert!(cond.effective(&syms(&["machine-type:nor-6.0"])));
    }
}
