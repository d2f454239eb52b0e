//! The sequence generator: seeded ChaCha, grammar-aware (real CFI command
//! sequences plus some garbage), feature-aware and deterministic — the same
//! (scenario, seed, devices, allowed kinds) gives the same ops everywhere.

use crate::definitions::layout::{CommandSet, Layout};
use crate::definitions::scenarios::{PointKind, Scenario};
use devices::command_set::{amd, intel};
use devices::v5::cfi01::commands::CMD_READ_ARRAY_QEMU;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

pub use crate::generation::ops::TrialOp;

/// A generated sequence: ops with `Migrate` markers already placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    pub ops: Vec<TrialOp>,
}

impl Sequence {
    /// Positions (op indices) of the migrate markers.
    pub fn migration_points(&self) -> Vec<usize> {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, TrialOp::Migrate { .. }))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Kinds that need a feature every version of the matrix must promise.
pub fn kind_feature(kind: &str) -> Option<&'static str> {
    match kind {
        "write-buffer" => Some(crate::definitions::features::WRITE_BUFFER),
        "suspend" => Some(crate::definitions::features::ERASE_SUSPEND),
        _ => None,
    }
}

fn kind_applies(kind: &str, set: CommandSet) -> bool {
    let intel = ["erase", "write-buffer", "status", "clear-status", "lock"];
    let amd = [
        "bypass",
        "sector-erase",
        "chip-erase",
        "suspend",
        "poll",
        "autoselect-cfi",
    ];
    match set {
        CommandSet::Intel => !amd.contains(&kind),
        CommandSet::Amd => !intel.contains(&kind),
    }
}

struct Gen<'a> {
    rng: ChaCha8Rng,
    ops: Vec<TrialOp>,
    /// Point kinds available at each boundary (index = position before op i).
    tags: Vec<BTreeSet<PointKind>>,
    /// Where each op stands in the command it belongs to (`kind#n`: the
    /// n-th op the kind emitted): the boundary before it leaves the device
    /// in that command's n-th cycle state.
    steps: Vec<(String, usize)>,
    layouts: &'a [Layout],
    /// Recently programmed addresses per device, for meaningful reads.
    hot: Vec<Vec<u64>>,
    /// The boundary after the last op is quiescent.
    quiescent: bool,
}

impl Gen<'_> {
    /// Appends `op`; `inside` are the point kinds of the boundary before it
    /// (empty at a kind's first op: only "anywhere", or "quiescent" if the
    /// previous kind returned the device to read-array mode).
    fn push(&mut self, op: TrialOp, inside: &[PointKind]) {
        let mut t: BTreeSet<PointKind> = inside.iter().copied().collect();
        t.insert(PointKind::Anywhere);
        if std::mem::take(&mut self.quiescent) {
            t.insert(PointKind::Quiescent);
        }
        self.tags.push(t);
        self.ops.push(op);
    }

    fn width_choice(&mut self, l: &Layout) -> u32 {
        let choices: Vec<u32> = [1u32, 2, 4]
            .into_iter()
            .filter(|w| *w <= l.width.max(1))
            .collect();
        if self.rng.gen_bool(0.7) {
            l.width.min(4)
        } else {
            *choices.choose(&mut self.rng).unwrap_or(&1)
        }
    }

    fn aligned(&mut self, l: &Layout, addr: u64, width: u32) -> u64 {
        let a = addr & !(width as u64 - 1);
        a.min(l.window - width as u64)
    }

    /// An address in a "hot" area (first sectors, last sector, recently programmed).
    fn hot_addr(&mut self, dev: usize, width: u32) -> u64 {
        let l = &self.layouts[dev];
        let base = if !self.hot[dev].is_empty() && self.rng.gen_bool(0.5) {
            *self.hot[dev].choose(&mut self.rng).unwrap_or(&0)
        } else {
            let n = l.sectors.len();
            let pick = match self.rng.gen_range(0..4) {
                0 => n - 1,
                _ => self.rng.gen_range(0..n.min(4)),
            };
            let (start, len) = l.sectors[pick];
            start + self.rng.gen_range(0..len.min(0x2000))
        };
        let mirror = if l.window > l.chip && self.rng.gen_bool(0.2) {
            self.rng.gen_range(0..l.window / l.chip) * l.chip
        } else {
            0
        };
        let l = self.layouts[dev].clone();
        self.aligned(&l, base + mirror, width)
    }

    fn random_addr(&mut self, dev: usize, width: u32) -> u64 {
        let l = self.layouts[dev].clone();
        let a = self.rng.gen_range(0..l.window);
        self.aligned(&l, a, width)
    }

    fn write(&mut self, dev: usize, addr: u64, width: u32, val: u64, tags: &[PointKind]) {
        let mask = devices::device::mask(width);
        self.push(
            TrialOp::Write {
                dev,
                addr,
                width,
                val: val & mask,
            },
            tags,
        );
    }

    fn read(&mut self, dev: usize, addr: u64, width: u32, tags: &[PointKind]) {
        self.push(TrialOp::Read { dev, addr, width }, tags);
    }

    /// An Intel command value: the byte, sometimes replicated per chip lane.
    fn intel_cmd(&mut self, l: &Layout, b: u8) -> (u32, u64) {
        let width = l.width.min(4);
        let dw = l.device_width.max(1);
        if self.rng.gen_bool(0.5) && width > dw {
            let mut v = 0u64;
            let mut i = 0;
            while i < width {
                v |= (b as u64) << (8 * i);
                i += dw;
            }
            (width, v)
        } else {
            (width, b as u64)
        }
    }

    fn intel_write(&mut self, dev: usize, addr: u64, b: u8, tags: &[PointKind]) {
        let l = self.layouts[dev].clone();
        let (w, v) = self.intel_cmd(&l, b);
        let a = self.aligned(&l, addr, w);
        self.write(dev, a, w, v, tags);
    }

    fn data_value(&mut self, width: u32) -> u64 {
        let v: u64 = match self.rng.gen_range(0..5) {
            0 => 0,
            1 => u64::MAX,
            2 => 0x5555_5555_5555_5555,
            _ => self.rng.gen(),
        };
        v & devices::device::mask(width)
    }
}

