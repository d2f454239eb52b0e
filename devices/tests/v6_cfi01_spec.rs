//! `parallel-nor-cfi01-flash` against the measured facts of
//! shared/spec/pflash-cfi01.md (section numbers refer to it).

use devices::v6::cfi::CommonFlashMemoryInterface;
use devices::v6::cfi01::{IntelCommand, ParallelNorCfi01Flash, State, WriteBuffer};
use devices::{bus_read, bus_write, BlockBackend, DeviceError, DeviceSpec, FlashDevice};

fn realize(spec: &str, backend: BlockBackend) -> Result<ParallelNorCfi01Flash, DeviceError> {
    let spec = DeviceSpec::parse(&format!("parallel-nor-cfi01-flash,{spec}")).unwrap();
    ParallelNorCfi01Flash::new(&spec.props, backend)
}

/// arm virt flash0: 256 × 256 KiB, two x16 chips in a 32-bit bank.
const VIRT: &str = "num-blocks=256,sector-length=0x40000,width=4,device-width=2,\
                    id0=0x89,id1=0x18,name=virt.flash0";
/// versatilepb: the same size, legacy addressing (no device-width).
const VERSATILE: &str = "num-blocks=256,sector-length=0x40000,width=4,id0=0x89,id1=0x18,\
                         name=versatile.flash";
/// connex: 128 × 128 KiB, 16-bit bank, legacy.
const CONNEX: &str = "num-blocks=128,sector-length=0x20000,width=2,name=connex.rom";

fn erased(spec: &str) -> ParallelNorCfi01Flash {
    let spec_full = DeviceSpec::parse(&format!("parallel-nor-cfi01-flash,{spec}")).unwrap();
    let len = devices::image_size(&spec_full).unwrap();
    realize(spec, BlockBackend::memory(len, 0xFF, true)).unwrap()
}

fn rd(d: &mut ParallelNorCfi01Flash, addr: u64, w: u32) -> u64 {
    bus_read(d, addr, w)
}

fn wr(d: &mut ParallelNorCfi01Flash, addr: u64, w: u32, v: u64) {
    bus_write(d, addr, w, v)
}

#[test]
fn virt_cfi_reads_are_replicated_per_chip() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x154, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051);
    assert_eq!(rd(&mut d, 0x44, 4), 0x0052_0052);
    assert_eq!(rd(&mut d, 0x48, 4), 0x0059_0059);
    assert_eq!(rd(&mut d, 0x40, 2), 0x0051);
    assert_eq!(rd(&mut d, 0x42, 2), 0x0051);
    assert_eq!(rd(&mut d, 0x40, 1), 0x51);
    // §5.2: low lanes whatever the sub-word address; qtest splits.
    assert_eq!(rd(&mut d, 0x41, 1), 0x51);
    assert_eq!(rd(&mut d, 0x43, 1), 0x51);
    assert_eq!(rd(&mut d, 0x40, 8), 0x0052_0052_0051_0051);
    assert_eq!(rd(&mut d, 0x41, 2), 0x5151);
    assert_eq!(rd(&mut d, 0x42, 4), 0x0052_0051);
    // No wrap in device-width mode: entries ≥ 0x52 read 0.
    assert_eq!(rd(&mut d, 0x148, 4), 0);
    assert_eq!(rd(&mut d, 0x4 * 0x3F, 4), 0x0001_0001);
    // Measured table bytes from 0x10, one chip's view.
    let expect = [
        0x51, 0x52, 0x59, 0x01, 0x00, 0x31, 0x00, 0x00, 0x00, 0x00, 0x00, 0x45, 0x55, 0x00, 0x00,
        0x07, 0x07, 0x0a, 0x00, 0x04, 0x04, 0x04, 0x00, 0x19, 0x02, 0x00, 0x0b, 0x00, 0x01, 0xff,
        0x00, 0x00, 0x02, 0x50, 0x52, 0x49, 0x31, 0x30, 0x00,
    ];
    for (i, e) in expect.iter().enumerate() {
        let n = 0x10 + i as u64;
        assert_eq!(rd(&mut d, 4 * n, 4) & 0xFFFF, *e, "CFI entry {n:#x}");
    }
    assert_eq!(d.cfi_table().len(), 0x52);
    assert_eq!(d.writeblock_size(), 4096);
    // CFI mode is only left by 0xFF.
    for b in [0x00, 0x50, 0x70, 0x90, 0xF0] {
        wr(&mut d, 0, 4, b);
        assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051, "{b:#x} left CFI mode");
    }
    wr(&mut d, 0, 4, 0xFF);
    assert!(d.romd());
    assert_eq!(rd(&mut d, 0x40, 4), 0xFFFF_FFFF);
}

