//! Criterion benchmarks: device access rates, machine forks and migration
//! (save + load) cost against flash size. Targets (docs/PERFORMANCE.md) are
//! judged on these figures, never by timing assertions in tests.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use devices::migration::{Capability, Machine};
use devices::{bus_read, bus_write, BlockBackend, DeviceSpec, FlashDevice};
use std::hint::black_box;

/// A cfi01 bank of `mib` MiB on `drive`; `bank` names its RAM block
/// (two banks must not share a RAM block name).
fn cfi01_on(mib: u64, bank: usize, drive: BlockBackend) -> Box<dyn FlashDevice> {
    let blocks = mib * 4; // 256 KiB sectors
    let spec = DeviceSpec::parse(&format!(
        "cfi.pflash01,name=flash{bank},num-blocks={blocks},sector-length=0x40000,width=4,device-width=2,id0=0x89,id1=0x18"
    ))
    .expect("spec");
    devices::create(&spec, drive).expect("device")
}

fn cfi02_on(drive: BlockBackend) -> Box<dyn FlashDevice> {
    let spec = DeviceSpec::parse(
        "cfi.pflash02,name=musicpal.flash,num-blocks=128,sector-length=0x10000,width=2,mappings=4,id0=0xBF,id1=0x236D,unlock-addr0=0x5555,unlock-addr1=0x2AAA",
    )
    .expect("spec");
    devices::create(&spec, drive).expect("device")
}

fn cfi01(mib: u64, bank: usize) -> Box<dyn FlashDevice> {
    cfi01_on(mib, bank, BlockBackend::memory(mib << 20, 0xFF, true))
}

fn cfi02() -> Box<dyn FlashDevice> {
    cfi02_on(BlockBackend::memory(8 << 20, 0xFF, true))
}

fn accesses(c: &mut Criterion) {
    const N: u64 = 1024;
    let mut g = c.benchmark_group("access");
    g.throughput(Throughput::Elements(N));
    let mut dev = cfi01(64, 0);
    g.bench_function("romd_read_w4", |b| {
        b.iter(|| {
            for i in 0..N {
                black_box(bus_read(dev.as_mut(), (i * 4) & 0x3FF_FFFC, 4));
            }
        })
    });
    g.bench_function("command_write_w4", |b| {
        b.iter(|| {
            for i in 0..N {
                bus_write(
                    dev.as_mut(),
                    0x1000,
                    4,
                    if i & 1 == 0 { 0x0070_0070 } else { 0x00FF_00FF },
                );
            }
        })
    });
    bus_write(dev.as_mut(), 0, 4, 0x0070_0070);
    g.bench_function("status_read_w4", |b| {
        b.iter(|| {
            for i in 0..N {
                black_box(bus_read(dev.as_mut(), (i * 4) & 0xFFFC, 4));
            }
        })
    });
    let mut amd = cfi02();
    // Sector erase: status reads toggle DQ6/DQ2 (device path, side effects).
    for (a, v) in [
        (0xAAA, 0xAA),
        (0x554, 0x55),
        (0xAAA, 0x80),
        (0xAAA, 0xAA),
        (0x554, 0x55),
        (0x10000, 0x30),
    ] {
        bus_write(amd.as_mut(), a, 2, v);
    }
    g.bench_function("cfi02_status_read_w2", |b| {
        b.iter(|| {
            for _ in 0..N {
                black_box(bus_read(amd.as_mut(), 0x10000, 2));
            }
        })
    });
    g.finish();
}

/// A machine of two cfi01 banks of `mib` MiB each and a cfi02, with about
/// 1 MiB touched (one word programmed in each of 256 pages of bank 0), with
/// `x-ignore-shared` (the destination opens the same drives).
fn machine(mib: u64) -> Machine {
    let mut devs = vec![cfi01(mib, 0), cfi01(mib, 1), cfi02()];
    for i in 0..256u64 {
        let a = (i * 4096) % (mib << 20);
        bus_write(devs[0].as_mut(), a, 4, 0x40);
        bus_write(devs[0].as_mut(), a, 4, i);
    }
    Machine::new("nor-5.0", devs).with_capability(Capability::XIgnoreShared)
}

fn forks_and_migrations(c: &mut Criterion) {
    let mut g = c.benchmark_group("machine");
    for mib in [1u64, 8, 64, 128] {
        let m = machine(mib);
        g.bench_with_input(BenchmarkId::new("fork", mib), &m, |b, m| {
            b.iter(|| black_box(m.fork()))
        });
        g.bench_with_input(BenchmarkId::new("save_load", mib), &m, |b, m| {
            b.iter(|| {
                let bytes = m.save();
                // The destination opens the source's drives (shared storage).
                let drive = |i: usize| m.devices[i].backend().fork();
                let devs = vec![
                    cfi01_on(mib, 0, drive(0)),
                    cfi01_on(mib, 1, drive(1)),
                    cfi02_on(drive(2)),
                ];
                let mut dst =
                    Machine::new("nor-5.0", devs).with_capability(Capability::XIgnoreShared);
                dst.load_into(&bytes).expect("load");
                black_box(dst)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, accesses, forks_and_migrations);
criterion_main!(benches);