const MID: &[PointKind] = &[PointKind::MidCommand];
const MID_BUFFER: &[PointKind] = &[PointKind::MidCommand, PointKind::MidBuffer];
const MID_ERASE: &[PointKind] = &[PointKind::MidCommand, PointKind::MidErase];
const FIRST: &[PointKind] = &[];
/// Cycles of a command from this one on are drawn as one when placing a
/// migration (a sector erase's distinct states end here).
const LAST_DISTINCT_CYCLE: usize = 6;

/// Durations a `step` picks from (ns): around the cfi02 erase window (50 µs)
/// and per-sector erase time (512 µs), and none at all.
const STEP_CHOICES: &[u64] = &[
    0, 1_000, 25_000, 49_999, 50_000, 100_000, 511_999, 512_000, 600_000, 2_000_000,
];

// Intel command bytes (shared/spec/pflash-cfi01.md §7.1).
const I_PROGRAM: [u8; 2] = [intel::PROGRAM, intel::PROGRAM_ALT];
const I_ERASE: u8 = intel::BLOCK_ERASE;
const I_CONFIRM: u8 = intel::CONFIRM;
const I_CLEAR_STATUS: u8 = intel::CLEAR_STATUS;
const I_LOCK: u8 = intel::LOCK_SETUP;
const I_STATUS: u8 = intel::READ_STATUS;
const I_ID: u8 = intel::READ_ID;
const I_CFI: u8 = intel::CFI_QUERY;
const I_BUFFER: u8 = intel::WRITE_TO_BUFFER;
/// Every byte that reads the array: the standard's, QEMU's own 0x00 and the AMD reset.
const I_READ_ARRAY: [u8; 3] = [intel::READ_ARRAY, CMD_READ_ARRAY_QEMU, intel::AMD_PROBE];

// AMD command bytes (shared/spec/pflash-cfi02.md §7).
const A_UNLOCK1: u8 = amd::UNLOCK1;
const A_UNLOCK2: u8 = amd::UNLOCK2;
const A_BYPASS: u8 = amd::UNLOCK_BYPASS;
const A_ERASE: u8 = amd::ERASE_SETUP;
const A_AUTOSELECT: u8 = amd::AUTOSELECT;
const A_PROGRAM: u8 = amd::PROGRAM;
const A_CHIP_ERASE: u8 = amd::CHIP_ERASE;
const A_SECTOR_ERASE: u8 = amd::SECTOR_ERASE;
const A_SUSPEND: u8 = amd::ERASE_SUSPEND;
const A_RESUME: u8 = amd::ERASE_RESUME;
const A_CFI: u8 = amd::CFI_QUERY;
const A_RESET: u8 = amd::RESET;

