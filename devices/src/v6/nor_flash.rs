//! `nor-flash` (abstract): what every NOR flash has, whatever bus it sits on.
//!
//! The flash array and its block backend, the erase geometry (up to four
//! erase-block regions and the sector lookup), the virtual clock with the one
//! timer used for erase and program delays, and the program/erase helpers that
//! write changes back to the drive. Nothing here knows about a parallel bus,
//! so an SPI or I2C NOR model could be built on it unchanged.

use crate::backend::BlockBackend;
use crate::clock::{Nanos, Timer, VirtualClock};
use crate::command_set::ERASED_BYTE;
use crate::device::DeviceError;
use crate::props::{PropDef, PropKind, PropValue};
use crate::storage::Storage;

/// QOM-style name of this abstract level.
pub const TYPE_NAME: &str = "nor-flash";

/// Most erase-block regions a CFI table can describe here (QEMU's
/// `PFLASH_MAX_ERASE_REGIONS`).
pub const MAX_ERASE_REGIONS: usize = 4;

/// Largest array the model allocates (4 GiB). QEMU's limit is the host's
/// memory; beyond 4 GiB its 32-bit offsets stop working anyway.
pub const MAX_ARRAY_LEN: u64 = 1 << 32;

/// The block layer's sector: write-backs are widened to it (QEMU's
/// `BDRV_SECTOR_SIZE`).
pub const BDRV_SECTOR_SIZE: u32 = 512;

/// `num-blocks`: number of sectors of a uniform geometry (u32 on every device).
pub const PROP_NUM_BLOCKS: PropDef = PropDef {
    name: "num-blocks",
    kind: PropKind::U32,
    default: Some(PropValue::Int(0)),
    doc: "number of sectors (uniform geometry)",
};

/// `sector-length` with the given integer type. v5 declares it differently per
/// device: u64 on `cfi.pflash01` (the bank sector, summed over interleaved
/// chips), u32 on `cfi.pflash02`. v6 keeps each device's type so that the same
/// property strings are accepted and rejected.
pub const fn prop_sector_length(kind: PropKind) -> PropDef {
    PropDef {
        name: "sector-length",
        kind,
        default: Some(PropValue::Int(0)),
        doc: "sector (erase block) size in bytes (uniform geometry)",
    }
}

/// `num-blocks0` … `num-blocks3`: sectors of non-uniform region *i* (u32).
pub const PROP_REGION_NUM_BLOCKS: [PropDef; MAX_ERASE_REGIONS] = [
    region_prop("num-blocks0", "number of sectors in erase region 0"),
    region_prop("num-blocks1", "number of sectors in erase region 1"),
    region_prop("num-blocks2", "number of sectors in erase region 2"),
    region_prop("num-blocks3", "number of sectors in erase region 3"),
];

/// `sector-length0` … `sector-length3`: sector size of non-uniform region *i* (u32).
pub const PROP_REGION_SECTOR_LENGTH: [PropDef; MAX_ERASE_REGIONS] = [
    region_prop("sector-length0", "sector size of erase region 0"),
    region_prop("sector-length1", "sector size of erase region 1"),
    region_prop("sector-length2", "sector size of erase region 2"),
    region_prop("sector-length3", "sector size of erase region 3"),
];

const fn region_prop(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind: PropKind::U32,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

/// `id0` … `id3`: identifier codes (u16 on every device).
pub const PROP_IDS: [PropDef; 4] = [
    id_prop("id0", "identifier code 0 (manufacturer)"),
    id_prop("id1", "identifier code 1 (device)"),
    id_prop("id2", "identifier code 2"),
    id_prop("id3", "identifier code 3"),
];

const fn id_prop(name: &'static str, doc: &'static str) -> PropDef {
    PropDef {
        name,
        kind: PropKind::U16,
        default: Some(PropValue::Int(0)),
        doc,
    }
}

/// `name`: names the memory region and the RAM block. Required.
pub const PROP_NAME: PropDef = PropDef {
    name: "name",
    kind: PropKind::Str,
    default: None,
    doc: "memory region and RAM block name (required)",
};

/// QEMU's realize message for a required numeric attribute left at zero.
pub fn attribute_not_specified_or_zero(attr: &str) -> String {
    format!("attribute \"{attr}\" not specified or zero.")
}

/// QEMU's realize message for a missing `name`.
pub const NAME_NOT_SPECIFIED: &str = "attribute \"name\" not specified.";

/// One erase-block region: `blocks` sectors of `sector_len` bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EraseRegion {
    pub blocks: u32,
    pub sector_len: u64,
}

impl EraseRegion {
    /// Bytes covered by the region.
    pub fn size(&self) -> u64 {
        self.blocks as u64 * self.sector_len
    }
}

