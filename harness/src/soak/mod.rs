//! Soak runs: long randomized runs on all cores in deterministic shards,
//! a bounded summary per shard checkpointed as the run goes (so a run
//! killed at any moment still merges), and merging shards into one report
//! identical to a single run.

pub mod checkpoint;
pub mod error;
pub mod jsonl;
pub mod merge;
pub mod run;
pub mod seeds;
pub mod shards;
pub mod summary;
pub mod trial_log;

pub use merge::merge;
pub use run::{soak, SoakArgs};
