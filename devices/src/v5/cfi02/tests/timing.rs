//! Timers on the virtual clock (§11): the measured timing table and the
//! `advance` / `next_deadline` contract.

use super::*;

/// Runs the clock to absolute time `t`.
fn run_to(f: &mut Flash, t: u64) {
    let now = f.dev.now();
    f.dev.advance(t - now);
}

fn erasing(f: &Flash) -> bool {
    f.st().cmd == 0x30
}

#[test]
fn one_sector_erase_dq3_at_50us_done_at_562us() {
    let t = 1_000;
    let mut f = musicpal();
    run_to(&mut f, t);
    f.sector_erase(SECTOR);
    run_to(&mut f, t + WINDOW_NS - 1);
    assert_eq!(f.st().status & 0x08, 0);
    run_to(&mut f, t + WINDOW_NS);
    assert_eq!(f.st().status & 0x08, 0x08);
    assert_eq!(f.dev.next_deadline(), Some(t + ONE_SECTOR_DONE_NS));
    run_to(&mut f, t + ONE_SECTOR_DONE_NS - 1);
    assert!(erasing(&f));
    run_to(&mut f, t + ONE_SECTOR_DONE_NS);
    assert!(!erasing(&f));
    assert!(f.dev.romd());
    assert_eq!(f.r(SECTOR), 0xFFFF);
}

#[test]
fn two_sectors_queued_take_two_erase_times_after_the_window() {
    let mut f = musicpal();
    f.sector_erase(0);
    run_to(&mut f, 30_000);
    f.w(SECTOR, 0x30);
    let last = 30_000;
    let done = last + WINDOW_NS + 2 * PER_SECTOR_NS;
    run_to(&mut f, done - 1);
    assert!(erasing(&f));
    run_to(&mut f, done);
    assert!(!erasing(&f));
    assert_eq!(f.st().erase_sectors, Vec::<u32>::new());
    assert_eq!(f.st().sectors_to_erase, 0);
}

#[test]
fn chip_erase_status_until_4096_ms() {
    let t = 5;
    let mut f = musicpal();
    run_to(&mut f, t);
    f.chip_erase();
    run_to(&mut f, t + CHIP_ERASE_NS - 1);
    let status = f.r(0);
    assert_eq!(status & 0x44, 0x44, "status at t + 4 095 999 999");
    run_to(&mut f, t + CHIP_ERASE_NS);
    assert_eq!(f.r(0), 0xFFFF);
    assert_eq!(f.st().status & 0x80, 0x80);
}

#[test]
fn reset_in_the_window_leaks_the_queued_sector_into_the_next_erase() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.dev.reset();
    f.step();
    assert_eq!(f.dev.now(), WINDOW_NS);
    let s = f.st();
    assert_eq!(s.status & 0x80, 0x80, "DQ7 toggled");
    assert!(s.rom_mode);
    assert_eq!(s.sectors_to_erase, 1, "count stays");
    assert_eq!(
        f.dev.next_deadline(),
        None,
        "the window timer does not re-arm"
    );
    let t = 100_000;
    run_to(&mut f, t);
    f.sector_erase(2 * SECTOR);
    run_to(&mut f, t + WINDOW_NS);
    assert_eq!(
        f.dev.next_deadline(),
        Some(t + WINDOW_NS + 2 * PER_SECTOR_NS),
        "2 × 512 µs"
    );
}

#[test]
fn f0_in_the_window_has_the_same_effect_as_a_device_reset() {
    let mut a = musicpal();
    a.sector_erase(0);
    a.dev.reset();
    a.step();
    let mut b = musicpal();
    b.sector_erase(0);
    b.w(0, 0xF0);
    b.step();
    assert_eq!(a.st(), b.st());
}

