//! Properties and realize validation (§2, §3).

use super::*;
use crate::device::DeviceError;
use crate::props::{PropKind, PropValue};
use crate::v5::cfi02::{PROPERTIES, TYPE_NAME};

/// The realize error message, or a panic naming what was returned instead.
fn realize_err(list: &[(&str, &str)], backend: BlockBackend) -> String {
    match PflashCfi02::new(&props(list), backend) {
        Err(DeviceError::Realize { ty, message }) => {
            assert_eq!(ty, TYPE_NAME);
            message
        }
        other => panic!("expected a realize error, got {other:?}"),
    }
}

fn err(list: &[(&str, &str)]) -> String {
    realize_err(list, BlockBackend::none())
}

#[test]
fn properties_have_qemu_names_types_and_defaults() {
    let expect: &[(&str, PropKind)] = &[
        ("num-blocks", PropKind::U32),
        ("sector-length", PropKind::U32),
        ("num-blocks0", PropKind::U32),
        ("sector-length0", PropKind::U32),
        ("num-blocks1", PropKind::U32),
        ("sector-length1", PropKind::U32),
        ("num-blocks2", PropKind::U32),
        ("sector-length2", PropKind::U32),
        ("num-blocks3", PropKind::U32),
        ("sector-length3", PropKind::U32),
        ("width", PropKind::U8),
        ("mappings", PropKind::U8),
        ("big-endian", PropKind::U8),
        ("id0", PropKind::U16),
        ("id1", PropKind::U16),
        ("id2", PropKind::U16),
        ("id3", PropKind::U16),
        ("unlock-addr0", PropKind::U16),
        ("unlock-addr1", PropKind::U16),
        ("name", PropKind::Str),
    ];
    assert_eq!(PROPERTIES.len(), expect.len());
    for (def, (name, kind)) in PROPERTIES.iter().zip(expect) {
        assert_eq!((def.name, def.kind), (*name, *kind));
        let default = if *kind == PropKind::Str {
            None
        } else {
            Some(PropValue::Int(0))
        };
        assert_eq!(def.default, default, "{name}");
    }
}

#[test]
fn check1_sector_length_missing() {
    assert_eq!(
        err(&[("num-blocks", "4"), ("name", "f")]),
        "attribute \"sector-length\" not specified or zero."
    );
}

#[test]
fn check1_is_satisfied_by_sector_length0_alone() {
    assert_eq!(
        err(&[("sector-length0", "0x1000"), ("name", "f")]),
        "attribute \"num-blocks\" not specified or zero."
    );
}

#[test]
fn check2_num_blocks_missing() {
    assert_eq!(
        err(&[("sector-length", "0x1000"), ("name", "f")]),
        "attribute \"num-blocks\" not specified or zero."
    );
}

#[test]
fn check3_name_missing() {
    assert_eq!(
        err(&[("num-blocks", "4"), ("sector-length", "0x1000")]),
        "attribute \"name\" not specified."
    );
}

#[test]
fn checks_run_in_qemu_order() {
    // Nothing given: check 1 fires first.
    assert_eq!(
        err(&[]),
        "attribute \"sector-length\" not specified or zero."
    );
    // Bad region and mismatching uniform product: check 4 before check 6.
    assert_eq!(
        err(&[
            ("num-blocks", "1"),
            ("sector-length", "0x1000"),
            ("num-blocks0", "1"),
            ("sector-length0", "0x300"),
            ("name", "f"),
        ]),
        "unsupported configuration: sector length[0] per device = 300."
    );
}

#[test]
fn check4_sector_length_not_a_multiple_of_256() {
    assert_eq!(
        err(&[
            ("num-blocks0", "1"),
            ("sector-length0", "0x80"),
            ("name", "f")
        ]),
        "unsupported configuration: sector length[0] per device = 80."
    );
}

#[test]
fn check4_sector_length_of_16_mib_or_more() {
    assert_eq!(
        err(&[
            ("num-blocks0", "1"),
            ("sector-length0", "0x1000000"),
            ("name", "f")
        ]),
        "unsupported configuration: sector length[0] per device = 1000000."
    );
}

#[test]
fn check4_sector_length_not_a_power_of_two() {
    assert_eq!(
        err(&[
            ("num-blocks0", "1"),
            ("sector-length0", "0x3000"),
            ("name", "f")
        ]),
        "unsupported configuration: sector length[0] per device = 3000."
    );
}

#[test]
fn check4_zero_region_sector_length_fails_with_index() {
    assert_eq!(
        err(&[
            ("sector-length", "0x1000"),
            ("num-blocks0", "2"),
            ("sector-length0", "0x1000"),
            ("num-blocks1", "1"),
            ("name", "f"),
        ]),
        "unsupported configuration: sector length[1] per device = 0."
    );
}

#[test]
fn check5_region_not_aligned_to_its_sector_length() {
    assert_eq!(
        err(&[
            ("num-blocks0", "1"),
            ("sector-length0", "0x1000"),
            ("num-blocks1", "1"),
            ("sector-length1", "0x2000"),
            ("name", "f"),
        ]),
        "unsupported configuration: flash region 1 not correctly aligned."
    );
}

