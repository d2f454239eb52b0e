//! v6 against v5: randomized equivalence, CFI tables, realize errors, and
//! stop-and-restore of the v6 canonical state.
//!
//! Seeded (ChaCha8) sequences of real command sequences of both command sets
//! (plus garbage, reads of every width, clock steps and resets) drive a v5
//! device and a v6 device with the same properties side by side through
//! `bus_read`/`bus_write`. After every op the reads, the clock, the pending
//! deadline, the array, the backing image and `v6.state().to_v5()` against
//! `v5.state()` must agree. A failure is shrunk (delta debugging) and
//! reported with its seed, the configuration and the op list as JSON in the
//! `norcompat replay` format.
//!
//! `NORCOMPAT_EQUIV_SEEDS=N` runs N seeds per test instead of the defaults.

use devices::v6::cfi::CommonFlashMemoryInterface;
use devices::v6::cfi01::ParallelNorCfi01Flash;
use devices::v6::cfi02::ParallelNorCfi02Flash;
use devices::{bus_read, bus_write, BlockBackend, DeviceError, DeviceState, FlashDevice, Storage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;

// ---------------------------------------------------------------------------
// Configurations

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Cfi01,
    Cfi02,
}

impl Family {
    fn v5_type(self) -> &'static str {
        match self {
            Family::Cfi01 => devices::v5::cfi01::TYPE_NAME,
            Family::Cfi02 => devices::v5::cfi02::TYPE_NAME,
        }
    }

    fn v6_type(self) -> &'static str {
        match self {
            Family::Cfi01 => devices::v6::cfi01::TYPE_NAME,
            Family::Cfi02 => devices::v6::cfi02::TYPE_NAME,
        }
    }
}

/// The drive a configuration is realized with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Image {
    /// Writable, all 0xFF (`norcompat replay`'s default).
    Erased,
    /// Writable, a fill byte with a few pages of seeded noise.
    Pattern(u64),
    /// Read-only, a fill byte with a few pages of seeded noise.
    ReadOnly(u64),
    /// No drive: RAM only, all zero.
    NoDrive,
}

/// One device configuration and what the generator needs to know about it.
#[derive(Clone, Debug)]
struct Config {
    family: Family,
    props: Vec<(String, String)>,
    image: Image,
    /// Bytes of the guest-visible window.
    window: u64,
    /// Bytes of one chip (the array).
    chip: u64,
    /// Natural access width of the bus.
    bus_width: u32,
    /// cfi01: write buffer bytes; cfi02: unused.
    writeblock: u64,
    /// cfi01: the device width (0 = legacy).
    device_width: u32,
    /// cfi02: byte addresses of the two unlock cycles and of the CFI entry.
    unlock: [u64; 2],
    cfi_entry: u64,
    /// cfi02: word-address shift of the bus.
    shift: u32,
    /// Sector starts worth hitting (both families).
    hot: Vec<u64>,
}

impl Config {
    fn spec(&self, type_name: &str) -> String {
        let mut s = type_name.to_string();
        for (k, v) in &self.props {
            s.push_str(&format!(",{k}={v}"));
        }
        s
    }