/// The sector an offset falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectorInfo {
    /// Sector number, counted consecutively across regions from 0.
    pub index: u32,
    /// Length of that sector.
    pub len: u64,
}

/// Erase geometry: 1 to [`MAX_ERASE_REGIONS`] regions laid out back to back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    regions: Vec<EraseRegion>,
}

impl Geometry {
    /// One region of `blocks` sectors of `sector_len` bytes.
    pub fn uniform(blocks: u32, sector_len: u64) -> Geometry {
        Geometry {
            regions: vec![EraseRegion { blocks, sector_len }],
        }
    }

    /// Several regions, in address order. Panics unless 1..=4 are given
    /// (callers validate the properties first).
    pub fn regions(regions: Vec<EraseRegion>) -> Geometry {
        assert!(
            (1..=MAX_ERASE_REGIONS).contains(&regions.len()),
            "a NOR flash has 1 to {MAX_ERASE_REGIONS} erase regions"
        );
        Geometry { regions }
    }

    /// The regions, in address order.
    pub fn erase_regions(&self) -> &[EraseRegion] {
        &self.regions
    }

    /// Sum of the region sizes.
    pub fn size(&self) -> u64 {
        self.regions.iter().map(EraseRegion::size).sum()
    }

    /// Number of sectors over all regions.
    pub fn total_sectors(&self) -> u32 {
        self.regions.iter().map(|r| r.blocks).sum()
    }

    /// The sector containing `offset`, or `None` past the last region
    /// (QEMU's `pflash_sector_info`).
    pub fn sector_at(&self, offset: u64) -> Option<SectorInfo> {
        let mut start = 0u64;
        let mut index = 0u32;
        for r in &self.regions {
            let end = start + r.size();
            if offset >= start && offset < end {
                return Some(SectorInfo {
                    index: index + ((offset - start) / r.sector_len) as u32,
                    len: r.sector_len,
                });
            }
            index += r.blocks;
            start = end;
        }
        None
    }
}

/// Start of the sector of length `sector_len` containing `offset`, computed as
/// QEMU does with a mask (exact for the power-of-two lengths real parts have).
pub fn sector_start(offset: u64, sector_len: u64) -> u64 {
    offset & !sector_len.wrapping_sub(1)
}

/// The common core of every NOR flash device.
#[derive(Clone, Debug)]
pub struct NorFlash {
    name: String,
    array: Storage,
    backend: BlockBackend,
    ro: bool,
    geometry: Geometry,
    clock: VirtualClock,
    timer: Timer,
}

impl NorFlash {
    /// Realizes the core: an array of `size` bytes loaded from `backend`
    /// (all zero without a drive), read-only if the drive is. `ty` names the
    /// device type in errors.
    pub fn realize(
        ty: &'static str,
        name: &str,
        geometry: Geometry,
        size: u64,
        backend: BlockBackend,
    ) -> Result<NorFlash, DeviceError> {
        if size > MAX_ARRAY_LEN {
            // QEMU fails here only when the host cannot allocate the RAM.
            return Err(DeviceError::Realize {
                ty,
                message: format!("cannot set up guest memory '{name}': Cannot allocate memory"),
            });
        }
        let array = backend.initial_array(size)?;
        Ok(NorFlash {
            name: name.to_string(),
            array,
            ro: !backend.writable(),
            backend,
            geometry,
            clock: VirtualClock::new(),
            timer: Timer::default(),
        })
    }

    /// The `name` property (memory region and RAM block name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The flash array.
    pub fn array(&self) -> &Storage {
        &self.array
    }

    /// Replaces the array contents (a RAM block arriving by migration). The
    /// drive is left alone.
    pub fn load_array(&mut self, array: &Storage) {
        assert_eq!(array.len(), self.array.len(), "RAM block size mismatch");
        self.array = array.clone();
    }

    /// The backing drive.
    pub fn backend(&self) -> &BlockBackend {
        &self.backend
    }

    /// True when the drive refuses writes: program and erase leave the array alone.
    pub fn read_only(&self) -> bool {
        self.ro
    }

    /// The erase geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// A copy for a forked device: the array shares pages, the drive detaches.
    pub fn fork(&self) -> NorFlash {
        NorFlash {
            backend: self.backend.fork(),
            ..self.clone()
        }
    }

    /// Erases `[offset, offset+len)` to 0xFF and writes it back. Returns false
    /// (and changes nothing) when read-only. The fill stops at the end of the
    /// array (QEMU would overrun its RAM block for the non-power-of-two sector
    /// lengths it does not validate).
    pub fn erase(&mut self, offset: u64, len: u64) -> bool {
        if self.ro {
            return false;
        }
        let (at, n) = self.clip(offset, len);
        if n > 0 {
            self.array.fill(at, n, ERASED_BYTE);
        }
        self.write_back(offset, len);
        true
    }

