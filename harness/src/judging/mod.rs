//! Judging what runs observed: outcomes, expectations, static prediction
//! and differences between releases.

pub mod releases;
pub mod staticcheck;