    fn backend(&self) -> BlockBackend {
        let noisy = |seed: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut img = Storage::filled(self.chip, rng.gen());
            for _ in 0..4 {
                let page = rng.gen_range(0..self.chip.div_ceil(4096));
                let start = page * 4096;
                let n = (self.chip - start).min(4096) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                img.write(start, &bytes);
            }
            img
        };
        match self.image {
            Image::Erased => BlockBackend::memory(self.chip, 0xFF, true),
            Image::Pattern(seed) => BlockBackend::memory_from(noisy(seed), true),
            Image::ReadOnly(seed) => BlockBackend::memory_from(noisy(seed), false),
            Image::NoDrive => BlockBackend::none(),
        }
    }

    fn props_of(pairs: &[(&str, String)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let image = match self.image {
            Image::Erased => "erased writable image (replay's default)".to_string(),
            Image::Pattern(s) => format!("writable image, noise seed {s}"),
            Image::ReadOnly(s) => format!("read-only image, noise seed {s}"),
            Image::NoDrive => "no drive".to_string(),
        };
        write!(
            f,
            "--device '{}' / '{}' with {image}",
            self.spec(self.family.v5_type()),
            self.spec(self.family.v6_type())
        )
    }
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// cfi01 writes back whole 512-byte sectors and, like QEMU, v6 writes nothing
/// back past the image end; v5 clips instead. Both agree when the array is a
/// multiple of 512 and of the write buffer.
fn cfi01_config(
    blocks: u32,
    sector_len: u64,
    width: u32,
    device_width: u32,
    max_device_width: u32,
    extra: &[(&str, String)],
    image: Image,
) -> Config {
    let mut pairs = vec![
        ("num-blocks", blocks.to_string()),
        ("sector-length", hex(sector_len)),
        ("width", width.to_string()),
        ("name", "equiv.flash".to_string()),
    ];
    if device_width != 0 {
        pairs.push(("device-width", device_width.to_string()));
    }
    if max_device_width != 0 {
        pairs.push(("max-device-width", max_device_width.to_string()));
    }
    pairs.extend(extra.iter().cloned());
    let old = extra
        .iter()
        .any(|(k, v)| *k == "old-multiple-chip-handling" && v == "on");
    let num_devices = width.checked_div(device_width).map_or(1, u64::from);
    let mut writeblock = if width == 1 { 256 } else { 2048 };
    if !old && num_devices > 1 {
        writeblock *= num_devices;
    }
    let chip = blocks as u64 * sector_len;
    let mut hot = vec![
        0,
        sector_len,
        chip - sector_len,
        (chip / 2) & !(sector_len - 1),
    ];
    hot.dedup();
    Config {
        family: Family::Cfi01,
        props: Config::props_of(&pairs),
        image,
        window: chip,
        chip,
        bus_width: width,
        writeblock,
        device_width,
        unlock: [0, 0],
        cfi_entry: 0,
        shift: 0,
        hot,
    }
}

fn random_cfi01(rng: &mut ChaCha8Rng, image: Image) -> Config {
    loop {
        let width = *[1u32, 2, 4].choose(rng).unwrap();
        let device_width = *[0u32, 0, 1, 2, width].choose(rng).unwrap();
        if device_width > width {
            continue;
        }
        let max_device_width = match rng.gen_range(0..6) {
            0 if device_width == 1 => 2,
            1 if device_width == 1 => 4,
            2 => 1,
            3 => device_width,
            _ => 0,
        };
        let sector_len = 1u64 << rng.gen_range(12..19);
        let blocks = rng.gen_range(2..40u32);
        let mut extra = Vec::new();
        if rng.gen_bool(0.3) {
            extra.push(("big-endian", "on".to_string()));
        }
        if rng.gen_bool(0.2) {
            extra.push(("old-multiple-chip-handling", "on".to_string()));
        }
        if rng.gen_bool(0.05) {
            extra.push(("secure", "on".to_string()));
        }
        for (i, k) in ["id0", "id1", "id2", "id3"].iter().enumerate() {
            if rng.gen_bool(0.7) {
                let v: u16 = if i < 2 {
                    rng.gen()
                } else {
                    rng.gen::<u8>() as u16
                };
                extra.push((k, hex(v as u64)));
            }
        }
        let c = cfi01_config(
            blocks,
            sector_len,
            width,
            device_width,
            max_device_width,
            &extra,
            image,
        );
        if c.chip.is_multiple_of(c.writeblock) {
            return c;
        }
    }
}

/// Named cfi01 boards (spec/boards.md) plus odd corners.
fn cfi01_boards() -> Vec<Config> {
    let ids = |a: u64, b: u64| vec![("id0", hex(a)), ("id1", hex(b))];
    vec![
        cfi01_config(256, 0x40000, 4, 2, 0, &ids(0x89, 0x18), Image::Erased),
        cfi01_config(256, 0x40000, 4, 0, 0, &ids(0x89, 0x18), Image::Erased),
        cfi01_config(128, 0x20000, 2, 0, 0, &[], Image::Erased),
        cfi01_config(1024, 0x1000, 1, 0, 0, &[], Image::Pattern(7)),
        cfi01_config(64, 0x10000, 4, 1, 2, &ids(0x89, 0x18), Image::Erased),
        cfi01_config(
            256,
            0x40000,
            4,
            2,
            0,
            &[("old-multiple-chip-handling", "on".into())],
            Image::Erased,
        ),
        cfi01_config(
            16,
            0x10000,
            4,
            2,
            0,
            &[("big-endian", "on".into())],
            Image::NoDrive,
        ),
        cfi01_config(16, 0x10000, 2, 2, 0, &ids(0x20, 0x8817), Image::ReadOnly(3)),
    ]
}

fn cfi02_config(
    regions: &[(u32, u64)],
    uniform: Option<(u32, u64)>,
    width: u32,
    mappings: u32,
    unlock: [u64; 2],
    extra: &[(&str, String)],
    image: Image,
) -> Config {
    let mut pairs = vec![("width", width.to_string()), ("name", "equiv.flash".into())];
    if let Some((n, s)) = uniform {
        pairs.push(("num-blocks", n.to_string()));
        pairs.push(("sector-length", hex(s)));
    }
    for (i, (n, s)) in regions.iter().enumerate() {
        pairs.push((
            ["num-blocks0", "num-blocks1", "num-blocks2", "num-blocks3"][i],
            n.to_string(),
        ));
        pairs.push((
            [
                "sector-length0",
                "sector-length1",
                "sector-length2",
                "sector-length3",
            ][i],
            hex(*s),
        ));
    }
    if mappings != 0 {
        pairs.push(("mappings", mappings.to_string()));
    }
    pairs.push(("unlock-addr0", hex(unlock[0])));
    pairs.push(("unlock-addr1", hex(unlock[1])));
    pairs.extend(extra.iter().cloned());
    let layout: Vec<(u32, u64)> = if regions.is_empty() {
        vec![uniform.expect("a geometry")]
    } else {
        regions.to_vec()
    };
    let chip: u64 = layout.iter().map(|(n, s)| *n as u64 * s).sum();
    let mut hot = Vec::new();
    let mut start = 0;
    for (n, s) in &layout {
        hot.push(start);
        if *n > 1 {
            hot.push(start + s);
        }
        start += *n as u64 * s;
    }
    hot.push(chip - layout.last().unwrap().1);
    hot.sort_unstable();
    hot.dedup();
    let shift = match width {
        2 => 1,
        4 => 2,
        _ => 0,
    };
    Config {
        family: Family::Cfi02,
        props: Config::props_of(&pairs),
        image,
        window: mappings.max(1) as u64 * chip,
        chip,
        bus_width: if width == 0 { 1 } else { width.min(4) },
        writeblock: 0,
        device_width: 0,
        unlock: [(unlock[0] & 0x7FF) << shift, (unlock[1] & 0x7FF) << shift],
        cfi_entry: 0x55 << shift,
        shift,
        hot,
    }
}

fn random_cfi02(rng: &mut ChaCha8Rng, image: Image) -> Config {
    let width = *[0u32, 1, 2, 2, 4].choose(rng).unwrap();
    let mappings = *[0u32, 1, 2, 4].choose(rng).unwrap();
    let unlock = *[[0x555u64, 0x2AA], [0x5555, 0x2AAA], [0xAAA, 0x555]]
        .choose(rng)
        .unwrap();
    let mut extra = Vec::new();
    if rng.gen_bool(0.3) {
        extra.push(("big-endian", "1".to_string()));
    }
    for k in ["id0", "id1", "id2", "id3"] {
        if rng.gen_bool(0.7) {
            let v: u16 = match rng.gen_range(0..4) {
                0 => 0xFF,
                1 => rng.gen::<u8>() as u16,
                _ => rng.gen(),
            };
            extra.push((k, hex(v as u64)));
        }
    }
    match rng.gen_range(0..4) {
        // Uniform, power of two or not (QEMU does not validate it).
        0 | 1 => {
            let sector = 1u64 << rng.gen_range(12..18);
            let blocks = if rng.gen_bool(0.8) {
                1 << rng.gen_range(1..6)
            } else {
                rng.gen_range(2..40)
            };
            cfi02_config(
                &[],
                Some((blocks, sector)),
                width,
                mappings,
                unlock,
                &extra,
                image,
            )
        }
        // Non-uniform regions, aligned as realize requires.
        _ => {
            let n = rng.gen_range(1..=4);
            let mut regions = Vec::new();
            let mut len = 0u64;
            while regions.len() < n {
                let s = 1u64 << rng.gen_range(8..17);
                if !len.is_multiple_of(s) {
                    continue;
                }
                let blocks = rng.gen_range(1..6u32);
                len += blocks as u64 * s;
                regions.push((blocks, s));
            }
            let uniform = (rng.gen_bool(0.2) && len.is_multiple_of(4096)).then_some((1, len));
            cfi02_config(&regions, uniform, width, mappings, unlock, &extra, image)
        }
    }
}

/// Named cfi02 boards and the qtest geometries (spec/boards.md, pflash-cfi02.md §16).
fn cfi02_boards() -> Vec<Config> {
    let musicpal_ids = [("id0", hex(0xBF)), ("id1", hex(0x236D))];
    let top = [(127, 0x10000), (1, 0x8000), (2, 0x2000), (1, 0x4000)];
    let bottom = [(1, 0x4000), (2, 0x2000), (1, 0x8000), (127, 0x10000)];
    let x16 = [0x5555, 0x2AAA];
    vec![
        cfi02_config(
            &[],
            Some((128, 0x10000)),
            2,
            4,
            x16,
            &musicpal_ids,
            Image::Erased,
        ),
        cfi02_config(&top, None, 2, 4, x16, &musicpal_ids, Image::Erased),
        cfi02_config(&bottom, None, 2, 4, x16, &musicpal_ids, Image::Erased),
        cfi02_config(
            &[],
            Some((512, 0x20000)),
            1,
            0,
            [0x555, 0x2AA],
            &[("id0", hex(0x66)), ("id1", hex(0x22))],
            Image::Erased,
        ),
        cfi02_config(
            &[],
            Some((64, 0x10000)),
            4,
            1,
            [0x555, 0x2AA],
            &[
                ("id0", hex(0xEC)),
                ("id1", hex(0x7E)),
                ("id2", hex(0x03)),
                ("id3", hex(0x01)),
            ],
            Image::Pattern(11),
        ),
        cfi02_config(&[], Some((3, 0x10000)), 2, 2, x16, &[], Image::NoDrive),
        cfi02_config(
            &top,
            None,
            2,
            0,
            x16,
            &[("big-endian", "1".into())],
            Image::ReadOnly(5),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Ops

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Write { addr: u64, width: u32, val: u64 },
    Read { addr: u64, width: u32 },
    Step { ns: Option<u64> },
    Reset,
}

impl Op {
    /// One op in the `norcompat replay` format, keys in the documented order.
    fn to_json(&self) -> String {
        match self {
            Op::Write { addr, width, val } => format!(
                r#"{{"op":"write","addr":"{}","width":{width},"val":"{}"}}"#,
                hex(*addr),
                hex(*val)
            ),
            Op::Read { addr, width } => {
                format!(r#"{{"op":"read","addr":"{}","width":{width}}}"#, hex(*addr))
            }
            Op::Step { ns: Some(ns) } => format!(r#"{{"op":"step","ns":{ns}}}"#),
            Op::Step { ns: None } => r#"{"op":"step"}"#.to_string(),
            Op::Reset => r#"{"op":"reset"}"#.to_string(),
        }
    }
}

fn ops_json(ops: &[Op]) -> String {
    let lines: Vec<String> = ops.iter().map(Op::to_json).collect();
    format!("[\n{}\n]", lines.join(",\n"))
}

/// Builds op sequences for one configuration.
struct Gen<'a> {
    rng: ChaCha8Rng,
    cfg: &'a Config,
    ops: Vec<Op>,
}

impl Gen<'_> {
    fn width(&mut self) -> u32 {
        if self.rng.gen_bool(0.8) {
            self.cfg.bus_width
        } else {
            *[1, 2, 4].choose(&mut self.rng).unwrap()
        }
    }

    /// An address in the window, aligned to `width`, mostly near hot sectors.
    fn addr(&mut self, width: u32) -> u64 {
        let raw = match self.rng.gen_range(0..10) {
            0..=5 => {
                let base = *self.cfg.hot.choose(&mut self.rng).unwrap();
                base + self.rng.gen_range(0..0x400.min(self.cfg.chip - base))
            }
            6 => self.rng.gen_range(0..0x200.min(self.cfg.chip)),
            _ => self.rng.gen_range(0..self.cfg.window),
        };
        let mirror = self.mirror();
        (raw + mirror) & !(width as u64 - 1)
    }

    /// An offset of a whole chip into the window (cfi02 `mappings`).
    fn mirror(&mut self) -> u64 {
        let copies = self.cfg.window / self.cfg.chip;
        if copies > 1 && self.rng.gen_bool(0.3) {
            self.rng.gen_range(0..copies) * self.cfg.chip
        } else {
            0
        }
    }

    /// A command byte as a guest writes it: alone, replicated over the lanes,
    /// or with noise in the upper lanes.
    fn cmd_value(&mut self, b: u8, width: u32) -> u64 {
        let lanes = devices::device::mask(width);
        match self.rng.gen_range(0..10) {
            0..=5 => b as u64,
            6 | 7 => (b as u64 * 0x0101_0101) & lanes,
            8 => (b as u64 * 0x0001_0001) & lanes,
            _ => ((self.rng.gen::<u32>() as u64) << 8 | b as u64) & lanes,
        }
    }

    fn write(&mut self, addr: u64, width: u32, val: u64) {
        let val = val & devices::device::mask(width);
        self.ops.push(Op::Write { addr, width, val });
    }

    fn cmd_at(&mut self, addr: u64, b: u8) {
        let w = self.width();
        let addr = addr & !(w as u64 - 1);
        let v = self.cmd_value(b, w);
        self.write(addr, w, v);
    }

    fn cmd(&mut self, b: u8) {
        let w = self.width();
        let a = self.addr(w);
        let v = self.cmd_value(b, w);
        self.write(a, w, v);
    }

    fn read_at(&mut self, addr: u64) {
        let width = match self.rng.gen_range(0..20) {
            0 => 8,
            1..=3 => 1,
            4..=6 => 2,
            7..=9 => 4,
            _ => self.cfg.bus_width,
        };
        let addr = if self.rng.gen_bool(0.05) {
            addr
        } else {
            addr & !(width as u64 - 1)
        };
        let addr = addr.min(self.cfg.window - width as u64);
        self.ops.push(Op::Read { addr, width });
    }

    fn reads(&mut self, max: usize) {
        let n = self.rng.gen_range(1..=max);
        for _ in 0..n {
            let a = self.addr(1);
            self.read_at(a);
        }
    }

    fn reads_near(&mut self, base: u64, span: u64, max: usize) {
        let n = self.rng.gen_range(1..=max);
        for _ in 0..n {
            let a = (base + self.rng.gen_range(0..span)).min(self.cfg.window - 1);
            self.read_at(a);
        }
    }

    fn step(&mut self) {
        let ns = match self.rng.gen_range(0..12) {
            0..=2 => None,
            3 => Some(0),
            4 => Some(1),
            5 => Some(self.rng.gen_range(1..60_000)),
            6 => Some(
                *[49_999, 50_000, 50_001, 512_000, 562_000]
                    .choose(&mut self.rng)
                    .unwrap(),
            ),
            7 => Some(self.rng.gen_range(60_000..3_000_000)),
            8 => Some(4_096_000_000),
            _ => Some(self.rng.gen_range(1..20_000)),
        };
        self.ops.push(Op::Step { ns });
    }

    fn garbage(&mut self) {
        let w = self.width();
        let a = self.addr(w);
        let v = self.rng.gen();
        self.write(a, w, v);
    }

    fn common(&mut self) -> bool {
        match self.rng.gen_range(0..20) {
            0 => self.ops.push(Op::Reset),
            1 | 2 => self.step(),
            3 | 4 => self.garbage(),
            5..=7 => self.reads(6),
            _ => return false,
        }
        true
    }

    // -- Intel command set -------------------------------------------------

    fn cfi01_phrase(&mut self) {
        if self.common() {
            return;
        }
        let c = self.cfg.clone();
        let base = *c.hot.choose(&mut self.rng).unwrap();
        match self.rng.gen_range(0..14) {
            0 | 1 => {
                // Program (0x40 or 0x10), then status reads.
                let op = if self.rng.gen_bool(0.7) { 0x40 } else { 0x10 };
                self.cmd(op);
                let w = self.width();
                let a = self.addr(w);
                let v = self.rng.gen();
                self.write(a, w, v);
                if self.rng.gen_bool(0.5) {
                    self.reads(3);
                }
            }
            2 => {
                // Block erase: setup (erases now), then confirm / 0xFF / junk.
                let w = self.width();
                let a = self.addr(w);
                self.cmd_at(a, 0x20);
                let b = *[0xD0, 0xD0, 0xFF, 0x00, 0x70]
                    .choose(&mut self.rng)
                    .unwrap();
                self.cmd(b);
            }
            3 => {
                self.cmd(0x70);
                self.reads(4);
            }
            4 => {
                self.cmd(0x90);
                let span = 0x40 << c.device_width.max(1);
                self.reads_near(base, span, 6);
            }
            5 | 6 => {
                // CFI query: answers, ignored writes, leave with 0xFF.
                self.cmd(0x98);
                let span = (0x60 * c.bus_width as u64 * 2).min(c.chip);
                self.reads_near(0, span, 10);
                if self.rng.gen_bool(0.3) {
                    let b = *[0x00, 0x50, 0x70, 0x90, 0xF0]
                        .choose(&mut self.rng)
                        .unwrap();
                    self.cmd(b);
                    self.reads_near(0, span, 2);
                }
                if self.rng.gen_bool(0.8) {
                    self.cmd(0xFF);
                }
            }
            7 => {
                let b = *[0x50, 0xFF, 0x00, 0xF0].choose(&mut self.rng).unwrap();
                self.cmd(b);
            }
            8 => {
                self.cmd(0x60);
                let b = *[0xD0, 0x01, 0xFF, 0x2F].choose(&mut self.rng).unwrap();
                self.cmd(b);
            }
            _ => self.cfi01_buffered_write(base),
        }
    }

    fn cfi01_buffered_write(&mut self, base: u64) {
        let c = self.cfg.clone();
        if self.rng.gen_bool(0.5) {
            // A stale SR.4 would abort the write: clear it first, as drivers do.
            self.cmd(0x50);
        }
        let w = self.width();
        let anchor =
            (base + self.rng.gen_range(0..c.writeblock.min(c.chip - base))) & !(w as u64 - 1);
        self.cmd_at(anchor, 0xE8);
        if self.rng.gen_bool(0.3) {
            self.reads(2);
        }
        let n = self.rng.gen_range(1..=8u64);
        let count = match self.rng.gen_range(0..10) {
            0 => n + 1,
            1 if n > 1 => n - 2,
            2 => self.rng.gen::<u64>() | (n - 1),
            _ => n - 1,
        };
        let count_at = if self.rng.gen_bool(0.85) {
            anchor
        } else {
            self.addr(w)
        };
        self.write(count_at, w, count);
        let window = anchor & !(c.writeblock - 1);
        let mut at = anchor;
        for _ in 0..n {
            let dw = if self.rng.gen_bool(0.85) {
                w
            } else {
                self.width()
            };
            let a = if self.rng.gen_bool(0.9) {
                at & !(dw as u64 - 1)
            } else {
                self.addr(dw)
            };
            let v = self.rng.gen();
            self.write(a.min(c.window - dw as u64), dw, v);
            at = (at + dw as u64).min(window + c.writeblock);
            if self.rng.gen_bool(0.1) {
                self.reads(2);
            }
        }
        let confirm = *[0xD0, 0xD0, 0xD0, 0xFF, 0x00]
            .choose(&mut self.rng)
            .unwrap();
        self.cmd(confirm);
        if self.rng.gen_bool(0.5) {
            self.reads_near(window, c.writeblock, 3);
        }
    }

    // -- AMD command set ---------------------------------------------------

    /// A command address with ignored high bits and mirrors mixed in.
    fn amd_addr(&mut self, word_offset: u64) -> u64 {
        let high = if self.rng.gen_bool(0.2) {
            (self.rng.gen_range(1..4u64) * (0x800 << self.cfg.shift)) % self.cfg.chip
        } else {
            0
        };
        let m = self.mirror();
        ((word_offset + high) % self.cfg.chip + m).min(self.cfg.window - 1)
    }

    fn amd(&mut self, word_offset: u64, b: u8) {
        let a = self.amd_addr(word_offset);
        self.cmd_at(a, b);
    }

    fn unlock(&mut self) {
        let [u0, u1] = self.cfg.unlock;
        if self.rng.gen_bool(0.03) {
            self.garbage();
        }
        self.amd(u0, 0xAA);
        self.amd(u1, 0x55);
    }

    fn sector(&mut self) -> u64 {
        let base = *self.cfg.hot.choose(&mut self.rng).unwrap();
        let w = self.width() as u64;
        (base + self.rng.gen_range(0..0x100.min(self.cfg.chip - base))) & !(w - 1)
    }

    fn cfi02_phrase(&mut self) {
        if self.common() {
            return;
        }
        let [u0, _] = self.cfg.unlock;
        let cfi = self.cfg.cfi_entry;
        match self.rng.gen_range(0..20) {
            0..=2 => {
                // Program, ANDing; sometimes 0xF0 as data.
                self.unlock();
                self.amd(u0, 0xA0);
                if self.rng.gen_bool(0.3) {
                    self.reads(2);
                }
                let w = self.width();
                let a = self.addr(w);
                let v = if self.rng.gen_bool(0.1) {
                    0xF0
                } else {
                    self.rng.gen()
                };
                self.write(a, w, v);
            }
            3 => {
                // Unlock bypass: enter, program a few words, leave somehow.
                self.unlock();
                self.amd(u0, 0x20);
                for _ in 0..self.rng.gen_range(0..4) {
                    let a = self.addr(1);
                    self.cmd_at(a, 0xA0);
                    let w = self.width();
                    let a = self.addr(w);
                    let v = self.rng.gen();
                    self.write(a, w, v);
                }
                match self.rng.gen_range(0..5) {
                    0 => {
                        self.cmd(0x90);
                        self.cmd(0x00);
                    }
                    1 => self.cmd(0x00),
                    2 => self.cmd(0xF0),
                    3 => {
                        self.cmd(0x80);
                        self.unlock();
                        let s = self.sector();
                        self.cmd_at(s, 0x30);
                    }
                    _ => {}
                }
            }
            4 | 5 => {
                // Autoselect, maybe CFI inside it, then leave.
                self.unlock();
                self.amd(u0, 0x90);
                self.cfi02_id_reads();
                if self.rng.gen_bool(0.3) {
                    self.amd(cfi, 0x98);
                    self.reads_near(0, 0x60 << self.cfg.shift, 6);
                    if self.rng.gen_bool(0.7) {
                        self.cmd(0xF0);
                        self.cfi02_id_reads();
                    }
                }
                let b = *[0xF0, 0xF0, 0x00, 0x12].choose(&mut self.rng).unwrap();
                self.cmd(b);
            }
            6 | 7 => {
                self.amd(cfi, 0x98);
                self.reads_near(0, 0x100 << self.cfg.shift, 10);
                if self.rng.gen_bool(0.8) {
                    let b = *[0xF0, 0xFF, 0x00].choose(&mut self.rng).unwrap();
                    self.cmd(b);
                }
            }
            8..=11 => self.cfi02_sector_erase(),
            12 => {
                // Chip erase: rare, long.
                if self.rng.gen_bool(0.3) {
                    self.unlock();
                    self.amd(u0, 0x80);
                    self.unlock();
                    self.amd(u0, 0x10);
                    self.reads(3);
                    if self.rng.gen_bool(0.3) {
                        self.cmd(0xF0);
                    }
                }
            }
            13 | 14 => {
                // Suspend / resume, with many reads (lazy ROMD at 43).
                self.cmd(0xB0);
                let s = self.sector();
                let n = if self.rng.gen_bool(0.3) { 50 } else { 5 };
                self.reads_near(s, 0x100, n);
                if self.rng.gen_bool(0.6) {
                    if self.rng.gen_bool(0.3) {
                        self.unlock();
                        self.amd(u0, 0x80);
                    }
                    self.cmd(0x30);
                }
            }
            15 => self.cmd(0xF0),
            16 => {
                // A broken sequence.
                self.unlock();
                let b = *[0x80, 0x90, 0xA0, 0x20, 0x55, 0x00]
                    .choose(&mut self.rng)
                    .unwrap();
                self.cmd(b);
            }
            _ => {
                let s = self.sector();
                self.reads_near(s, 0x200, 45);
            }
        }
    }

    fn cfi02_id_reads(&mut self) {
        let n = self.rng.gen_range(1..6);
        for _ in 0..n {
            let idx = *[0u64, 1, 2, 3, 0x0E, 0x0F, 0x10, 0x40]
                .choose(&mut self.rng)
                .unwrap();
            let a = self.amd_addr(idx << self.cfg.shift);
            self.read_at(a);
        }
    }

    fn cfi02_sector_erase(&mut self) {
        let [u0, _] = self.cfg.unlock;
        self.unlock();
        self.amd(u0, 0x80);
        self.unlock();
        let s = self.sector();
        self.cmd_at(s, 0x30);
        for _ in 0..self.rng.gen_range(0..3) {
            if self.rng.gen_bool(0.5) {
                self.reads(2);
            }
            if self.rng.gen_bool(0.3) {
                self.step();
            }
            let s = self.sector();
            let b = if self.rng.gen_bool(0.85) { 0x30 } else { 0xF0 };
            self.cmd_at(s, b);
        }
        let s = self.sector();
        self.reads_near(s, 0x100, 4);
        if self.rng.gen_bool(0.6) {
            self.step();
            self.reads_near(s, 0x100, 3);
        }
        if self.rng.gen_bool(0.4) {
            self.cfi02_suspended_activity();
        }
    }

    /// Erase suspend while an erase may run, activity in suspend mode (reads
    /// of queued and other sectors, programs, a refused erase), then resume.
    fn cfi02_suspended_activity(&mut self) {
        let [u0, _] = self.cfg.unlock;
        self.cmd(0xB0);
        for _ in 0..self.rng.gen_range(1..4) {
            match self.rng.gen_range(0..5) {
                0 => {
                    self.unlock();
                    self.amd(u0, 0xA0);
                    let w = self.width();
                    let a = self.sector() + self.rng.gen_range(0..0x80) * w as u64;
                    let v = self.rng.gen();
                    self.write(a.min(self.cfg.chip - w as u64), w, v);
                }
                1 => {
                    self.unlock();
                    self.amd(u0, 0x80);
                    self.unlock();
                    let s = self.sector();
                    self.cmd_at(s, 0x30);
                }
                2 => self.step(),
                _ => {
                    let s = self.sector();
                    let n = if self.rng.gen_bool(0.2) { 45 } else { 4 };
                    self.reads_near(s, 0x100, n);
                }
            }
        }
        if self.rng.gen_bool(0.8) {
            if self.rng.gen_bool(0.3) {
                self.unlock();
                self.amd(u0, 0x80);
            }
            self.cmd(0x30);
            let s = self.sector();
            self.reads_near(s, 0x100, 3);
        }
    }
}

fn generate(cfg: &Config, seed: u64, n: usize) -> Vec<Op> {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0005_EED0_F0B5),
        cfg,
        ops: Vec::new(),
    };
    while g.ops.len() < n {
        match cfg.family {
            Family::Cfi01 => g.cfi01_phrase(),
            Family::Cfi02 => g.cfi02_phrase(),
        }
    }
    g.ops
}

// ---------------------------------------------------------------------------
// Running v5 and v6 side by side

fn create(cfg: &Config, type_name: &str) -> Result<Box<dyn FlashDevice>, DeviceError> {
    let spec = devices::DeviceSpec {
        type_name: type_name.to_string(),
        props: cfg.props.clone(),
    };
    devices::create(&spec, cfg.backend())
}

/// v6's canonical state projected onto v5's encoding.
fn projected(dev: &dyn FlashDevice) -> DeviceState {
    match dev.state() {
        DeviceState::Cfi01V6(s) => DeviceState::Cfi01V5(s.to_v5()),
        DeviceState::Cfi02V6(s) => DeviceState::Cfi02V5(s.to_v5()),
        other => panic!("not a v6 device: {other:?}"),
    }
}

fn apply(dev: &mut dyn FlashDevice, op: &Op) -> Option<u64> {
    match op {
        Op::Write { addr, width, val } => bus_write(dev, *addr, *width, *val),
        Op::Read { addr, width } => return Some(bus_read(dev, *addr, *width)),
        Op::Step { ns } => {
            let by = match ns {
                Some(ns) => *ns,
                None => dev.next_deadline().map_or(0, |d| d - dev.now()),
            };
            dev.advance(by);
        }
        Op::Reset => dev.reset(),
    }
    None
}

/// Where and how v5 and v6 first disagree.
#[derive(Debug)]
struct Mismatch {
    index: usize,
    what: String,
}

fn run_pair(cfg: &Config, ops: &[Op]) -> Result<(), Mismatch> {
    let mut v5 = create(cfg, cfg.family.v5_type()).expect("v5 realizes");
    let mut v6 = create(cfg, cfg.family.v6_type()).expect("v6 realizes");
    let fail = |index: usize, what: String| Err(Mismatch { index, what });
    for (i, op) in ops.iter().enumerate() {
        let r5 = apply(v5.as_mut(), op);
        let r6 = apply(v6.as_mut(), op);
        if r5 != r6 {
            return fail(i, format!("read: v5 {r5:x?}, v6 {r6:x?}"));
        }
        if v5.now() != v6.now() || v5.next_deadline() != v6.next_deadline() {
            return fail(
                i,
                format!(
                    "clock: v5 now {} deadline {:?}, v6 now {} deadline {:?}",
                    v5.now(),
                    v5.next_deadline(),
                    v6.now(),
                    v6.next_deadline()
                ),
            );
        }
        if v5.romd() != v6.romd() {
            return fail(i, format!("romd: v5 {}, v6 {}", v5.romd(), v6.romd()));
        }
        let (s5, s6) = (v5.state(), projected(v6.as_ref()));
        if s5 != s6 {
            return fail(i, format!("state:\n  v5 {s5:?}\n  v6 {s6:?}"));
        }
        // Reads cannot change the array.
        if !matches!(op, Op::Read { .. }) {
            if v5.array() != v6.array() {
                let pages = v6.array().dirty_pages(v5.array());
                return fail(i, format!("array differs in pages {pages:?}"));
            }
            if v5.backend().image() != v6.backend().image() {
                return fail(i, "backing image differs".to_string());
            }
        }
    }
    Ok(())
}

/// Delta debugging: drops chunks of ops (halving the chunk size) while
/// `fails` still reports a failure, and cuts everything after the first
/// failing op. `fails` returns the index of the first failing op.
fn shrink(ops: &[Op], fails: impl Fn(&[Op]) -> Option<usize>) -> Vec<Op> {
    let Some(first) = fails(ops) else {
        return ops.to_vec();
    };
    let mut ops = ops[..=first].to_vec();
    let mut chunk = (ops.len() / 2).max(1);
    loop {
        let mut i = 0;
        let mut progressed = false;
        while i < ops.len() {
            let end = (i + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..i].iter().chain(&ops[end..]).cloned().collect();
            match fails(&candidate) {
                Some(at) => {
                    ops = candidate[..=at].to_vec();
                    progressed = true;
                }
                None => i += chunk,
            }
        }
        if chunk == 1 && !progressed {
            return ops;
        }
        if !progressed {
            chunk /= 2;
        }
    }
}

fn check_pair(cfg: &Config, seed: u64, ops: &[Op]) {
    if run_pair(cfg, ops).is_err() {
        let small = shrink(ops, |o| run_pair(cfg, o).err().map(|m| m.index));
        let last = run_pair(cfg, &small).expect_err("the shrunk list still fails");
        panic!(
            "v5 and v6 diverge (seed {seed}, {} ops, shrunk to {}).\nconfiguration: {cfg}\n\
             at op {}: {}\nops:\n{}",
            ops.len(),
            small.len(),
            last.index,
            last.what,
            ops_json(&small)
        );
    }
}

fn seeds(default: u64) -> u64 {
    std::env::var("NORCOMPAT_EQUIV_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn image_for(rng: &mut ChaCha8Rng, seed: u64) -> Image {
    match rng.gen_range(0..10) {
        0..=5 => Image::Erased,
        6 | 7 => Image::Pattern(seed),
        8 => Image::ReadOnly(seed),
        _ => Image::NoDrive,
    }
}

/// The configuration of one seed: the named boards first, then random ones.
fn config_for(family: Family, seed: u64) -> Config {
    let boards = match family {
        Family::Cfi01 => cfi01_boards(),
        Family::Cfi02 => cfi02_boards(),
    };
    if let Some(b) = boards.get(seed as usize) {
        return b.clone();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let image = image_for(&mut rng, seed);
    match family {
        Family::Cfi01 => random_cfi01(&mut rng, image),
        Family::Cfi02 => random_cfi02(&mut rng, image),
    }
}

const OPS_PER_SEED: usize = 400;

fn equivalence(family: Family, default_seeds: u64) {
    for seed in 0..seeds(default_seeds) {
        let cfg = config_for(family, seed);
        let ops = generate(&cfg, seed, OPS_PER_SEED);
        check_pair(&cfg, seed, &ops);
    }
}

#[test]
fn cfi01_v6_matches_v5_on_random_sequences() {
    equivalence(Family::Cfi01, 800);
}

#[test]
fn cfi02_v6_matches_v5_on_random_sequences() {
    equivalence(Family::Cfi02, 800);
}

// ---------------------------------------------------------------------------
// CFI tables and realize errors

#[test]
fn cfi_tables_are_byte_identical_to_v5() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xCF1);
    let mut cfgs: Vec<Config> = cfi01_boards().into_iter().chain(cfi02_boards()).collect();
    for _ in 0..seeds(300) {
        cfgs.push(random_cfi01(&mut rng, Image::NoDrive));
        cfgs.push(random_cfi02(&mut rng, Image::NoDrive));
        // Non-power-of-two and odd geometries: CFI reports them as QEMU does.
        let blocks = rng.gen_range(1..3000u32);
        let sector = rng.gen_range(1..0x40u64) << 12;
        cfgs.push(cfi01_config(blocks, sector, 1, 0, 0, &[], Image::NoDrive));
    }
    for cfg in &cfgs {
        let p = &cfg.props;
        match cfg.family {
            Family::Cfi01 => {
                let v5 = devices::v5::cfi01::PflashCfi01::new(p, BlockBackend::none()).unwrap();
                let v6 = ParallelNorCfi01Flash::new(p, BlockBackend::none()).unwrap();
                assert_eq!(v5.cfi_table(), v6.cfi_table(), "{cfg}");
                assert_eq!(v5.writeblock_size() as u64, v6.writeblock_size(), "{cfg}");
            }
            Family::Cfi02 => {
                let v5 = devices::v5::cfi02::PflashCfi02::new(p, BlockBackend::none()).unwrap();
                let v6 = ParallelNorCfi02Flash::new(p, BlockBackend::none()).unwrap();
                assert_eq!(v5.cfi_table(), v6.cfi_table(), "{cfg}");
            }
        }
    }
}

/// An error as text, with the type name normalized to v6's.
fn error_text(family: Family, e: DeviceError) -> String {
    e.to_string().replace(family.v5_type(), family.v6_type())
}

fn realize_outcome(
    family: Family,
    type_name: &str,
    p: &[(String, String)],
    image: Option<u64>,
) -> Result<u64, String> {
    let backend = match image {
        Some(len) => BlockBackend::memory(len, 0xFF, true),
        None => BlockBackend::none(),
    };
    let spec = devices::DeviceSpec {
        type_name: type_name.to_string(),
        props: p.to_vec(),
    };
    devices::create(&spec, backend)
        .map(|d| d.window_size())
        .map_err(|e| error_text(family, e))
}

fn assert_same_realize(
    family: Family,
    p: &[(String, String)],
    image: Option<u64>,
) -> Result<u64, String> {
    let v5 = realize_outcome(family, family.v5_type(), p, image);
    let v6 = realize_outcome(family, family.v6_type(), p, image);
    assert_eq!(v5, v6, "{family:?} {p:?} image {image:?}");
    v6
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn realize_errors_are_identical_to_v5() {
    let cfi01: &[&[(&str, &str)]] = &[
        &[],
        &[("num-blocks", "4"), ("name", "f")],
        &[("sector-length", "0x1000"), ("name", "f")],
        &[("sector-length", "0x1000"), ("num-blocks", "4")],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("width", "1"),
            ("device-width", "2"),
        ],
        &[
            ("sector-length", "0x100000000"),
            ("num-blocks", "2"),
            ("name", "f"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("foo", "1"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "0x100000000"),
            ("name", "f"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("width", "256"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("big-endian", "2"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("mappings", "2"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("id0", "0x10000"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("name", "g"),
        ],
    ];
    for p in cfi01 {
        let p = kv(p);
        assert!(
            assert_same_realize(Family::Cfi01, &p, None).is_err(),
            "{p:?}"
        );
    }
    // Backend size mismatch, both ways.
    let ok = kv(&[
        ("sector-length", "0x1000"),
        ("num-blocks", "4"),
        ("name", "f"),
    ]);
    for len in [0x3000, 0x5000] {
        assert!(assert_same_realize(Family::Cfi01, &ok, Some(len)).is_err());
    }
    assert_eq!(
        assert_same_realize(Family::Cfi01, &ok, Some(0x4000)),
        Ok(0x4000)
    );

    let cfi02: &[&[(&str, &str)]] = &[
        &[],
        &[("num-blocks", "4"), ("name", "f")],
        &[("sector-length", "0x1000"), ("name", "f")],
        &[("sector-length0", "0x1000"), ("name", "f")],
        &[("sector-length", "0x1000"), ("num-blocks", "4")],
        &[
            ("num-blocks0", "1"),
            ("sector-length0", "0x180"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "1"),
            ("sector-length0", "0x80"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "1"),
            ("sector-length0", "0x1000000"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "1"),
            ("sector-length0", "0"),
            ("sector-length", "0x1000"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "1"),
            ("sector-length0", "0x1000"),
            ("num-blocks1", "1"),
            ("sector-length1", "0x2000"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "3"),
            ("sector-length0", "0x1000"),
            ("num-blocks1", "1"),
            ("sector-length1", "0x300"),
            ("name", "f"),
        ],
        &[
            ("num-blocks0", "2"),
            ("sector-length0", "0x1000"),
            ("num-blocks", "3"),
            ("sector-length", "0x1000"),
            ("name", "f"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("device-width", "2"),
        ],
        &[
            ("sector-length", "0x100000000"),
            ("num-blocks", "4"),
            ("name", "f"),
        ],
        &[
            ("sector-length", "0x1000"),
            ("num-blocks", "4"),
            ("name", "f"),
            ("big-endian", "on"),
        ],
    ];
    for p in cfi02 {
        let p = kv(p);
        assert!(
            assert_same_realize(Family::Cfi02, &p, None).is_err(),
            "{p:?}"
        );
    }
    for len in [0x3000, 0x5000] {
        assert!(assert_same_realize(Family::Cfi02, &ok, Some(len)).is_err());
    }
    assert_eq!(
        assert_same_realize(Family::Cfi02, &ok, Some(0x4000)),
        Ok(0x4000)
    );

    // Random property sets: same verdict, same message, same window.
    let mut rng = ChaCha8Rng::seed_from_u64(0xE77);
    let small = ["0", "1", "2", "3", "4", "7", "0x10"];
    let lens = [
        "0", "0x80", "0x100", "0x180", "0x1000", "0x2000", "0x3000", "0x10000", "0x8000",
    ];
    for _ in 0..seeds(300) * 4 {
        let family = if rng.gen_bool(0.5) {
            Family::Cfi01
        } else {
            Family::Cfi02
        };
        let names: &[&str] = match family {
            Family::Cfi01 => &[
                "num-blocks",
                "sector-length",
                "width",
                "device-width",
                "max-device-width",
                "name",
                "big-endian",
                "old-multiple-chip-handling",
            ],
            Family::Cfi02 => &[
                "num-blocks",
                "sector-length",
                "num-blocks0",
                "sector-length0",
                "num-blocks1",
                "sector-length1",
                "num-blocks2",
                "sector-length2",
                "num-blocks3",
                "sector-length3",
                "width",
                "mappings",
                "name",
            ],
        };
        let mut p = Vec::new();
        for name in names {
            if !rng.gen_bool(0.6) {
                continue;
            }
            let v = match *name {
                "name" => "f".to_string(),
                "big-endian" | "old-multiple-chip-handling" => "on".to_string(),
                n if n.starts_with("sector-length") => lens.choose(&mut rng).unwrap().to_string(),
                _ => small.choose(&mut rng).unwrap().to_string(),
            };
            p.push((name.to_string(), v));
        }
        let image = rng.gen_bool(0.2).then(|| 0x1000 * rng.gen_range(0..8u64));
        let _ = assert_same_realize(family, &p, image);
    }
}

// ---------------------------------------------------------------------------
// Stop and restore

/// A v6 device, concretely typed so that its State can be restored.
#[derive(Clone)]
enum V6 {
    Cfi01(ParallelNorCfi01Flash),
    Cfi02(ParallelNorCfi02Flash),
}

impl V6 {
    fn new(cfg: &Config, backend: BlockBackend) -> V6 {
        match cfg.family {
            Family::Cfi01 => V6::Cfi01(ParallelNorCfi01Flash::new(&cfg.props, backend).unwrap()),
            Family::Cfi02 => V6::Cfi02(ParallelNorCfi02Flash::new(&cfg.props, backend).unwrap()),
        }
    }

    fn dev(&mut self) -> &mut dyn FlashDevice {
        match self {
            V6::Cfi01(d) => d,
            V6::Cfi02(d) => d,
        }
    }

    fn view(&self) -> &dyn FlashDevice {
        match self {
            V6::Cfi01(d) => d,
            V6::Cfi02(d) => d,
        }
    }

    /// A fresh device with the same properties and a copy of the drive, the
    /// array copied and the canonical state restored (clock back at 0).
    fn restored(&self, cfg: &Config) -> V6 {
        let mut fresh = V6::new(cfg, self.view().backend().fork());
        match (self, &mut fresh) {
            (V6::Cfi01(a), V6::Cfi01(b)) => {
                b.load_ram_block(a.array().clone());
                b.set_state(&a.state());
            }
            (V6::Cfi02(a), V6::Cfi02(b)) => {
                b.load_ram_block(a.array().clone());
                b.set_state(&a.state());
            }
            _ => unreachable!("same family"),
        }
        fresh
    }
}

/// The pending deadline relative to the device's own clock.
fn remaining(dev: &dyn FlashDevice) -> Option<u64> {
    dev.next_deadline().map(|d| d - dev.now())
}

fn check_restore(cfg: &Config, seed: u64, ops: &[Op]) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0000_5705_0000);
    let mut orig = V6::new(cfg, cfg.backend());
    let mut copy: Option<Box<dyn FlashDevice>> = None;
    for (i, op) in ops.iter().enumerate() {
        if rng.gen_bool(0.02) {
            // Alternate between set_state and the lossless migration.
            copy = Some(if rng.gen_bool(0.5) {
                match orig.restored(cfg) {
                    V6::Cfi01(d) => Box::new(d),
                    V6::Cfi02(d) => Box::new(d),
                }
            } else {
                orig.view().migrated()
            });
        }
        let r = apply(orig.dev(), op);
        let Some(c) = copy.as_mut() else { continue };
        let rc = apply(c.as_mut(), op);
        let o = orig.view();
        let differs = if r != rc {
            Some(format!("read {r:x?} vs restored {rc:x?}"))
        } else if remaining(o) != remaining(c.as_ref()) {
            Some(format!(
                "deadline {:?} vs restored {:?}",
                remaining(o),
                remaining(c.as_ref())
            ))
        } else if o.state() != c.state() {
            Some(format!("state {:?} vs restored {:?}", o.state(), c.state()))
        } else if o.array() != c.array() || o.backend().image() != c.backend().image() {
            Some("array or image".to_string())
        } else {
            None
        };
        if let Some(d) = differs {
            return Err(format!("op {i}: {d}"));
        }
    }
    Ok(())
}

#[test]
fn v6_restored_from_its_state_continues_identically() {
    for family in [Family::Cfi01, Family::Cfi02] {
        for seed in 0..seeds(200) {
            let cfg = config_for(family, seed);
            let ops = generate(&cfg, seed, OPS_PER_SEED);
            if let Err(e) = check_restore(&cfg, seed, &ops) {
                panic!(
                    "restored v6 diverges (seed {seed}): {e}\nconfiguration: {cfg}\nops:\n{}",
                    ops_json(&ops)
                );
            }
        }
    }
}

#[test]
fn v6_states_round_trip_through_json() {
    for family in [Family::Cfi01, Family::Cfi02] {
        for seed in 0..seeds(20) {
            let cfg = config_for(family, seed);
            let ops = generate(&cfg, seed, 200);
            let mut dev = create(&cfg, family.v6_type()).unwrap();
            for op in &ops {
                apply(dev.as_mut(), op);
                let s = dev.state();
                let back: DeviceState =
                    serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
                assert_eq!(back, s);
            }
        }
    }
}

/// The shrinker keeps only what a failure needs.
#[test]
fn shrinker_reduces_to_the_essential_ops() {
    let mut ops: Vec<Op> = (0..200)
        .map(|i| Op::Read {
            addr: i * 2,
            width: 2,
        })
        .collect();
    ops[37] = Op::Reset;
    ops[150] = Op::Write {
        addr: 0xAA,
        width: 2,
        val: 0x98,
    };
    ops[90] = Op::Step { ns: Some(5) };
    // A stand-in divergence: a CFI query written after a reset.
    let fails = |ops: &[Op]| {
        let reset = ops.iter().position(|o| *o == Op::Reset)?;
        let cfi = ops[reset..]
            .iter()
            .position(|o| matches!(o, Op::Write { val, .. } if val & 0xFF == 0x98))?;
        Some(reset + cfi)
    };
    let small = shrink(&ops, fails);
    assert_eq!(small, [ops[37].clone(), ops[150].clone()]);
    let parsed: serde_json::Value = serde_json::from_str(&ops_json(&small)).unwrap();
    assert_eq!(parsed[0], serde_json::json!({"op": "reset"}));
    assert_eq!(
        parsed[1],
        serde_json::json!({"op": "write", "addr": "0xaa", "width": 2, "val": "0x98"})
    );
}
