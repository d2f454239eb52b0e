//! norcompat's harness: op lists and replay, machine definitions, scenarios,
//! trials, the compatibility matrix and soak runs.

pub mod cli;
pub mod ops;
pub mod replay;
