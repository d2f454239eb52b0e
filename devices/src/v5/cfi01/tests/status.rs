//! The status register: which operation sets which bit, and how a status
//! read is replicated (spec §10).

use super::*;

#[test]
fn ready_bit_is_set_after_realize_and_reset() {
    let mut d = virt();
    assert_eq!(d.status, 0x80);
    wr(&mut d, 0, 4, 0x50);
    assert_eq!(d.status, 0);
    d.reset();
    assert_eq!(d.status, 0x80);
}

#[test]
fn ready_bit_is_set_by_every_operation_listed() {
    // erase setup, program, erase confirm, lock confirm, 0xE8 setup, buffer data, flush
    let ops: &[&[(u64, u64)]] = &[
        &[(0, 0x20)],
        &[(0, 0x40), (0x10, 0x1234)],
        &[(0, 0x20), (0, 0xD0)],
        &[(0, 0x60), (0, 0x01)],
        &[(0, 0xE8)],
        &[(0, 0xE8), (0x2000, 1), (0x2000, 5)],
        &[(0, 0xE8), (0x2000, 0), (0x2000, 5), (0x2000, 0xD0)],
    ];
    for seq in ops {
        let mut d = virt();
        for (i, &(addr, val)) in seq.iter().enumerate() {
            if i + 1 == seq.len() {
                d.status = 0;
            }
            wr(&mut d, addr, 4, val);
        }
        assert_eq!(d.status, 0x80, "{seq:x?}");
    }
}

#[test]
fn erase_error_bit_is_set_by_erase_while_read_only() {
    let mut d = erased_ro(VIRT);
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(d.status, 0xA0);
}

#[test]
fn program_error_bit_is_set_by_program_while_read_only() {
    let mut d = erased_ro(VIRT);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0x90);
}

#[test]
fn program_error_bit_is_set_by_buffer_data_while_read_only() {
    let mut d = erased_ro(VIRT);
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0x80);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0x90);
}

#[test]
fn program_error_bit_is_set_by_buffer_data_outside_the_window() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x1000, 4, 1);
    wr(&mut d, 0x0FFC, 4, 0);
    assert_eq!(d.status, 0x90, "below the window");
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x1000, 4, 1);
    wr(&mut d, 0x1FFE, 2, 0);
    wr(&mut d, 0x1FFC, 4, 0);
    assert_eq!(d.status, 0x80, "last bytes of the window fit");
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x1000, 4, 1);
    wr(&mut d, 0x2000, 1, 0);
    assert_eq!(d.status, 0x90, "above the window");
}

#[test]
fn program_error_bit_is_set_by_buffer_data_without_an_open_window() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0xE8);
    wr(&mut d, 0x2000, 4, 1);
    let mut s = st(&d);
    s.blk_offset = 0xFFFF_FFFF;
    s.blk_bytes = None;
    d.set_state(&s);
    wr(&mut d, 0x2000, 4, 0x1234);
    assert_eq!(d.status, 0x90);
}

#[test]
fn status_bits_are_sticky_until_clear_status() {
    let mut d = erased_ro(VIRT);
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0xFF);
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0, 4, 0);
    assert_eq!(d.status, 0xB0);
    for cmd in [0xFF, 0x00, 0x70, 0x90, 0xF0] {
        wr(&mut d, 0, 4, cmd);
        assert_eq!(d.status, 0xB0, "{cmd:#x}");
    }
    d.reset();
    assert_eq!(d.status, 0x80, "reset also sets status");
    wr(&mut d, 0, 4, 0x20);
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0, 4, 0xFF);
    assert_eq!(
        d.status, 0xA0,
        "0x50 in cycle 1 of an erase is a bad confirm"
    );
    wr(&mut d, 0, 4, 0x50);
    assert_eq!(d.status, 0);
}

#[test]
fn status_reads_zero_after_clear_status_until_an_operation() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x50);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0, "read status sets nothing");
    wr(&mut d, 0, 4, 0x40);
    wr(&mut d, 0x100, 4, 0x55);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
}

#[test]
fn status_is_replicated_per_x16_chip_on_virt() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
    assert_eq!(rd(&mut d, 0, 2), 0x0080);
    assert_eq!(rd(&mut d, 0, 1), 0x80);
}

#[test]
fn status_is_replicated_per_x8_chip_in_every_byte_lane() {
    let mut d = erased(X8_MODE);
    wr(&mut d, 0, 4, 0x70);
    assert_eq!(rd(&mut d, 0, 4), 0x8080_8080);
    assert_eq!(rd(&mut d, 2, 2), 0x8080);
    assert_eq!(rd(&mut d, 3, 1), 0x80);
}

#[test]
fn status_is_doubled_on_32_bit_legacy_reads_of_width_2_and_4_banks() {
    for cfg in [CONNEX, VERSATILE] {
        let mut d = erased(cfg);
        wr(&mut d, 0, 2, 0x70);
        assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
        assert_eq!(rd(&mut d, 0, 2), 0x0080);
        assert_eq!(rd(&mut d, 0, 1), 0x80);
    }
    let mut d = erased(X86);
    wr(&mut d, 0, 1, 0x70);
    assert_eq!(
        rd(&mut d, 0, 4),
        0x0080_0080,
        "legacy rule looks at the access width only"
    );
}

#[test]
fn status_is_returned_at_every_address() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x70);
    for addr in [0, 4, 0x40, 0x1000, 0x3FF_FFFC] {
        assert_eq!(rd(&mut d, addr, 4), 0x0080_0080, "{addr:#x}");
    }
}

#[test]
fn status_has_no_latency() {
    let mut d = virt();
    wr(&mut d, 0, 4, 0x20);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080, "ready right after erase");
    assert_eq!(d.next_deadline(), None);
    d.advance(1_000_000);
    assert_eq!(d.now(), 1_000_000);
    assert_eq!(rd(&mut d, 0, 4), 0x0080_0080);
}
