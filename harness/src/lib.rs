//! norcompat's harness, one folder per stage of the pipeline; each stage
//! imports only the stages above it in this list:
//!
//! - [`qemu`]: the driver of a real QEMU process (qtest, QMP), a library
//!   the stages use to reach real builds.
//! - [`definitions`]: version files, boards, scenarios, features, the
//!   reviewed known differences, and the errors that name their file and line.
//! - [`generation`]: op lists and the seeded sequence generator.
//! - [`running`]: machines of a version (models and real QEMU), trials,
//!   behaviour runs and the matrix.
//! - [`judging`]: comparison, outcomes, expectations, static prediction,
//!   the check of models against real builds, differences between releases.
//! - [`minimizing`]: shrinking and reproducer files.
//! - [`results`]: the results data a report is built from.
//! - [`soak`]: long sharded runs and merging them.
//! - [`commands`]: one file per `norcompat` command; nothing imports them.

pub mod qemu;

pub mod commands;
pub mod definitions;
pub mod generation;
pub mod judging;
pub mod minimizing;
pub mod results;
pub mod running;
pub mod soak;
