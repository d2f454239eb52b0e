//! Release v6: the NOR flash type hierarchy, behaviourally identical to v5.
//!
//! | type (QOM-style) | Rust |
//! | --- | --- |
//! | `nor-flash` (abstract) | [`nor_flash::NorFlash`]: array, backend, geometry, clock and timer |
//! | `parallel-nor-flash` (abstract) | [`parallel::ParallelNorFlash`]: a `NorFlash` on a parallel bus |
//! | `common-flash-memory-interface` | the [`cfi::CommonFlashMemoryInterface`] trait and table assembly |
//! | `parallel-nor-cfi01-flash` | [`cfi01::ParallelNorCfi01Flash`]: Intel/Sharp command set |
//! | `parallel-nor-cfi02-flash` | [`cfi02::ParallelNorCfi02Flash`]: AMD/Fujitsu command set |
//!
//! Inheritance becomes composition: a command-set device owns a
//! `ParallelNorFlash`, which owns a `NorFlash`. Each device exposes a complete
//! canonical state (`State`, restored with `from_state`) and its projection
//! onto v5's encoding (`State::to_v5`).

pub mod cfi;
pub mod cfi01;
pub mod cfi02;
pub mod nor_flash;
pub mod parallel;
