//! Integration tests of the v5 `cfi.pflash01` through the public device
//! interface: creation from a spec string, qtest-style accesses and what a
//! QEMU 7.2.22 destination holds after an incoming migration (spec §15).

use devices::v5::cfi01::{PflashCfi01, State};
use devices::{bus_read, bus_write, BlockBackend, DeviceSpec, DeviceState, FlashDevice};

const VIRT: &str = "cfi.pflash01,num-blocks=256,sector-length=0x40000,width=4,device-width=2,\
                    id0=0x89,id1=0x18,name=virt.flash0";
const VIRT_LEN: u64 = 64 << 20;

fn spec(s: &str) -> DeviceSpec {
    DeviceSpec::parse(s).expect("valid spec")
}

fn create(s: &str, backend: BlockBackend) -> Box<dyn FlashDevice> {
    devices::create(&spec(s), backend).expect("realizes")
}

fn virt() -> Box<dyn FlashDevice> {
    create(VIRT, BlockBackend::memory(VIRT_LEN, 0xFF, true))
}

fn rd(d: &mut Box<dyn FlashDevice>, addr: u64, width: u32) -> u64 {
    bus_read(d.as_mut(), addr, width)
}

fn wr(d: &mut Box<dyn FlashDevice>, addr: u64, width: u32, value: u64) {
    bus_write(d.as_mut(), addr, width, value)
}

fn state(d: &dyn FlashDevice) -> State {
    match d.state() {
        DeviceState::Cfi01V5(s) => s,
        other => panic!("not a v5 cfi01: {other:?}"),
    }
}

#[test]
fn created_from_a_spec_string_with_qemu_property_names() {
    let d = virt();
    assert_eq!(d.type_name(), "cfi.pflash01");
    assert_eq!(d.window_size(), VIRT_LEN);
    assert_eq!(d.ram_block_name(), "virt.flash0");
    assert_eq!(devices::image_size(&spec(VIRT)).expect("valid"), VIRT_LEN);
    assert_eq!(devices::window_size(&spec(VIRT)).expect("valid"), VIRT_LEN);
    let err = devices::create(&spec("cfi.pflash01,num-blocks=4"), BlockBackend::none())
        .expect_err("no sector length");
    assert_eq!(
        err.to_string(),
        "cfi.pflash01: attribute \"sector-length\" not specified or zero."
    );
}

#[test]
fn qtest_style_reads_are_split_into_aligned_device_accesses() {
    // §5.2, measured on arm virt in CFI mode.
    let mut d = virt();
    wr(&mut d, 0x154, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 8), 0x0052_0052_0051_0051);
    assert_eq!(rd(&mut d, 0x41, 2), 0x5151);
    assert_eq!(rd(&mut d, 0x42, 4), 0x0052_0051);
    assert_eq!(rd(&mut d, 0x41, 1), 0x51);
    assert_eq!(rd(&mut d, 0x43, 1), 0x51);
}

#[test]
fn romd_reads_of_any_size_and_alignment_come_from_the_array() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x100, 4, 0x4433_2211);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x104, 4, 0x8877_6655);
    wr(&mut d, 0, 4, 0xFF);
    assert!(d.romd());
    assert_eq!(rd(&mut d, 0x100, 8), 0x8877_6655_4433_2211);
    assert_eq!(rd(&mut d, 0x101, 4), 0x5544_3322);
    assert_eq!(rd(&mut d, 0x103, 2), 0x5544);
}

#[test]
fn qtest_style_writeq_is_two_device_writes() {
    // A writeq of a command is two 4-byte writes: 0x98 then 0x00 (ignored in CFI mode).
    let mut d = virt();
    wr(&mut d, 0x0, 8, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051);
}

#[test]
fn buffered_write_walk_through_through_the_bus() {
    // §7.6, measured.
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    wr(&mut d, 0x2000, 4, 0x1);
    wr(&mut d, 0x2000, 4, 0x1111_1111);
    wr(&mut d, 0x2004, 4, 0x2222_2222);
    let s = state(d.as_ref());
    assert_eq!((s.wcycle, s.counter), (3, u64::MAX));
    wr(&mut d, 0x2000, 4, 0xD0);
    assert_eq!(rd(&mut d, 0x2000, 4), 0x0080_0080);
    wr(&mut d, 0x2000, 4, 0xFF);
    assert_eq!(rd(&mut d, 0x2000, 8), 0x2222_2222_1111_1111);
    let image = d.backend().image().expect("drive");
    assert_eq!(image.read_le(0x2000, 8), 0x2222_2222_1111_1111);
}