#[test]
fn virt_identifier_and_status() {
    let mut d = erased(VIRT);
    wr(&mut d, 0, 4, 0x90);
    assert!(!d.romd());
    assert_eq!(rd(&mut d, 0, 4), 0x0089_0089);
    assert_eq!(rd(&mut d, 4, 4), 0x0018_0018);
    assert_eq!(rd(&mut d, 8, 4), 0);
    // ID repeats every 1 KiB.
    assert_eq!(rd(&mut d, 0x400, 4), 0x0089_0089);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0x1234, 4), 0x0080_0080);
    assert_eq!(rd(&mut d, 0, 2), 0x0080);
    assert_eq!(rd(&mut d, 0, 1), 0x80);
}

#[test]
fn virt_buffered_write_walk_through() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x2000, 4, 0xE8);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    wr(&mut d, 0x2000, 4, 0x1);
    wr(&mut d, 0x2000, 4, 0x1111_1111);
    wr(&mut d, 0x2004, 4, 0x2222_2222);
    let s = d.state();
    assert_eq!((s.wcycle, s.counter), (3, u64::MAX));
    assert_eq!(s.write_buffer.as_ref().unwrap().offset, 0x2000);
    assert_eq!(
        d.array().read_le(0x2000, 4),
        0xFFFF_FFFF,
        "staged, not written"
    );
    wr(&mut d, 0x2000, 4, 0xD0);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    assert_eq!(d.array().read_le(0x2000, 8), 0x2222_2222_1111_1111);
    assert_eq!(
        d.backend().image().unwrap().read_le(0x2000, 8),
        0x2222_2222_1111_1111
    );
    assert_eq!(d.state().cmd, IntelCommand::WriteToBuffer);
    assert_eq!(d.state().write_buffer, None);
}

#[test]
fn virt_buffered_write_outside_the_window_aborts() {
    let mut d = erased(VIRT);
    // Count at 0x0, data at 0x2000: outside [0x0, 0x1000).
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0x2000, 4, 0xAABB_CCDD);
    assert_eq!(rd(&mut d, 0, 4), 0x0090_0090);
    wr(&mut d, 0x2000, 4, 0xD0);
    assert!(d.romd(), "a failed confirm goes to read array");
    assert_eq!(d.array().read_le(0x2000, 4), 0xFFFF_FFFF);
    // SR.4 is sticky: the next, correct buffered write aborts too (§14.9).
    wr(&mut d, 0x3000, 4, 0xE8);
    wr(&mut d, 0x3000, 4, 0);
    wr(&mut d, 0x3000, 4, 0xAABB_CCDD);
    wr(&mut d, 0x3000, 4, 0xD0);
    assert_eq!(d.array().read_le(0x3000, 4), 0xFFFF_FFFF);
    // After 0x50 it works: count 0 = one unit.
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0x3000, 4, 0xE8);
    wr(&mut d, 0x3000, 4, 0);
    wr(&mut d, 0x3000, 4, 0xAABB_CCDD);
    wr(&mut d, 0x3000, 4, 0xD0);
    assert_eq!(d.array().read_le(0x3000, 4), 0xAABB_CCDD);
    // Data crossing the window end aborts the whole write.
    wr(&mut d, 0x5000, 4, 0xE8);
    wr(&mut d, 0x5000, 4, 1);
    wr(&mut d, 0x5FFC, 4, 0x1234_5678);
    wr(&mut d, 0x6000, 4, 0x1234_5678);
    wr(&mut d, 0x5000, 4, 0xD0);
    assert_eq!(d.array().read_le(0x5FFC, 8), u64::MAX);
}

#[test]
fn count_is_masked_to_the_chip_width() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0xFFFF_0001);
    assert_eq!(d.state().counter, 1);
    wr(&mut d, 0x2000, 4, 1);
    assert_eq!(d.state().wcycle, 2);
    wr(&mut d, 0x2004, 4, 2);
    assert_eq!(d.state().wcycle, 3);
}

