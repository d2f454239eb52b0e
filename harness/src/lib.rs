//! norcompat's harness: op lists and replay, machine definitions, scenarios,
//! trials, the compatibility matrix and soak runs.

pub mod behaviour;
pub mod bench;
pub mod board;
pub mod cli;
pub mod features;
pub mod generator;
pub mod introspect;
pub mod known;
pub mod layout;
pub mod machines;
pub mod matrix;
pub mod modes;
pub mod ops;
pub mod qemu;
pub mod real_trial;
pub mod replay;
pub mod reproducer;
pub mod results;
pub mod scenarios;
pub mod shrink;
pub mod soak;
pub mod staticcheck;
pub mod toml_error;
pub mod trial;
pub mod vmstate_cmds;