// Migration (§15)

#[test]
fn migrated_device_copies_wire_fields_and_array_and_restarts_the_clock() {
    let mut d = virt();
    d.advance(1234);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x10, 4, 0xCAFE);
    let m = d.migrated();
    let (src, dst) = (state(d.as_ref()), state(m.as_ref()));
    assert_eq!(
        (dst.wcycle, dst.cmd, dst.status, dst.counter),
        (src.wcycle, src.cmd, src.status, src.counter)
    );
    assert!(!src.romd);
    assert!(dst.romd, "ROMD is not migrated");
    assert!(m.array() == d.array());
    assert_eq!(m.now(), 0);
    assert_eq!(d.now(), 1234, "the source is untouched");
    assert_eq!(m.ram_block_name(), "virt.flash0");
}

#[test]
fn after_migration_cfi_mode_reads_array_data_until_ff() {
    let mut d = virt();
    wr(&mut d, 0x154, 4, 0x98);
    assert_eq!(rd(&mut d, 0x40, 4), 0x0051_0051);
    let mut m = d.migrated();
    assert_eq!(rd(&mut m, 0x40, 4), 0xFFFF_FFFF, "erased array, not 'Q'");
    // CFI mode is wcycle 1: other writes are ignored and ROMD never goes off.
    for b in [0x90, 0x70, 0x98, 0x00] {
        wr(&mut m, 0, 4, b);
        assert_eq!(rd(&mut m, 0x40, 4), 0xFFFF_FFFF, "after {b:#x}");
        assert!(m.romd());
    }
    wr(&mut m, 0, 4, 0xFF);
    wr(&mut m, 0x154, 4, 0x98);
    assert_eq!(rd(&mut m, 0x40, 4), 0x0051_0051, "normal again");
}

#[test]
fn after_migration_id_and_status_modes_read_array_data_until_the_next_write() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x0, 4, 0x1234_5678);
    wr(&mut d, 0, 4, 0x90);
    assert_eq!(rd(&mut d, 0x0, 4), 0x0089_0089);
    let mut m = d.migrated();
    assert_eq!(rd(&mut m, 0x0, 4), 0x1234_5678, "array data in ID mode");
    wr(&mut m, 0, 4, 0x90);
    assert_eq!(
        rd(&mut m, 0x0, 4),
        0x0089_0089,
        "a write at wcycle 0 turns ROMD off"
    );

    let mut d = virt();
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x8, 4, 0x1234_5678);
    assert_eq!(rd(&mut d, 0x8, 4), 0x0080_0080);
    let mut m = d.migrated();
    assert_eq!(rd(&mut m, 0x8, 4), 0x1234_5678, "array data after program");
    wr(&mut m, 0, 4, 0x70);
    assert_eq!(rd(&mut m, 0x8, 4), 0x0080_0080);
}

#[test]
fn buffered_write_restored_at_wcycle_two_commits_and_status_reads_array() {
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 3);
    wr(&mut d, 0x2000, 4, 0x1111_1111);
    wr(&mut d, 0x2004, 4, 0x2222_2222);
    let mut m = d.migrated();
    let s = state(m.as_ref());
    assert_eq!((s.wcycle, s.cmd, s.status, s.counter), (2, 0xE8, 0x80, 1));
    assert_eq!(s.blk_offset, 0x2000);
    let bytes = s.blk_bytes.expect("subsection carried the buffer");
    assert_eq!(
        &bytes[..8],
        &[0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22]
    );
    assert_eq!(bytes.len(), 4096);
    wr(&mut m, 0x2008, 4, 0x3333_3333);
    wr(&mut m, 0x200C, 4, 0x4444_4444);
    assert_eq!(state(m.as_ref()).wcycle, 3);
    wr(&mut m, 0x2000, 4, 0xD0);
    let s = state(m.as_ref());
    assert_eq!(
        (s.wcycle, s.cmd, s.status, s.blk_offset),
        (0, 0xE8, 0x80, 0xFFFF_FFFF)
    );
    assert!(m.romd(), "no write passed through wcycle 0");
    assert_eq!(
        rd(&mut m, 0x2000, 4),
        0x1111_1111,
        "status reads as array data"
    );
    assert_eq!(m.array().read_le(0x2008, 8), 0x4444_4444_3333_3333);
    let image = m.backend().image().expect("drive");
    assert_eq!(
        image.read_le(0x2000, 4),
        0x1111_1111,
        "flushed to the drive"
    );
}