#[test]
fn check6_uniform_product_differs_from_regions() {
    assert_eq!(
        err(&[
            ("num-blocks", "2"),
            ("sector-length", "0x1000"),
            ("num-blocks0", "1"),
            ("sector-length0", "0x1000"),
            ("name", "f"),
        ]),
        "\"num-blocks\"*\"sector-length\" different from \
         \"num-blocks0\"*'sector-length0\" + ... + \"num-blocks3\"*\"sector-length3\""
    );
}

#[test]
fn check6_accepts_equal_or_zero_uniform_product() {
    let regions = [
        ("num-blocks0", "2"),
        ("sector-length0", "0x1000"),
        ("name", "f"),
    ];
    let mut equal = regions.to_vec();
    equal.extend([("num-blocks", "1"), ("sector-length", "0x2000")]);
    assert!(PflashCfi02::new(&props(&equal), BlockBackend::none()).is_ok());
    let mut zero = regions.to_vec();
    zero.push(("sector-length", "0x4000"));
    let dev = PflashCfi02::new(&props(&zero), BlockBackend::none()).unwrap();
    assert_eq!(dev.chip_len(), 0x2000);
}

#[test]
fn check7_backend_size_mismatch() {
    assert_eq!(
        realize_err(
            &[
                ("num-blocks", "128"),
                ("sector-length", "0x10000"),
                ("name", "f")
            ],
            BlockBackend::memory(4 * MIB, 0xFF, true)
        ),
        "device requires 8388608 bytes, block backend provides 4194304 bytes"
    );
}

#[test]
fn regions_stop_at_the_first_zero_count() {
    let dev = PflashCfi02::new(
        &props(&[
            ("num-blocks0", "2"),
            ("sector-length0", "0x1000"),
            ("sector-length1", "0x300"),
            ("num-blocks2", "5"),
            ("sector-length2", "0x100"),
            ("name", "f"),
        ]),
        BlockBackend::none(),
    )
    .unwrap();
    assert_eq!(dev.regions().len(), 1);
    assert_eq!(dev.chip_len(), 0x2000);
    assert_eq!(dev.total_sectors(), 2);
    assert_eq!(dev.cfi_table()[0x2C], 1);
}

#[test]
fn uniform_pair_becomes_region_zero() {
    let dev = musicpal().dev;
    assert_eq!(
        dev.regions(),
        &[crate::v5::cfi02::Region {
            blocks: 128,
            sector_len: 0x10000
        }]
    );
    assert_eq!(dev.chip_len(), 8 << 20);
    assert_eq!(dev.total_sectors(), 128);
    assert_eq!(dev.window_size(), 32 << 20);
}

#[test]
fn chip_len_is_a_32_bit_value() {
    // QEMU stores chip_len as uint32_t: 2^16 × 2^16 bytes truncate to 0.
    let dev = PflashCfi02::new(
        &props(&[
            ("num-blocks", "0x10000"),
            ("sector-length", "0x10000"),
            ("name", "f"),
        ]),
        BlockBackend::none(),
    )
    .unwrap();
    assert_eq!(dev.chip_len(), 0);
    assert_eq!(dev.window_size(), 0);
    assert_eq!(dev.cfi_table()[0x27], 32, "ctz32(0) is 32");
}

#[test]
fn property_errors_name_the_property() {
    let e = PflashCfi02::new(&props(&[("drive", "x")]), BlockBackend::none()).unwrap_err();
    assert_eq!(e.to_string(), "Property 'cfi.pflash02.drive' not found");
    let e = PflashCfi02::new(&props(&[("width", "256")]), BlockBackend::none()).unwrap_err();
    assert!(matches!(e, DeviceError::Property(_)), "{e}");
}

#[test]
fn unlock_addresses_are_masked_to_11_bits_at_realize() {
    let mut f = musicpal();
    // Configured as 0x5555/0x2AAA; the words 0x555/0x2AA work.
    f.command(0x90);
    assert_eq!(f.r(0), 0xBF);
}

#[test]
fn without_drive_the_array_is_zero_and_writable() {
    let mut f = Flash::new(&musicpal_props(8), BlockBackend::none());
    assert_eq!(f.dev.array().len(), 8 * MIB);
    assert_eq!(f.r(0x1234), 0);
    f.sector_erase(0);
    assert_eq!(f.raw(0), 0xFFFF);
}

#[test]
fn initial_array_is_the_image() {
    let mut image = crate::storage::Storage::filled(8 * MIB, 0xFF);
    image.write_le(0x100, 2, 0xBEEF);
    let mut f = Flash::new(&musicpal_props(8), BlockBackend::memory_from(image, true));
    assert_eq!(f.r(0x100), 0xBEEF);
}

#[test]
fn initial_state_is_power_on() {
    let f = musicpal();
    assert_eq!(f.st(), power_on_state());
    assert!(f.dev.romd());
    assert_eq!(f.dev.now(), 0);
    assert_eq!(f.dev.next_deadline(), None);
    assert_eq!(f.dev.ram_block_name(), "musicpal.flash");
    assert_eq!(f.dev.type_name(), "cfi.pflash02");
}