impl Gen<'_> {
    fn emit(&mut self, dev: usize, kind: &str) {
        let set = self.layouts[dev].set;
        match (kind, set) {
            ("read", _) => self.k_read(dev),
            ("garbage", _) => self.k_garbage(dev),
            ("step", _) => self.k_step(),
            ("reset", _) => self.push(TrialOp::Reset, FIRST),
            ("read-array", CommandSet::Intel) => {
                let b = *I_READ_ARRAY.choose(&mut self.rng).unwrap_or(&0xFF);
                let a = self.hot_addr(dev, 1);
                self.intel_write(dev, a, b, FIRST);
                self.quiescent = true;
            }
            ("read-array", CommandSet::Amd) => {
                self.push(
                    TrialOp::Step {
                        ns: Some(5_000_000_000),
                    },
                    FIRST,
                );
                let a = self.hot_addr(dev, 1);
                self.amd_write(dev, a, A_RESET, MID);
                self.quiescent = true;
            }
            ("program", CommandSet::Intel) => self.i_program(dev),
            ("program", CommandSet::Amd) => self.a_program(dev),
            ("cfi", CommandSet::Intel) => self.i_query(dev, I_CFI),
            ("id", CommandSet::Intel) => self.i_query(dev, I_ID),
            ("cfi", CommandSet::Amd) => self.a_cfi(dev),
            ("id", CommandSet::Amd) => self.a_autoselect(dev, false),
            ("autoselect-cfi", CommandSet::Amd) => self.a_autoselect(dev, true),
            ("erase", CommandSet::Intel) => self.i_erase(dev),
            ("write-buffer", CommandSet::Intel) => self.i_buffer(dev),
            ("status", CommandSet::Intel) => {
                let a = self.hot_addr(dev, 1);
                self.intel_write(dev, a, I_STATUS, FIRST);
                self.reads(dev, 1, 3, MID);
            }
            ("clear-status", CommandSet::Intel) => {
                let a = self.hot_addr(dev, 1);
                self.intel_write(dev, a, I_CLEAR_STATUS, FIRST);
            }
            ("lock", CommandSet::Intel) => {
                let a = self.hot_addr(dev, 1);
                self.intel_write(dev, a, I_LOCK, FIRST);
                let b = *[0x01, I_CONFIRM, 0xFF, 0x42]
                    .choose(&mut self.rng)
                    .unwrap_or(&0x01);
                self.intel_write(dev, a, b, MID);
                self.reads(dev, 0, 2, MID);
            }
            ("bypass", CommandSet::Amd) => self.a_bypass(dev),
            ("sector-erase", CommandSet::Amd) => self.a_sector_erase(dev, false),
            ("suspend", CommandSet::Amd) => self.a_sector_erase(dev, true),
            ("chip-erase", CommandSet::Amd) => self.a_chip_erase(dev),
            ("poll", CommandSet::Amd) => {
                let n = self.rng.gen_range(38..50);
                let a = self.hot_addr(dev, self.layouts[dev].width.min(4));
                for i in 0..n {
                    let t = if i == 0 { FIRST } else { MID };
                    self.read(dev, a, self.layouts[dev].width.min(4), t);
                }
            }
            _ => self.k_read(dev),
        }
    }

    fn reads(&mut self, dev: usize, min: usize, max: usize, tags: &[PointKind]) {
        let n = self.rng.gen_range(min..=max);
        for _ in 0..n {
            let w = self.width_choice(&self.layouts[dev].clone());
            let a = self.hot_addr(dev, w);
            self.read(dev, a, w, tags);
        }
    }

    fn k_read(&mut self, dev: usize) {
        let n = self.rng.gen_range(1..=4);
        for i in 0..n {
            let w = self.width_choice(&self.layouts[dev].clone());
            let a = if self.rng.gen_bool(0.8) {
                self.hot_addr(dev, w)
            } else {
                self.random_addr(dev, w)
            };
            self.read(dev, a, w, if i == 0 { FIRST } else { MID });
        }
    }

    fn k_garbage(&mut self, dev: usize) {
        let w = self.width_choice(&self.layouts[dev].clone());
        let a = if self.rng.gen_bool(0.5) {
            self.hot_addr(dev, w)
        } else {
            self.random_addr(dev, w)
        };
        let v = self.data_value(w);
        self.write(dev, a, w, v, FIRST);
    }

    fn k_step(&mut self) {
        let ns = if self.rng.gen_bool(0.3) {
            None
        } else {
            Some(*STEP_CHOICES.choose(&mut self.rng).unwrap_or(&0))
        };
        self.push(TrialOp::Step { ns }, FIRST);
    }

    // ---- Intel sequences ----

    fn i_program(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        let w = self.width_choice(&l);
        let a = self.hot_addr(dev, w);
        let b = *I_PROGRAM.choose(&mut self.rng).unwrap_or(&0x40);
        self.intel_write(dev, a, b, FIRST);
        let v = self.data_value(w);
        self.write(dev, a, w, v, MID);
        self.hot[dev].push(a);
        self.reads(dev, 0, 2, MID);
    }

    fn i_erase(&mut self, dev: usize) {
        let a = self.hot_addr(dev, 1);
        self.intel_write(dev, a, I_ERASE, FIRST);
        let confirm = *[I_CONFIRM, I_CONFIRM, I_CONFIRM, 0xFF, 0x33]
            .choose(&mut self.rng)
            .unwrap_or(&I_CONFIRM);
        self.intel_write(dev, a, confirm, MID);
        self.reads(dev, 0, 2, MID);
    }

    fn i_query(&mut self, dev: usize, cmd: u8) {
        let l = self.layouts[dev].clone();
        let a = self.hot_addr(dev, 1);
        self.intel_write(dev, a, cmd, FIRST);
        let n = self.rng.gen_range(1..=6);
        // Query index N sits at byte N × bank width (§8).
        let unit = l.width.max(1) as u64;
        for _ in 0..n {
            let w = self.width_choice(&l);
            let idx: u64 = match self.rng.gen_range(0..4) {
                0 => self.rng.gen_range(0..4),
                1 => self.rng.gen_range(0x10..0x31),
                2 => self.rng.gen_range(0x31..0x60),
                _ => self.rng.gen_range(0..0x100),
            };
            let base = if self.rng.gen_bool(0.2) {
                self.rng.gen_range(0..4) * 0x400
            } else {
                0
            };
            let addr = self.aligned(&l, base + idx * unit, w);
            self.read(dev, addr, w, MID);
        }
        // Exit: usually 0xFF; sometimes a byte CFI mode ignores, or nothing.
        match self.rng.gen_range(0..6) {
            0 => {}
            1 => {
                let b = *[0x00, I_STATUS, I_CLEAR_STATUS, 0xF0]
                    .choose(&mut self.rng)
                    .unwrap_or(&0);
                self.intel_write(dev, a, b, MID);
                self.reads(dev, 0, 1, MID);
            }
            _ => {
                self.intel_write(dev, a, 0xFF, MID);
                self.quiescent = true;
            }
        }
    }

    fn i_buffer(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        let w = l.width.min(4);
        let window = l.buffer.max(w as u64);
        let a = self.hot_addr(dev, w);
        let start = a & !(window - 1);
        self.intel_write(dev, a, I_BUFFER, FIRST);
        if self.rng.gen_bool(0.3) {
            self.read(dev, a, w, MID);
        }
        // Count cycle: N-1 data writes follow; variants 0 and window crossing.
        let n: u64 = match self.rng.gen_range(0..5) {
            0 => 1,
            1 => self.rng.gen_range(2..6),
            _ => self.rng.gen_range(1..4),
        };
        let count_mask = if l.device_width == 0 {
            devices::device::mask(l.width.min(4))
        } else {
            devices::device::mask(l.device_width)
        };
        let count_at = if self.rng.gen_bool(0.15) {
            self.random_addr(dev, w)
        } else {
            start
        };
        self.write(dev, count_at, w, (n - 1) & count_mask, MID);
        let crossing = self.rng.gen_bool(0.15);
        let mut addr = if crossing {
            start + window - w as u64
        } else {
            a
        };
        for _ in 0..n {
            let v = self.data_value(w);
            let at = self.aligned(&l, addr, w);
            self.write(dev, at, w, v, MID_BUFFER);
            self.hot[dev].push(at);
            if self.rng.gen_bool(0.1) {
                self.read(dev, at, w, MID_BUFFER);
            }
            addr += w as u64;
        }
        let confirm = if self.rng.gen_bool(0.85) {
            I_CONFIRM
        } else {
            0xFF
        };
        self.intel_write(dev, a, confirm, MID_BUFFER);
        self.reads(dev, 0, 2, MID);
    }

    // ---- AMD sequences ----

    fn amd_write(&mut self, dev: usize, addr: u64, b: u8, tags: &[PointKind]) {
        let l = self.layouts[dev].clone();
        let w = l.width.min(4);
        let mirror = if l.window > l.chip && self.rng.gen_bool(0.1) {
            self.rng.gen_range(0..l.window / l.chip) * l.chip
        } else {
            0
        };
        let a = self.aligned(&l, addr + mirror, w);
        self.write(dev, a, w, b as u64, tags);
    }

    fn unlock(&mut self, dev: usize, first: &[PointKind]) {
        let l = self.layouts[dev].clone();
        self.amd_write(dev, l.unlock0, A_UNLOCK1, first);
        self.amd_write(dev, l.unlock1, A_UNLOCK2, MID);
    }

    fn sector_addr(&mut self, dev: usize) -> u64 {
        let l = self.layouts[dev].clone();
        let n = l.sectors.len();
        let i = match self.rng.gen_range(0..3) {
            0 => n - 1,
            _ => self.rng.gen_range(0..n.min(6)),
        };
        l.sectors[i].0
    }

    fn a_program(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        self.unlock(dev, FIRST);
        self.amd_write(dev, l.unlock0, A_PROGRAM, MID);
        let w = self.width_choice(&l);
        let a = self.hot_addr(dev, w);
        let v = if self.rng.gen_bool(0.1) {
            A_RESET as u64
        } else {
            self.data_value(w)
        };
        self.write(dev, a, w, v, MID);
        self.hot[dev].push(a);
        self.reads(dev, 0, 2, MID);
    }

    fn a_bypass(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        self.unlock(dev, FIRST);
        self.amd_write(dev, l.unlock0, A_BYPASS, MID);
        for _ in 0..self.rng.gen_range(1..4) {
            let any = self.random_addr(dev, l.width.min(4));
            self.amd_write(dev, any, A_PROGRAM, MID);
            let w = self.width_choice(&l);
            let a = self.hot_addr(dev, w);
            let v = self.data_value(w);
            self.write(dev, a, w, v, MID);
            self.hot[dev].push(a);
            self.reads(dev, 0, 1, MID);
        }
        let any = self.random_addr(dev, l.width.min(4));
        match self.rng.gen_range(0..4) {
            0 => {
                self.amd_write(dev, any, A_AUTOSELECT, MID);
                self.reads(dev, 0, 1, MID);
                self.amd_write(dev, any, 0x00, MID);
            }
            1 => self.amd_write(dev, any, 0x00, MID),
            2 => self.amd_write(dev, any, A_RESET, MID),
            _ => {} // stay in bypass
        }
    }

    fn a_sector_erase(&mut self, dev: usize, suspend: bool) {
        let l = self.layouts[dev].clone();
        self.unlock(dev, FIRST);
        self.amd_write(dev, l.unlock0, A_ERASE, MID);
        self.unlock(dev, MID);
        let first = self.sector_addr(dev);
        self.amd_write(dev, first, A_SECTOR_ERASE, MID);
        for _ in 0..self.rng.gen_range(0..3) {
            if self.rng.gen_bool(0.3) {
                let ns = *[10_000, 30_000].choose(&mut self.rng).unwrap_or(&10_000);
                self.push(TrialOp::Step { ns: Some(ns) }, MID_ERASE);
            }
            let s = self.sector_addr(dev);
            self.amd_write(dev, s, A_SECTOR_ERASE, MID_ERASE);
        }
        self.reads_at(dev, first, 1, 3, MID_ERASE);
        if self.rng.gen_bool(0.5) {
            self.push(TrialOp::Step { ns: Some(50_000) }, MID_ERASE);
            self.reads_at(dev, first, 1, 3, MID_ERASE);
        }
        if suspend {
            self.amd_write(dev, 0, A_SUSPEND, MID_ERASE);
            self.reads_at(dev, first, 1, 4, MID_ERASE);
            if self.rng.gen_bool(0.5) {
                // Program a sector that is not being erased.
                let other = l.sectors[l.sectors.len() / 2].0;
                self.unlock(dev, MID_ERASE);
                self.amd_write(dev, l.unlock0, A_PROGRAM, MID_ERASE);
                let v = self.data_value(l.width.min(4));
                self.write(dev, other, l.width.min(4), v, MID_ERASE);
                self.hot[dev].push(other);
            }
            if self.rng.gen_bool(0.85) {
                let any = self.random_addr(dev, l.width.min(4));
                self.amd_write(dev, any, A_RESUME, MID_ERASE);
                self.reads_at(dev, first, 1, 2, MID_ERASE);
            }
        }
        let ns = if self.rng.gen_bool(0.5) {
            None
        } else {
            Some(*STEP_CHOICES.choose(&mut self.rng).unwrap_or(&0))
        };
        self.push(TrialOp::Step { ns }, MID_ERASE);
        self.reads_at(dev, first, 1, 2, MID);
    }

    fn reads_at(&mut self, dev: usize, addr: u64, min: usize, max: usize, tags: &[PointKind]) {
        let l = self.layouts[dev].clone();
        for _ in 0..self.rng.gen_range(min..=max) {
            let w = l.width.min(4);
            let a = self.aligned(&l, addr, w);
            self.read(dev, a, w, tags);
        }
    }

    fn a_chip_erase(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        self.unlock(dev, FIRST);
        self.amd_write(dev, l.unlock0, A_ERASE, MID);
        self.unlock(dev, MID);
        self.amd_write(dev, l.unlock0, A_CHIP_ERASE, MID);
        self.reads_at(dev, 0, 1, 3, MID_ERASE);
        if self.rng.gen_bool(0.3) {
            self.amd_write(dev, 0, A_RESET, MID_ERASE);
        }
        let ns = if self.rng.gen_bool(0.6) {
            None
        } else {
            Some(1_000_000_000)
        };
        self.push(TrialOp::Step { ns }, MID_ERASE);
        self.reads_at(dev, 0, 1, 2, MID);
    }

    fn a_cfi(&mut self, dev: usize) {
        let l = self.layouts[dev].clone();
        self.amd_write(dev, l.cfi_entry, A_CFI, FIRST);
        self.a_index_reads(dev, 0x4D);
        if self.rng.gen_bool(0.8) {
            let b = if self.rng.gen_bool(0.7) {
                A_RESET
            } else {
                0x00
            };
            let a = self.random_addr(dev, l.width.min(4));
            self.amd_write(dev, a, b, MID);
            self.quiescent = b == A_RESET;
        }
    }

    fn a_index_reads(&mut self, dev: usize, max: u64) {
        let l = self.layouts[dev].clone();
        for _ in 0..self.rng.gen_range(1..=5) {
            let idx = match self.rng.gen_range(0..3) {
                0 => self.rng.gen_range(0..3),
                1 => self.rng.gen_range(0x0E..0x10),
                _ => self.rng.gen_range(0..max),
            };
            let w = self.width_choice(&l);
            let a = self.aligned(&l, idx << l.index_shift, w);
            self.read(dev, a, w, MID);
        }
    }

    fn a_autoselect(&mut self, dev: usize, with_cfi: bool) {
        let l = self.layouts[dev].clone();
        self.unlock(dev, FIRST);
        self.amd_write(dev, l.unlock0, A_AUTOSELECT, MID);
        self.a_index_reads(dev, 0x10);
        if with_cfi {
            self.amd_write(dev, l.cfi_entry, A_CFI, MID);
            self.a_index_reads(dev, 0x4D);
            self.amd_write(dev, 0, A_RESET, MID);
            self.a_index_reads(dev, 0x10);
        }
        if self.rng.gen_bool(0.85) {
            self.amd_write(dev, 0, A_RESET, MID);
        }
    }
}

