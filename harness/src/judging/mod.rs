//! Judging what runs observed: outcomes, expectations, static prediction
//! and differences between releases.

pub mod behaviour;
pub mod comparison;
pub mod expectations;
pub mod frozen;
pub mod imitation;
pub mod models;
pub mod outcome;
pub mod releases;
pub mod staticcheck;
pub mod verdicts;
