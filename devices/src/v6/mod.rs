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
//! `ParallelNorFlash`, which owns a `NorFlash`. What differs between the
//! command sets (read and write functions, reset, the timer callback, the
//! state) is the [`parallel::ParallelNorDevice`] trait; everything else a
//! device offers ([`crate::FlashDevice`], the timer loop, forking, lossless
//! migration) is implemented once for every such type. Each device exposes a
//! complete canonical state (`State`, read with `state` and restored with
//! `set_state`) and its projection onto v5's encoding (`State::to_v5`).
//!
//! ```
//! use devices::v6::cfi02::{Cycle, ParallelNorCfi02Flash};
//! use devices::{bus_read, bus_write, BlockBackend, DeviceSpec};
//!
//! let spec = DeviceSpec::parse(
//!     "parallel-nor-cfi02-flash,num-blocks=128,sector-length=0x10000,width=2,\
//!      mappings=4,id0=0xBF,id1=0x236D,unlock-addr0=0x5555,unlock-addr1=0x2AAA,\
//!      name=musicpal.flash",
//! )
//! .unwrap();
//! let mut flash =
//!     ParallelNorCfi02Flash::new(&spec.props, BlockBackend::memory(8 << 20, 0xFF, true)).unwrap();
//! // Autoselect: AA@0xAAA, 55@0x554, 90@0xAAA, then the manufacturer id.
//! for (addr, val) in [(0xAAA, 0xAA), (0x554, 0x55), (0xAAA, 0x90)] {
//!     bus_write(&mut flash, addr, 2, val);
//! }
//! assert_eq!(bus_read(&mut flash, 0, 2), 0xBF);
//! let state = flash.state();
//! assert_eq!(state.cycle, Cycle::Autoselect);
//! assert_eq!((state.to_v5().wcycle, state.to_v5().cmd), (3, 0x90));
//! ```

pub mod cfi;
pub mod cfi01;
pub mod cfi02;
pub mod nor_flash;
pub mod parallel;