/// Generates the op sequence of `scenario` for `seed`.
///
/// `layouts` are the scenario's target devices in order; `allowed` are the
/// mix kinds every version involved supports (features); `hops` is the
/// number of migrations to place.
pub fn generate(
    scenario: &Scenario,
    seed: u64,
    layouts: &[Layout],
    allowed: &dyn Fn(usize, &str) -> bool,
    hops: usize,
) -> Sequence {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        ops: Vec::new(),
        tags: Vec::new(),
        steps: Vec::new(),
        layouts,
        hot: vec![Vec::new(); layouts.len()],
        quiescent: true,
    };
    let len = g.rng.gen_range(scenario.min_len..=scenario.max_len);
    let mut guard = 0;
    while g.ops.len() < len && guard < 10 * len + 100 {
        guard += 1;
        let dev = g.rng.gen_range(0..layouts.len());
        let kinds: Vec<(&String, u32)> = scenario
            .mix
            .iter()
            .filter(|(k, w)| **w > 0 && kind_applies(k, layouts[dev].set) && allowed(dev, k))
            .map(|(k, w)| (k, *w))
            .collect();
        let Ok(&(kind, _)) = kinds.choose_weighted(&mut g.rng, |(_, w)| *w) else {
            continue;
        };
        let kind = kind.clone();
        let first = g.ops.len();
        g.emit(dev, &kind);
        let label = format!("{}:{kind}", dev);
        g.steps
            .extend((0..g.ops.len() - first).map(|n| (label.clone(), n)));
    }
    place_migrations(&mut g, scenario, hops)
}