#[test]
fn program_overwrites_and_keeps_status_mode() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x100, 4, 0x40);
    wr(&mut d, 0x100, 4, 0x1234_5678);
    assert_eq!(rd(&mut d, 0x100, 4), 0x0080_0080, "status after program");
    wr(&mut d, 0x100, 4, 0x10);
    wr(&mut d, 0x100, 4, 0x0000_FFFF);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x100, 4), 0x0000_FFFF);
}

#[test]
fn clear_status_clears_ready_too() {
    let mut d = erased(VIRT);
    wr(&mut d, 0, 4, 0x50);
    assert!(d.romd());
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0);
    wr(&mut d, 0, 4, 0x60);
    wr(&mut d, 0, 4, 0x01);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
}

#[test]
fn erase_happens_on_the_setup_cycle() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x40000, 4, 0x40);
    wr(&mut d, 0x40010, 4, 0);
    wr(&mut d, 0x40000, 4, 0x20);
    assert_eq!(d.array().read_le(0x40010, 4), 0xFFFF_FFFF);
    assert_eq!(d.state().wcycle, 1);
    // A bad confirm goes to read array without an error bit.
    wr(&mut d, 0x40000, 4, 0x33);
    assert!(d.romd());
    assert_eq!(d.state().status, 0x80);
}

#[test]
fn reset_keeps_the_counter() {
    let mut d = erased(VIRT);
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2000, 4, 5);
    assert_eq!(d.state().counter, u64::MAX);
    d.reset();
    let s = d.state();
    assert_eq!(
        s,
        State {
            wcycle: 0,
            cmd: IntelCommand::ReadArray,
            status: 0x80,
            counter: u64::MAX,
            romd: true,
            write_buffer: None,
        }
    );
}

#[test]
fn old_multiple_chip_handling_reports_the_bank() {
    let d = erased(&format!("{VIRT},old-multiple-chip-handling=on"));
    let t = d.cfi_table();
    assert_eq!((t[0x27], t[0x2A]), (0x19, 0x0B));
    assert_eq!(&t[0x2D..0x31], &[0x7F, 0x00, 0x00, 0x04]);
    assert_eq!(d.writeblock_size(), 2048);
}

#[test]
fn versatile_legacy_answers() {
    let mut d = erased(VERSATILE);
    let t = d.cfi_table();
    assert_eq!(t[0x27], 0x1A);
    assert_eq!(&t[0x2D..0x31], &[0xFF, 0x00, 0x00, 0x04]);
    assert_eq!(d.writeblock_size(), 2048);
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x51);
    assert_eq!(rd(&mut d, 0x140, 4), 0x51, "wraps every 256 bytes");
    wr(&mut d, 0, 4, 0xFF);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0, 4), 0x8918);
    assert_eq!(rd(&mut d, 0, 2), 0x8918);
    assert_eq!(rd(&mut d, 0, 1), 0x18);
    assert_eq!(rd(&mut d, 4, 4), 0);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
}

