//! Fuzzes the migration stream loader of a realistic destination (two cfi01
//! flashes and a cfi02, v5 or v6). The loader must never panic, and a refused
//! stream must leave the destination exactly as it was.
//!
//! Random bytes rarely get past the header, so most inputs are
//! structure-aware: the input picks the source and destination releases, the
//! capability, a short run of guest writes on the source, and then damages
//! the source's valid stream (XORed bytes, a cut, an inserted run). The
//! first byte's top bit selects raw mode instead: the rest is the stream.
#![no_main]

use devices::migration::{Capability, Machine};
use devices::{bus_write, BlockBackend, DeviceSpec, FlashDevice};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The board of each release: (type, properties) per device.
const BOARD: &[(&str, &str, &str)] = &[
    (
        "cfi.pflash01",
        "parallel-nor-cfi01-flash",
        "name=small.flash0,num-blocks=4,sector-length=0x1000,width=4,device-width=2",
    ),
    (
        "cfi.pflash01",
        "parallel-nor-cfi01-flash",
        "name=small.flash1,num-blocks=8,sector-length=0x800,width=4",
    ),
    (
        "cfi.pflash02",
        "parallel-nor-cfi02-flash",
        "name=small.flash2,num-blocks=16,sector-length=0x400,width=2,mappings=2,\
         unlock-addr0=0x555,unlock-addr1=0x2AA",
    ),
];

/// Machines by (v6?, x-ignore-shared?), built once.
fn machine(v6: bool, ignore_shared: bool) -> &'static Machine {
    static MACHINES: OnceLock<Vec<Machine>> = OnceLock::new();
    let all = MACHINES.get_or_init(|| {
        let mut all = Vec::new();
        for v6 in [false, true] {
            for ignore_shared in [false, true] {
                let devices: Vec<Box<dyn FlashDevice>> = BOARD
                    .iter()
                    .map(|(v5_type, v6_type, props)| {
                        let ty = if v6 { v6_type } else { v5_type };
                        let spec = DeviceSpec::parse(&format!("{ty},{props}")).expect("spec");
                        let len = devices::image_size(&spec).expect("size");
                        let drive = BlockBackend::memory(len, 0xFF, true);
                        devices::create(&spec, drive).expect("realize")
                    })
                    .collect();
                let machine_type = if v6 { "nor-6.0" } else { "nor-5.0" };
                let m = Machine::new(machine_type, devices);
                all.push(if ignore_shared {
                    m.with_capability(Capability::XIgnoreShared)
                } else {
                    m
                });
            }
        }
        all
    });
    &all[usize::from(v6) * 2 + usize::from(ignore_shared)]
}

fn fingerprint(m: &Machine) -> Vec<String> {
    m.devices
        .iter()
        .map(|d| {
            format!(
                "{:?} {} {:?}",
                d.state(),
                d.array().sha256_hex(),
                d.next_deadline()
            )
        })
        .collect()
}

/// Reads the input front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn word(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
}

/// Guest writes that open real command states (program, erase, buffered
/// write, CFI, autoselect) at input-chosen addresses and values.
fn drive_source(m: &mut Machine, input: &mut Input) {
    let writes = input.byte() % 24;
    for _ in 0..writes {
        let device = usize::from(input.byte()) % m.devices.len();
        let dev = m.devices[device].as_mut();
        let window = dev.window_size();
        let addr = u64::from(input.word()) % window;
        let width = [1, 2, 4][usize::from(input.byte()) % 3];
        let value = match input.byte() % 8 {
            0 => 0x40,
            1 => 0x20,
            2 => 0xE8,
            3 => 0x98,
            4 => 0xAA,
            5 => 0x55,
            6 => 0x80,
            _ => u64::from(input.word()),
        };
        bus_write(dev, addr & !(u64::from(width) - 1), width, value);
        if input.byte() % 4 == 0 {
            dev.advance(u64::from(input.word()) * 1000);
        }
    }
}

/// Damages `stream` as the rest of the input says.
fn damage(mut stream: Vec<u8>, input: &mut Input) -> Vec<u8> {
    if stream.is_empty() {
        return stream;
    }
    let flips = input.byte() % 8;
    for _ in 0..flips {
        let at = input.word() as usize % stream.len();
        stream[at] ^= input.byte().max(1);
    }
    match input.byte() % 4 {
        0 => {
            let at = input.word() as usize % (stream.len() + 1);
            stream.truncate(at);
        }
        1 => {
            let at = input.word() as usize % (stream.len() + 1);
            let run: Vec<u8> = (0..input.byte() % 16).map(|_| input.byte()).collect();
            stream.splice(at..at, run);
        }
        _ => {}
    }
    stream
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mode = input.byte();
    let ignore_shared = mode & 1 != 0;
    let dst = machine(mode & 2 != 0, ignore_shared);
    let stream = if mode & 0x80 != 0 {
        input.0.to_vec()
    } else {
        let mut src = machine(mode & 4 != 0, ignore_shared).fork();
        drive_source(&mut src, &mut input);
        damage(src.save(), &mut input)
    };
    let mut d = dst.fork();
    let before = fingerprint(&d);
    if d.load_into(&stream).is_err() {
        assert_eq!(
            fingerprint(&d),
            before,
            "a refused stream changed the destination"
        );
    }
});
