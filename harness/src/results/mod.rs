//! The results data (`reports::Results`) a report is built from.

pub mod records;
pub mod run_info;
