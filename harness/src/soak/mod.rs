//! Soak runs: long randomized runs on all cores in deterministic shards,
//! JSON-lines results that survive a kill, and merging shards into one
//! report identical to a single run.

pub mod jsonl;
pub mod merge;
pub mod run;
pub mod seeds;
pub mod shards;
pub mod trial_log;

pub use merge::merge;
pub use run::{soak, SoakArgs};