#[test]
fn connex_legacy_answers() {
    let mut d = erased(CONNEX);
    assert_eq!(d.cfi_table()[0x27], 0x18);
    wr(&mut d, 0, 2, 0x98);
    assert_eq!(rd(&mut d, 0x120, 2), 0x51);
    assert_eq!(rd(&mut d, 0x20, 4), 0x51);
    assert_eq!(rd(&mut d, 0xA4, 2), 0, "entries 0x52.. read 0");
    wr(&mut d, 0, 2, 0xFF);
    wr(&mut d, 0, 2, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
    assert_eq!(rd(&mut d, 0, 2), 0x0080);
}

#[test]
fn x8_mode_of_a_wide_chip_repeats_the_byte() {
    let mut d = erased(&format!("{VERSATILE},device-width=1,max-device-width=2"));
    wr(&mut d, 0, 4, 0x98);
    assert_eq!(rd(&mut d, 0x80, 4), 0x5151_5151);
}

#[test]
fn pc_style_odd_size() {
    // 3 653 632 = 223 × 2^14 bytes: ctz, not log2.
    let d = erased("num-blocks=892,sector-length=4096,width=1,name=system.flash0");
    let t = d.cfi_table();
    assert_eq!((t[0x27], t[0x2A]), (14, 0x08));
    assert_eq!(&t[0x2D..0x31], &[0x7B, 0x03, 0x10, 0x00]);
    assert_eq!(d.writeblock_size(), 256);
}

#[test]
fn big_endian_programs_in_bus_byte_order() {
    let mut d = erased(&format!("{VIRT},big-endian=on"));
    wr(&mut d, 0x100, 4, 0x40);
    wr(&mut d, 0x100, 4, 0x1122_3344);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(d.array().read_be(0x100, 4), 0x1122_3344);
    // ROMD reads copy bytes (little-endian on the bus).
    assert_eq!(rd(&mut d, 0x100, 4), 0x4433_2211);
}

#[test]
fn secure_device_ignores_non_secure_writes() {
    let mut d = erased(&format!("{VIRT},secure=on"));
    wr(&mut d, 0, 4, 0x98);
    assert!(d.romd());
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(rd(&mut d, 0, 4), 0xFFFF_FFFF);
}

#[test]
fn read_only_sets_error_bits_and_keeps_the_array() {
    let spec = DeviceSpec::parse(&format!("parallel-nor-cfi01-flash,{VIRT}")).unwrap();
    let len = devices::image_size(&spec).unwrap();
    let mut d = realize(VIRT, BlockBackend::memory(len, 0x5A, false)).unwrap();
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(rd(&mut d, 0, 4), 0x00A0_00A0);
    wr(&mut d, 0, 4, 0xD0);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0, 4, 0);
    assert_eq!(rd(&mut d, 0, 4), 0x00B0_00B0);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0);
    wr(&mut d, 0, 4, 0xD0);
    assert!(d.romd(), "aborted");
    assert_eq!(rd(&mut d, 0, 4), 0x5A5A_5A5A);
}

#[test]
fn no_drive_means_zeroed_writable_ram() {
    let mut d = realize(VIRT, BlockBackend::none()).unwrap();
    assert_eq!(rd(&mut d, 0x10, 4), 0);
    wr(&mut d, 0x10, 4, 0x40);
    wr(&mut d, 0x10, 4, 0xCAFE);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x10, 4), 0xCAFE);
}

#[test]
fn realize_errors() {
    let err = |s: &str| realize(s, BlockBackend::none()).unwrap_err().to_string();
    assert_eq!(
        err("num-blocks=1,name=x"),
        "parallel-nor-cfi01-flash: attribute \"sector-length\" not specified or zero."
    );
    assert_eq!(
        err("sector-length=4096,name=x"),
        "parallel-nor-cfi01-flash: attribute \"num-blocks\" not specified or zero."
    );
    assert_eq!(
        err("sector-length=4096,num-blocks=1"),
        "parallel-nor-cfi01-flash: attribute \"name\" not specified."
    );
    let e = realize(
        "sector-length=4096,num-blocks=2,name=x",
        BlockBackend::memory(4096, 0xFF, true),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "device requires 8192 bytes, block backend provides 4096 bytes"
    );
}

#[test]
fn restored_state_continues_identically() {
    let mut a = erased(VIRT);
    wr(&mut a, 0x2000, 4, 0xE8);
    wr(&mut a, 0x2000, 4, 1);
    wr(&mut a, 0x2000, 4, 0x1111_1111);
    let mut b = erased(VIRT);
    b.load_ram_block(a.array().clone());
    b.set_state(&a.state());
    assert_eq!(b.state(), a.state());
    for d in [&mut a, &mut b] {
        wr(d, 0x2004, 4, 0x2222_2222);
        wr(d, 0x2000, 4, 0xD0);
    }
    assert_eq!(a.state(), b.state());
    assert_eq!(a.array(), b.array());
    assert_eq!(b.array().read_le(0x2000, 8), 0x2222_2222_1111_1111);
    let buf = WriteBuffer {
        offset: 0,
        bytes: vec![0; 4096],
    };
    let json = serde_json::to_string(&State {
        write_buffer: Some(buf),
        ..a.state()
    })
    .unwrap();
    assert!(json.contains("\"cmd\":232"), "{json}");
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back.cmd, IntelCommand::WriteToBuffer);
}