fn place_migrations(g: &mut Gen<'_>, scenario: &Scenario, hops: usize) -> Sequence {
    // Candidate boundaries: before op i for i in 1..len (never before the
    // first op, never after the last: something must run on each side).
    let mut chosen: Vec<usize> = Vec::new();
    for _ in 0..hops {
        let kind = *scenario
            .points
            .choose(&mut g.rng)
            .unwrap_or(&PointKind::Anywhere);
        let candidates: Vec<usize> = (1..g.ops.len())
            .filter(|i| g.tags[*i].contains(&kind) && !chosen.contains(i))
            .collect();
        // Steered towards rare command states: a command and a cycle of it
        // are drawn first, evenly, then one place where it occurs, so the
        // short-lived states of a rare or long command (a lock's confirm,
        // an erase's second unlock, a buffer's count cycle) are as likely
        // as a common one. Cycles past the sixth are alike (a poll, a
        // further sector, another read).
        let mut by_step: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
        for i in &candidates {
            let (kind, n) = &g.steps[*i];
            by_step
                .entry((kind.as_str(), (*n).min(LAST_DISTINCT_CYCLE)))
                .or_default()
                .push(*i);
        }
        let steps: Vec<&Vec<usize>> = by_step.values().collect();
        let candidates: Vec<usize> = match steps.choose(&mut g.rng) {
            Some(places) => places.to_vec(),
            None => candidates,
        };
        let fallback: Vec<usize> = (1..g.ops.len()).filter(|i| !chosen.contains(i)).collect();
        let pool = if candidates.is_empty() {
            &fallback
        } else {
            &candidates
        };
        if let Some(p) = pool.choose(&mut g.rng) {
            chosen.push(*p);
        }
    }
    chosen.sort_unstable();
    // Half the migrations go without shared storage: the destination opens
    // its own copy of the drives, so the image shows its write-back.
    let own: Vec<bool> = chosen.iter().map(|_| g.rng.gen_bool(0.5)).collect();
    let mut ops = Vec::with_capacity(g.ops.len() + chosen.len());
    for (i, op) in g.ops.iter().enumerate() {
        if let Some(k) = chosen.iter().position(|c| *c == i) {
            ops.push(TrialOp::Migrate {
                to: None,
                own_drives: own[k],
            });
        }
        ops.push(op.clone());
    }
    Sequence { ops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::scenarios::parse_scenario;
    use crate::definitions::versions::parse_version;
    use std::path::Path;

    /// The shapes the generator must handle, as on the composite board: a
    /// cfi01 x32 bank of two x16 chips (twice), a cfi02 x16 part mirrored
    /// four times, and a cfi02 x8 part with non-uniform sectors.
    const VERSION: &str = r#"
release = "v5"
machine-type = "nor-5.0"
[[device]]
id = "flash0"
type = "cfi.pflash01"
properties = { name = "virt.flash0", num-blocks = 16, sector-length = 0x40000, width = 4, device-width = 2, id0 = 0x89, id1 = 0x18 }
[[device]]
id = "flash1"
type = "cfi.pflash01"
properties = { name = "virt.flash1", num-blocks = 16, sector-length = 0x40000, width = 4, device-width = 2, id0 = 0x89, id1 = 0x18 }
[[device]]
id = "musicpal"
type = "cfi.pflash02"
properties = { name = "musicpal.flash", num-blocks = 128, sector-length = 0x10000, width = 2, mappings = 4, id0 = 0xBF, id1 = 0x236D, unlock-addr0 = 0x5555, unlock-addr1 = 0x2AAA }
[[device]]
id = "bootblock"
type = "cfi.pflash02"
properties = { name = "boot.flash", num-blocks0 = 127, sector-length0 = 0x10000, num-blocks1 = 1, sector-length1 = 0x8000, num-blocks2 = 2, sector-length2 = 0x2000, num-blocks3 = 1, sector-length3 = 0x4000, width = 1, id0 = 0x66, id1 = 0x22, unlock-addr0 = 0x555, unlock-addr1 = 0x2AA }
"#;

    fn layouts(ids: &[&str]) -> Vec<Layout> {
        let v = parse_version(Path::new("machines/t.toml"), VERSION).unwrap();
        ids.iter()
            .map(|id| Layout::of(v.device(id).unwrap()).expect("a CFI device"))
            .collect()
    }

    /// A scenario on `devices` with the `[mix]` lines `mix`.
    fn scenario(devices: &[&str], length: [usize; 2], points: &str, mix: &str) -> Scenario {
        let devices: Vec<String> = devices.iter().map(|d| format!("{d:?}")).collect();
        let text = format!(
            "devices = [{}]\nlength = [{}, {}]\n[migration]\npoints = [{points}]\n[mix]\n{mix}\n",
            devices.join(", "),
            length[0],
            length[1]
        );
        parse_scenario(Path::new("scenarios/t.toml"), &text).unwrap()
    }

    fn every_kind() -> String {
        crate::definitions::scenarios::MIX_KINDS
            .iter()
            .map(|(k, _)| format!("{k} = 1\n"))
            .collect()
    }

    fn any(_: usize, _: &str) -> bool {
        true
    }

    /// Command writes on device `dev` whose low byte is `cmd` (a cfi01
    /// command replicated per chip lane has it in every lane).
    fn commands(ops: &[TrialOp], dev: usize, cmd: u8) -> usize {
        ops.iter()
            .filter(|o| matches!(o, TrialOp::Write { dev: d, val, .. } if *d == dev && (*val & 0xFF) as u8 == cmd))
            .count()
    }

    #[test]
    fn migrations_are_steered_to_the_cycles_of_rare_commands() {
        // Many reads, few locks: drawn op by op, a migration would land
        // before a lock's confirm about once in 40 sequences.
        let l = layouts(&["flash0"]);
        let s = scenario(
            &["flash0"],
            [60, 60],
            "\"anywhere\"",
            "read = 20\nlock = 1\n",
        );
        let mut before_confirm = 0;
        let mut with_lock = 0;
        for seed in 0..200 {
            let seq = generate(&s, seed, &l, &any, 1);
            let Some(p) = seq.migration_points().first().copied() else {
                continue;
            };
            let lock_setup = |o: &TrialOp| matches!(o, TrialOp::Write { val, .. } if (*val & 0xFF) as u8 == I_LOCK);
            if seq.ops.iter().any(lock_setup) {
                with_lock += 1;
            }
            if p >= 1 && lock_setup(&seq.ops[p - 1]) {
                before_confirm += 1;
            }
        }
        assert!(with_lock > 100, "only {with_lock} sequences lock");
        // Steered: the lock's confirm is one of a handful of command steps.
        assert!(
            before_confirm * 10 >= with_lock,
            "{before_confirm} of {with_lock} sequences with a lock migrate before its confirm"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_ops_and_other_seeds_differ() {
        let l = layouts(&["flash0", "musicpal"]);
        let s = scenario(
            &["flash0", "musicpal"],
            [40, 120],
            "\"anywhere\"",
            &every_kind(),
        );
        let run = |seed| generate(&s, seed, &l, &any, 2);
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(run(seed), run(seed), "seed {seed}");
        }
        let seqs: Vec<Sequence> = (0..16).map(run).collect();
        for (i, a) in seqs.iter().enumerate() {
            for (j, b) in seqs.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "seeds {i} and {j} gave the same ops");
            }
        }
    }

    #[test]
    fn places_exactly_the_hops_asked_for_between_ops() {
        let l = layouts(&["flash0"]);
        let s = scenario(
            &["flash0"],
            [20, 60],
            "\"mid-buffer\", \"quiescent\", \"anywhere\"",
            "write-buffer = 3\nprogram = 2\nread = 1\nread-array = 1",
        );
        for hops in 0..=4 {
            for seed in 0..12 {
                let seq = generate(&s, seed, &l, &any, hops);
                let points = seq.migration_points();
                assert_eq!(points.len(), hops, "seed {seed}: {points:?}");
                // Something runs before the first hop and after the last,
                // and two hops never share a boundary.
                assert!(points.first().is_none_or(|p| *p > 0), "seed {seed}");
                assert!(
                    points.last().is_none_or(|p| *p < seq.ops.len() - 1),
                    "seed {seed}"
                );
                assert!(
                    points.windows(2).all(|w| w[1] > w[0] + 1),
                    "seed {seed}: {points:?}"
                );
            }
        }
    }

    #[test]
    fn accesses_stay_on_the_scenarios_devices_inside_their_windows() {
        let ids = ["flash0", "musicpal", "bootblock"];
        let l = layouts(&ids);
        let s = scenario(&ids, [100, 300], "\"anywhere\"", &every_kind());
        let mut touched = [0usize; 3];
        for seed in 0..24 {
            for op in generate(&s, seed, &l, &any, 2).ops {
                let (dev, addr, width, val) = match op {
                    TrialOp::Write {
                        dev,
                        addr,
                        width,
                        val,
                    } => (dev, addr, width, Some(val)),
                    TrialOp::Read { dev, addr, width } => (dev, addr, width, None),
                    _ => continue,
                };
                let at = format!("seed {seed}: {op}");
                assert!(dev < ids.len(), "{at}: no such device");
                touched[dev] += 1;
                let d = &l[dev];
                assert!([1, 2, 4].contains(&width), "{at}: width");
                assert!(width <= d.width, "{at}: wider than the bus");
                assert_eq!(addr % width as u64, 0, "{at}: unaligned");
                assert!(addr + width as u64 <= d.window, "{at}: outside the window");
                if let Some(v) = val {
                    assert_eq!(v & !devices::device::mask(width), 0, "{at}: value");
                }
            }
        }
        assert!(touched.iter().all(|n| *n > 0), "{touched:?}");
    }

    #[test]
    fn forbidden_kinds_are_never_emitted() {
        // write-buffer on cfi01: the only writer of 0xE8.
        let l = layouts(&["flash0", "flash1"]);
        let s = scenario(
            &["flash0", "flash1"],
            [60, 120],
            "\"anywhere\"",
            "write-buffer = 5\nread = 1\nread-array = 1",
        );
        let no_buffer_on_0 = |dev: usize, kind: &str| !(dev == 0 && kind == "write-buffer");
        let (mut free0, mut on0, mut on1) = (0, 0, 0);
        for seed in 0..16 {
            free0 += commands(&generate(&s, seed, &l, &any, 1).ops, 0, I_BUFFER);
            let ops = generate(&s, seed, &l, &no_buffer_on_0, 1).ops;
            on0 += commands(&ops, 0, I_BUFFER);
            on1 += commands(&ops, 1, I_BUFFER);
        }
        assert!(free0 > 0, "write-buffer never emitted even when allowed");
        assert_eq!(on0, 0, "write-buffer emitted on the device that forbids it");
        assert!(on1 > 0, "the other device lost write-buffer too");

        // suspend on cfi02: the only writer of 0xB0.
        let l = layouts(&["musicpal"]);
        let s = scenario(
            &["musicpal"],
            [60, 120],
            "\"anywhere\"",
            "suspend = 5\nsector-erase = 2\nread = 1",
        );
        let no_suspend = |_: usize, kind: &str| kind != "suspend";
        for seed in 0..16 {
            let free = generate(&s, seed, &l, &any, 1).ops;
            assert!(commands(&free, 0, A_SUSPEND) > 0, "seed {seed}: no 0xB0");
            let ops = generate(&s, seed, &l, &no_suspend, 1).ops;
            assert_eq!(commands(&ops, 0, A_SUSPEND), 0, "seed {seed}");
            assert!(commands(&ops, 0, A_SECTOR_ERASE) > 0, "seed {seed}");
        }
    }

    #[test]
    fn the_mix_weights_are_honoured_roughly() {
        let l = layouts(&["flash0"]);
        let s = scenario(
            &["flash0"],
            [200, 200],
            "\"anywhere\"",
            "erase = 9\nstatus = 1\nwrite-buffer = 0",
        );
        let (mut erase, mut status, mut buffer) = (0, 0, 0);
        for seed in 0..20 {
            let ops = generate(&s, seed, &l, &any, 1).ops;
            erase += commands(&ops, 0, I_ERASE);
            status += commands(&ops, 0, I_STATUS);
            buffer += commands(&ops, 0, I_BUFFER);
        }
        assert_eq!(buffer, 0, "a kind of weight 0 was emitted");
        assert!(status > 0, "status never emitted");
        let ratio = erase as f64 / status as f64;
        assert!(
            (5.0..16.0).contains(&ratio),
            "erase:status = {erase}:{status}, weights say 9:1"
        );
    }
}