    /// Stores `bytes` at `offset` (overwriting) and writes them back. Returns
    /// false (and changes nothing) when read-only. Bytes past the end of the
    /// array are dropped.
    pub fn program(&mut self, offset: u64, bytes: &[u8]) -> bool {
        if self.ro {
            return false;
        }
        let (at, n) = self.clip(offset, bytes.len() as u64);
        if n > 0 {
            self.array.write(at, &bytes[..n as usize]);
        }
        self.write_back(offset, bytes.len() as u64);
        true
    }

    fn clip(&self, offset: u64, len: u64) -> (u64, u64) {
        let offset = offset.min(self.array.len());
        (offset, len.min(self.array.len() - offset))
    }

    /// Replaces the drive (a migration destination activating its own copy).
    pub fn reopen_drive(&mut self, drive: BlockBackend) {
        self.backend = drive;
    }

    /// Writes the whole array back to the drive (after an incoming migration).
    pub fn write_back_all(&mut self) {
        let len = self.array.len();
        if self.backend.has_drive() && !self.read_only() {
            self.backend.write_back(&self.array, 0, len);
        }
    }

    /// QEMU's `pflash_update`: writes `[offset, offset+len)` back to the drive,
    /// widened to block-layer sectors. QEMU computes in `int`, and the block
    /// layer refuses (EIO, only logged) a request that is negative or runs
    /// past the end of the image: then nothing is written back at all, e.g.
    /// for the last sector of an image whose size is not a multiple of 512.
    fn write_back(&mut self, offset: u64, len: u64) {
        if !self.backend.has_drive() {
            return;
        }
        let sector = BDRV_SECTOR_SIZE;
        let start = (offset as u32 & !(sector - 1)) as i32;
        let end = (offset as i32).wrapping_add(len as i32);
        let end = ((end as u32).wrapping_add(sector - 1) & !(sector - 1)) as i32;
        let (start, bytes) = (start as i64, end.wrapping_sub(start) as i64);
        let image_len = self.array.len() as i64;
        if bytes < 0 || start < 0 || start > image_len || image_len - start < bytes {
            return;
        }
        self.backend
            .write_back(&self.array, start as u64, bytes as u64);
    }

    /// Current virtual time.
    pub fn now(&self) -> Nanos {
        self.clock.now()
    }

    /// The pending timer deadline.
    pub fn deadline(&self) -> Option<Nanos> {
        self.timer.deadline()
    }

    /// Time left until the pending deadline (what a canonical state records, so that
    /// states compare across clock restarts).
    pub fn timer_remaining(&self) -> Option<Nanos> {
        self.timer.deadline().map(|d| d.saturating_sub(self.now()))
    }

    /// Arms the timer `delay` ns from now, replacing any pending deadline
    /// (QEMU's `timer_mod`). Deadlines lie strictly in the future: a zero
    /// delay (reachable only from a crafted state) is armed 1 ns ahead.
    pub fn arm_timer(&mut self, delay: Nanos) {
        self.timer.arm(self.now().saturating_add(delay.max(1)));
    }

    /// Cancels the pending deadline (QEMU's `timer_del`).
    pub fn cancel_timer(&mut self) {
        self.timer.cancel();
    }

    /// Re-arms the timer from a canonical state's remaining time (or cancels it).
    pub fn restore_timer(&mut self, remaining: Option<Nanos>) {
        match remaining {
            Some(r) => self.arm_timer(r),
            None => self.cancel_timer(),
        }
    }

    /// Advances `dev`'s clock by `ns`. Each expired deadline fires at its exact
    /// time, so a timer re-armed by its own handler fires again within the same
    /// step if its new deadline is reached (qtest's `clock_step`).
    pub fn advance<D: TimerOwner + ?Sized>(dev: &mut D, ns: Nanos) {
        let target = dev.nor_flash().now().saturating_add(ns);
        loop {
            let nor = dev.nor_flash_mut();
            let Some(deadline) = nor.timer.take_expired(target) else {
                break;
            };
            nor.clock.set(deadline);
            dev.timer_expired();
        }
        dev.nor_flash_mut().clock.set(target);
    }
}

