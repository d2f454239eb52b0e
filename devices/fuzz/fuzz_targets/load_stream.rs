//! Feeds arbitrary bytes to the migration stream loader of a realistic
//! destination (two cfi01 flashes and a cfi02). The loader must never panic,
//! and a refused stream must leave the destination exactly as it was.
#![no_main]

use devices::migration::Machine;
use devices::{BlockBackend, DeviceSpec, FlashDevice};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SPECS: &[&str] = &[
    "cfi.pflash01,name=small.flash0,num-blocks=4,sector-length=0x40000,width=4,device-width=2",
    "cfi.pflash01,name=small.flash1,num-blocks=8,sector-length=0x20000,width=4",
    "cfi.pflash02,name=small.flash2,num-blocks=16,sector-length=0x10000,width=2,mappings=2,\
     unlock-addr0=0x5555,unlock-addr1=0x2AAA",
];

fn destination() -> &'static Machine {
    static DST: OnceLock<Machine> = OnceLock::new();
    DST.get_or_init(|| {
        let devices: Vec<Box<dyn FlashDevice>> = SPECS
            .iter()
            .map(|s| {
                let spec = DeviceSpec::parse(s).expect("spec");
                let len = devices::image_size(&spec).expect("size");
                devices::create(&spec, BlockBackend::memory(len, 0xFF, true)).expect("realize")
            })
            .collect();
        Machine::new("nor-5.0", devices)
    })
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

fuzz_target!(|data: &[u8]| {
    let dst = destination();
    let mut d = dst.fork();
    let before = fingerprint(&d);
    if d.load_into(data).is_err() {
        assert_eq!(
            fingerprint(&d),
            before,
            "a refused stream changed the destination"
        );
    }
});