#[test]
fn buffered_write_restored_at_wcycle_three_carries_the_wrapped_counter() {
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2010, 4, 0x5555_5555);
    let mut m = d.migrated();
    let s = state(m.as_ref());
    assert_eq!((s.wcycle, s.counter), (3, u64::MAX));
    wr(&mut m, 0, 4, 0xD0);
    assert_eq!(m.array().read_le(0x2010, 4), 0x5555_5555);
}

#[test]
fn closed_buffer_is_not_migrated() {
    let mut d = virt();
    wr(&mut d, 0x2000, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 0);
    wr(&mut d, 0x2000, 4, 0x5555_5555);
    wr(&mut d, 0x2000, 4, 0xD0);
    let m = d.migrated();
    let s = state(m.as_ref());
    assert_eq!((s.blk_offset, s.blk_bytes), (0xFFFF_FFFF, None));
}

#[test]
fn a_fresh_device_has_a_zeroed_closed_buffer_of_writeblock_size() {
    let fresh = PflashCfi01::new(
        &spec(VIRT).props,
        BlockBackend::memory(VIRT_LEN, 0xFF, true),
    )
    .expect("realizes");
    assert_eq!(fresh.blk_offset(), 0xFFFF_FFFF);
    assert_eq!(fresh.blk_bytes().len(), fresh.writeblock_size() as usize);
    assert!(fresh.blk_bytes().iter().all(|&b| b == 0));
}

#[test]
fn migration_without_a_drive_keeps_the_ram_block() {
    let mut d = create(VIRT, BlockBackend::none());
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0xFF);
    let mut m = d.migrated();
    assert_eq!(
        rd(&mut m, 0, 4),
        0xFFFF_FFFF,
        "erased block, not a fresh zero array"
    );
    assert_eq!(rd(&mut m, 0x4_0000, 4), 0);
    assert!(m.backend().image().is_none());
}

const SMALL: &str = "cfi.pflash01,num-blocks=16,sector-length=4096,width=1,name=system.flash0";
const SMALL_LEN: usize = 16 * 4096;

#[test]
fn post_load_writes_the_whole_array_back_to_a_writable_drive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.img");
    std::fs::write(&path, vec![0xFFu8; SMALL_LEN]).expect("write image");
    let backend = BlockBackend::file(&path, true).expect("open image");
    let mut d = create(SMALL, backend);
    wr(&mut d, 0, 1, 0x40);
    wr(&mut d, 0x1000, 1, 0x5A);
    assert_eq!(
        std::fs::read(&path).expect("read")[0x1000],
        0x5A,
        "write-through"
    );
    // The destination's image is not shared: simulate stale contents.
    std::fs::write(&path, vec![0u8; SMALL_LEN]).expect("clobber image");
    let m = d.migrated();
    let file = std::fs::read(&path).expect("read");
    assert_eq!(file.len(), SMALL_LEN);
    let expect = |i: usize| if i == 0x1000 { 0x5A } else { 0xFF };
    assert!(file.iter().enumerate().all(|(i, &b)| b == expect(i)));
    assert!(m.backend().image().expect("drive") == m.array());
}

#[test]
fn post_load_leaves_a_read_only_drive_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.img");
    std::fs::write(&path, vec![0xFFu8; SMALL_LEN]).expect("write image");
    let backend = BlockBackend::file(&path, false).expect("open image");
    let d = create(SMALL, backend);
    std::fs::write(&path, vec![0u8; SMALL_LEN]).expect("clobber image");
    let _m = d.migrated();
    assert!(std::fs::read(&path).expect("read").iter().all(|&b| b == 0));
}

#[test]
fn fork_detaches_from_the_image_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.img");
    std::fs::write(&path, vec![0xFFu8; SMALL_LEN]).expect("write image");
    let d = create(SMALL, BlockBackend::file(&path, true).expect("open image"));
    let mut f = d.fork();
    wr(&mut f, 0, 1, 0x40);
    wr(&mut f, 0x20, 1, 0x00);
    assert_eq!(f.array().byte(0x20), 0);
    assert_eq!(d.array().byte(0x20), 0xFF);
    assert_eq!(std::fs::read(&path).expect("read")[0x20], 0xFF);
}