/// A device built on [`NorFlash`] that reacts to its timer.
pub trait TimerOwner {
    /// The core.
    fn nor_flash(&self) -> &NorFlash;
    /// The core, mutably.
    fn nor_flash_mut(&mut self) -> &mut NorFlash;
    /// Called when the timer fires; the clock stands at the deadline.
    fn timer_expired(&mut self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_lookup_counts_across_regions() {
        // QEMU's qtest top-boot layout: 127 × 64K, 1 × 32K, 2 × 8K, 1 × 16K.
        let g = Geometry::regions(vec![
            EraseRegion {
                blocks: 127,
                sector_len: 0x10000,
            },
            EraseRegion {
                blocks: 1,
                sector_len: 0x8000,
            },
            EraseRegion {
                blocks: 2,
                sector_len: 0x2000,
            },
            EraseRegion {
                blocks: 1,
                sector_len: 0x4000,
            },
        ]);
        assert_eq!(g.size(), 8 << 20);
        assert_eq!(g.total_sectors(), 131);
        assert_eq!(
            g.sector_at(0x1_0000),
            Some(SectorInfo {
                index: 1,
                len: 0x10000
            })
        );
        assert_eq!(
            g.sector_at(0x7F_0000),
            Some(SectorInfo {
                index: 127,
                len: 0x8000
            })
        );
        assert_eq!(
            g.sector_at(0x7F_A000),
            Some(SectorInfo {
                index: 129,
                len: 0x2000
            })
        );
        assert_eq!(
            g.sector_at(0x7F_FFFF),
            Some(SectorInfo {
                index: 130,
                len: 0x4000
            })
        );
        assert_eq!(g.sector_at(0x80_0000), None);
        assert_eq!(sector_start(0x7F_A123, 0x2000), 0x7F_A000);
    }

    struct Ticker {
        nor: NorFlash,
        fired: Vec<Nanos>,
    }

    impl TimerOwner for Ticker {
        fn nor_flash(&self) -> &NorFlash {
            &self.nor
        }
        fn nor_flash_mut(&mut self) -> &mut NorFlash {
            &mut self.nor
        }
        fn timer_expired(&mut self) {
            let now = self.nor.now();
            self.fired.push(now);
            if self.fired.len() < 3 {
                self.nor.arm_timer(100);
            }
        }
    }

    #[test]
    fn chained_deadlines_fire_at_their_exact_time() {
        let nor = NorFlash::realize(
            "t",
            "t",
            Geometry::uniform(1, 4096),
            4096,
            BlockBackend::none(),
        )
        .unwrap();
        let mut t = Ticker { nor, fired: vec![] };
        t.nor.arm_timer(50);
        NorFlash::advance(&mut t, 1000);
        assert_eq!(t.fired, vec![50, 150, 250]);
        assert_eq!(t.nor.now(), 1000);
        assert_eq!(t.nor.deadline(), None);
        t.nor.arm_timer(10);
        assert_eq!(t.nor.timer_remaining(), Some(10));
    }

    #[test]
    fn write_back_is_refused_past_the_image_end() {
        // 768 bytes: the last 512-byte block is partial. QEMU widens the
        // write-back to [512, 1024), which the block layer refuses.
        let backend = BlockBackend::memory(768, 0xFF, true);
        let mut nor = NorFlash::realize("t", "t", Geometry::uniform(3, 256), 768, backend).unwrap();
        assert!(nor.program(700, &[0x12]));
        assert_eq!(nor.array().byte(700), 0x12);
        assert_eq!(nor.backend().image().unwrap().byte(700), 0xFF);
        assert!(nor.program(10, &[0x34]));
        assert_eq!(nor.backend().image().unwrap().byte(10), 0x34);
        // An erase reaching past the array is clipped in RAM, refused on disk.
        assert!(nor.erase(0, 1024));
        assert_eq!(nor.array().byte(10), 0xFF);
        assert_eq!(nor.backend().image().unwrap().byte(10), 0x34);
    }

    #[test]
    fn program_and_erase_write_back_unless_read_only() {
        let backend = BlockBackend::memory(8192, 0xFF, true);
        let mut nor =
            NorFlash::realize("t", "t", Geometry::uniform(2, 4096), 8192, backend).unwrap();
        assert!(nor.program(10, &[1, 2]));
        assert_eq!(nor.backend().image().unwrap().read_le(10, 2), 0x0201);
        assert!(nor.erase(0, 4096));
        assert_eq!(nor.backend().image().unwrap().read_le(10, 2), 0xFFFF);

        let ro = BlockBackend::memory(8192, 0x00, false);
        let mut nor = NorFlash::realize("t", "t", Geometry::uniform(2, 4096), 8192, ro).unwrap();
        assert!(nor.read_only());
        assert!(!nor.erase(0, 4096));
        assert!(!nor.program(0, &[7]));
        assert_eq!(nor.array().byte(0), 0);
    }
}