#[test]
fn reset_while_erasing_then_the_next_erase_completes_at_its_window() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.step();
    f.dev.reset();
    f.step();
    assert_eq!(f.dev.now(), ONE_SECTOR_DONE_NS, "the stale timer completes");
    let s = f.st();
    assert!(s.rom_mode);
    assert_eq!(s.status & 0x08, 0x08, "DQ3 left behind");
    assert_eq!(s.sectors_to_erase, 1);
    let t = 1_000_000;
    run_to(&mut f, t);
    f.sector_erase(SECTOR);
    assert_eq!(f.r(SECTOR) & 0x08, 0x08, "DQ3 = 1 already in the window");
    run_to(&mut f, t + WINDOW_NS);
    let s = f.st();
    assert_eq!((s.cmd, s.wcycle), (0, 0), "done at the 50 µs deadline");
    assert_eq!(s.status & 0x08, 0);
    assert_eq!(s.sectors_to_erase, 0);
    assert_eq!(s.erase_sectors, Vec::<u32>::new());
    assert_eq!(f.dev.next_deadline(), None);
}

#[test]
fn suspend_right_after_dq3_then_resume_completes_512us_later() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.step();
    f.w(0, 0xB0);
    let t = 2_000_000;
    run_to(&mut f, t);
    f.w(0, 0x30);
    assert_eq!(f.dev.next_deadline(), Some(t + PER_SECTOR_NS));
    f.step();
    assert!(!erasing(&f));
}

#[test]
fn resume_after_suspend_in_the_window_skips_the_window() {
    let mut f = musicpal();
    f.sector_erase(0);
    run_to(&mut f, 10_000);
    f.w(0, 0xB0);
    run_to(&mut f, 40_000);
    f.w(0, 0x30);
    assert_eq!(f.dev.next_deadline(), Some(40_000 + PER_SECTOR_NS));
    f.step();
    assert!(!erasing(&f));
}

#[test]
fn advance_fires_chained_deadlines_at_their_exact_times() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.dev.advance(ONE_SECTOR_DONE_NS - 1);
    assert_eq!(f.dev.next_deadline(), Some(ONE_SECTOR_DONE_NS));
    assert!(erasing(&f));
    let mut g = musicpal();
    g.sector_erase(0);
    g.dev.advance(ONE_SECTOR_DONE_NS);
    assert!(!erasing(&g));
    assert_eq!(g.dev.now(), ONE_SECTOR_DONE_NS);
    let mut h = musicpal();
    h.sector_erase(0);
    h.dev.advance(10 * ONE_SECTOR_DONE_NS);
    assert!(!erasing(&h));
    assert_eq!(h.dev.now(), 10 * ONE_SECTOR_DONE_NS);
}

#[test]
fn advance_zero_fires_nothing_and_step_without_deadline_stays() {
    let mut f = musicpal();
    f.step();
    assert_eq!(f.dev.now(), 0);
    f.sector_erase(0);
    f.dev.advance(0);
    assert_eq!(f.dev.next_deadline(), Some(WINDOW_NS));
    f.step();
    f.dev.advance(0);
    assert_eq!(f.dev.next_deadline(), Some(ONE_SECTOR_DONE_NS));
}

#[test]
fn a_new_sector_erase_replaces_the_deadline_and_chip_erase_too() {
    let mut f = musicpal();
    f.sector_erase(0);
    f.dev.reset();
    run_to(&mut f, 10_000);
    f.chip_erase();
    assert_eq!(f.dev.next_deadline(), Some(10_000 + CHIP_ERASE_NS));
}

#[test]
fn deadlines_are_always_strictly_in_the_future() {
    let mut f = musicpal();
    let check = |f: &mut Flash| {
        if let Some(d) = f.dev.next_deadline() {
            assert!(d > f.dev.now());
        }
    };
    f.sector_erase(0);
    check(&mut f);
    f.step();
    check(&mut f);
    f.w(0, 0xB0);
    f.w(0, 0x30);
    check(&mut f);
    f.w(0, 0xB0);
    f.dev.advance(1);
    f.w(0, 0x30);
    check(&mut f);
    f.step();
    f.chip_erase();
    check(&mut f);
}
