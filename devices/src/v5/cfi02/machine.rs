//! The command state machine: device reads (spec §9), device writes (§7),
//! the erase timer (§11) and the helpers QEMU 7.2.22 shares between them.
//!
//! The structure follows `pflash_read`, `pflash_write` and `pflash_timer`
//! of `hw/block/pflash_cfi02.c`, with QEMU's `goto` targets made explicit
//! as [`Step`] values.

use super::protocol::{
    cmd, wcycle, BDRV_SECTOR_SIZE, INDEX_OFFSET_MASK, LAZY_ROMD_THRESHOLD, SCALE_MS, SCALE_US,
};
use super::PflashCfi02;
use crate::command_set::query::{TYPICAL_BLOCK_ERASE_OFFSET, TYPICAL_CHIP_ERASE_OFFSET};
use crate::command_set::{amd, ERASED_BYTE};

/// What a write does after its cycle's rule ran (QEMU's exits of `pflash_write`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `pfl->wcycle++`: the normal advance.
    Advance,
    /// `goto reset_flash`: RESET (bypass cleared, read array, ROMD unchanged).
    Reset,
    /// `goto do_bypass`: BYPASS (back to `wcycle 2`, `cmd 0`).
    Bypass,
    /// `return`: the rule already set the state.
    Done,
}

impl PflashCfi02 {
    /// `off &= chip_len - 1` (§4). QEMU 7.2.22 behaviour: only correct for a
    /// power-of-two `chip_len` (§14.13).
    fn mask_offset(&self, off: u64) -> u64 {
        off & self.config.chip_len.wrapping_sub(1) as u64
    }

    fn shift(&self) -> u32 {
        super::protocol::width_shift(self.config.width)
    }

    fn suspended(&self) -> bool {
        self.regs.erase_time_remaining > 0
    }

    /// True if `off`'s sector is set in the erase bitmap (`pflash_sector_is_erasing`).
    fn sector_is_erasing(&self, off: u64) -> bool {
        self.config
            .sector_info(off)
            .is_some_and(|s| self.regs.erase_map.contains(&s.num))
    }

    fn set_dq7(&mut self, value: u8) {
        self.regs.status = (self.regs.status & !amd::DQ7) | (value & amd::DQ7);
    }

    /// QEMU's `pflash_reset_state_machine`: `cmd = 0`, `wcycle = 0`, nothing
    /// else. QEMU 7.2.22 behaviour: ROMD stays off after a program, a reset
    /// or a mode exit until a timer completion or the lazy return (§14.11).
    pub(super) fn reset_state_machine(&mut self) {
        self.regs.cmd = cmd::READ_ARRAY;
        self.regs.wcycle = wcycle::IDLE;
    }

    /// QEMU's `pflash_mode_read_array`: reset the state machine and turn ROMD on.
    fn mode_read_array(&mut self) {
        self.reset_state_machine();
        self.regs.rom_mode = true;
    }

    /// RESET on the write path: also leaves unlock bypass (§7).
    fn reset_flash(&mut self) {
        self.regs.bypass = false;
        self.reset_state_machine();
    }

    /// BYPASS: back to the command cycle of unlock bypass (§7).
    fn do_bypass(&mut self) {
        self.regs.wcycle = wcycle::UNLOCKED;
        self.regs.cmd = cmd::READ_ARRAY;
    }

    /// Arms the timer `delay` ns from now, replacing any pending deadline.
    /// Every reachable delay is positive; the clamp keeps deadlines strictly
    /// in the future even for an inconsistent restored state.
    fn arm_timer(&mut self, delay: u64) {
        debug_assert!(delay > 0, "cfi02 timer armed with a zero delay");
        self.timer
            .arm(self.clock.now().saturating_add(delay.max(1)));
    }

    /// Typical erase time of the queued sectors: 2^cfi[0x21] µs each.
    /// QEMU 7.2.22 behaviour: CFI documents ms, the model uses µs (§14.2).
    fn sector_erase_time(&self) -> u64 {
        (1u64 << self.cfi[TYPICAL_BLOCK_ERASE_OFFSET])
            .wrapping_mul(self.regs.sectors_to_erase as u64)
            .wrapping_mul(SCALE_US)
    }

    fn chip_erase_time(&self) -> u64 {
        (1u64 << self.cfi[TYPICAL_CHIP_ERASE_OFFSET]).wrapping_mul(SCALE_MS)
    }

    /// `size` bytes of array data at `off` in the configured byte order.
    /// Bytes beyond the array (possible only for a chip length that is not
    /// a multiple of the access size) read as 0.
    fn load(&self, off: u64, size: u32) -> u64 {
        let n = size as usize;
        let mut buf = [0u8; 8];
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let a = off + i as u64;
            if a < self.array.len() {
                *b = self.array.byte(a);
            }
        }
        if self.config.big_endian {
            buf[..n].iter().fold(0, |acc, b| acc << 8 | *b as u64)
        } else {
            buf[..n].iter().rev().fold(0, |acc, b| acc << 8 | *b as u64)
        }
    }

    /// Stores `size` bytes of `value` at `off` in the configured byte order,
    /// dropping bytes beyond the array.
    fn store(&mut self, off: u64, size: u32, value: u64) {
        let n = size as usize;
        let le = value.to_le_bytes();
        for i in 0..n {
            let a = off + i as u64;
            if a < self.array.len() {
                let b = if self.config.big_endian {
                    le[n - 1 - i]
                } else {
                    le[i]
                };
                self.array.write(a, &[b]);
            }
        }
    }

    /// QEMU's `pflash_update`: writes `[off, off+len)`, widened to 512-byte
    /// blocks, back to the drive.
    ///
    /// QEMU 7.2.22 behaviour: the arithmetic is done in `int`, and the block
    /// layer refuses (EIO, only logged) a request that is negative or runs
    /// past the end of the image. Then nothing is written back at all, e.g.
    /// for the last block of a chip whose length is not a multiple of 512.
    fn update(&mut self, off: u64, len: u64) {
        if !self.backend.has_drive() {
            return;
        }
        let sector = BDRV_SECTOR_SIZE;
        let start = (off as u32 & !(sector - 1)) as i32;
        let end = (off as i32).wrapping_add(len as i32);
        let end = ((end as u32).wrapping_add(sector - 1) & !(sector - 1)) as i32;
        let (start, bytes) = (start as i64, end.wrapping_sub(start) as i64);
        let image_len = self.config.chip_len as i64;
        if bytes < 0 || start < 0 || start > image_len || image_len - start < bytes {
            return;
        }
        self.backend
            .write_back(&self.array, start as u64, bytes as u64);
    }

    /// Array data, or the status of an erase-suspended sector (§9, `cmd` 0x00/0x80).
    fn read_array(&mut self, off: u64, size: u32) -> u64 {
        if self.suspended() && self.sector_is_erasing(off) {
            // Toggle DQ2 but not DQ6.
            self.regs.status ^= amd::DQ2;
            return self.regs.status as u64;
        }
        self.load(off, size)
    }

    /// Autoselect answers (§9, `cmd` 0x90).
    fn read_autoselect(&mut self, off: u64, idx: u64, size: u32) -> u64 {
        let ids = self.config.ids;
        match idx {
            // QEMU 7.2.22 behaviour: ids are returned whole, not replicated (§14.12).
            amd::ID_INDEX_MANUFACTURER => ids[0] as u64,
            amd::ID_INDEX_DEVICE => ids[1] as u64,
            amd::ID_INDEX_PROTECTION => amd::SECTORS_UNPROTECTED,
            amd::ID_INDEX_EXTENDED2 if ids[2] != amd::ID_NOT_PRESENT => ids[2] as u64,
            amd::ID_INDEX_EXTENDED3 if ids[3] != amd::ID_NOT_PRESENT => ids[3] as u64,
            // QEMU 7.2.22 behaviour: unlisted indices read array data (§14.12).
            _ => self.load(off, size),
        }
    }

    /// One read through the device (QEMU's `pflash_read`, §9). `off` is the
    /// offset inside the ROM device.
    pub(super) fn device_read(&mut self, off: u64, size: u32) -> u64 {
        // Lazy return to ROMD (§6): counted only in wcycle 0 with ROMD off.
        // QEMU 7.2.22 behaviour: the 43rd such read is still served here, so
        // erase-suspend status shows for at most 43 reads (§14.11).
        if !self.regs.rom_mode && self.regs.wcycle == wcycle::IDLE {
            self.regs.read_counter = self.regs.read_counter.saturating_add(1);
            if self.regs.read_counter > LAZY_ROMD_THRESHOLD {
                self.mode_read_array();
            }
        }
        let off = self.mask_offset(off);
        let idx = (off & INDEX_OFFSET_MASK) >> self.shift();
        match self.regs.cmd {
            // Reads are allowed during the erase unlock sequence.
            cmd::READ_ARRAY | cmd::ERASE => self.read_array(off, size),
            cmd::AUTOSELECT => self.read_autoselect(off, idx, size),
            cmd::CHIP_ERASE | cmd::SECTOR_ERASE => {
                // Every status read mutates status (§14.3).
                self.regs.status ^= amd::DQ2;
                self.regs.status ^= amd::DQ6;
                self.regs.status as u64
            }
            cmd::PROGRAM => {
                self.regs.status ^= amd::DQ6;
                self.regs.status as u64
            }
            // Indices beyond the table read 0.
            cmd::CFI_QUERY => self.cfi.get(idx as usize).map_or(0, |b| *b as u64),
            _ => {
                // Unknown command state: reset and read as array.
                self.reset_state_machine();
                self.read_array(off, size)
            }
        }
    }

    /// One write through the device (QEMU's `pflash_write`, §7). `off` is
    /// the offset inside the ROM device; the command byte is the low byte.
    pub(super) fn device_write(&mut self, off: u64, size: u32, value: u64) {
        let b = value as u8;
        // §7.1 pre-check, before address masking. QEMU 7.2.22 behaviour:
        // 0xF0 during a pending program is data (§14.9); during chip erase
        // and sector erase it falls through to the wcycle-6 rules.
        if self.regs.cmd != cmd::PROGRAM
            && b == amd::RESET
            && self.regs.cmd != cmd::CHIP_ERASE
            && self.regs.cmd != cmd::SECTOR_ERASE
        {
            if self.regs.wcycle == wcycle::AUTOSELECT_CFI {
                // Back to autoselect (§14.10).
                self.regs.wcycle = wcycle::COMMAND;
                self.regs.cmd = cmd::AUTOSELECT;
            } else {
                self.reset_flash();
            }
            return;
        }
        let off = self.mask_offset(off);
        // QEMU 7.2.22 behaviour: only 11 bits of the word address are
        // compared (§14.7).
        let boff = (off >> self.shift()) & u64::from(amd::COMMAND_ADDR_MASK);
        let step = match self.regs.wcycle {
            wcycle::IDLE => {
                // §6: any write reaching wcycle 0 switches to I/O mode.
                self.regs.rom_mode = false;
                self.regs.read_counter = 0;
                self.unlock0_rules(boff, b)
            }
            wcycle::UNLOCK1_SEEN => self.unlock1_rule(boff, b),
            wcycle::UNLOCKED => self.command_cycle(boff, b),
            wcycle::COMMAND => self.command_data_cycle(off, boff, size, value),
            wcycle::ERASE_UNLOCK1 => match self.regs.cmd {
                // Unreachable: a program completes at wcycle 3.
                cmd::PROGRAM => Step::Done,
                cmd::ERASE => self.unlock1_rule(boff, b),
                _ => Step::Reset,
            },
            wcycle::ERASE_UNLOCKED => self.erase_command_cycle(off, boff, b),
            wcycle::ERASING => self.erasing_cycle(off, b),
            // QEMU 7.2.22 behaviour: any write leaves CFI mode (§14.10).
            // Any other wcycle value is unreachable and resets too.
            _ => Step::Reset,
        };
        match step {
            Step::Advance => self.regs.wcycle += 1,
            Step::Reset => self.reset_flash(),
            Step::Bypass => self.do_bypass(),
            Step::Done => {}
        }
    }

    /// The U0 rules (QEMU's `check_unlock0`, §7.2): used at wcycle 0 and at
    /// wcycle 3 of the erase sequence.
    fn unlock0_rules(&mut self, boff: u64, b: u8) -> Step {
        if boff == u64::from(amd::CFI_QUERY_ADDR) && b == amd::CFI_QUERY {
            self.regs.wcycle = wcycle::CFI;
            self.regs.cmd = cmd::CFI_QUERY;
            return Step::Done;
        }
        if b == amd::ERASE_RESUME {
            if !self.suspended() {
                return Step::Reset;
            }
            let remaining = self.regs.erase_time_remaining;
            self.arm_timer(remaining);
            self.regs.erase_time_remaining = 0;
            self.regs.wcycle = wcycle::ERASING;
            self.regs.cmd = cmd::SECTOR_ERASE;
            self.set_dq7(0);
            self.regs.status |= amd::DQ3;
            return Step::Done;
        }
        if b == amd::ERASE_SUSPEND {
            // Erase suspend outside an erase is ignored.
            return Step::Done;
        }
        if boff != self.config.unlock_addr[0] || b != amd::UNLOCK1 {
            return Step::Reset;
        }
        Step::Advance
    }

    /// The U1 rule (QEMU's `check_unlock1`, §7.3): wcycle 1 and 4.
    fn unlock1_rule(&mut self, boff: u64, b: u8) -> Step {
        if boff != self.config.unlock_addr[1] || b != amd::UNLOCK2 {
            return Step::Reset;
        }
        Step::Advance
    }

    /// wcycle 2: the command byte after an unlock, or in bypass (§7.4).
    fn command_cycle(&mut self, boff: u64, b: u8) -> Step {
        // In bypass any address is accepted.
        if !self.regs.bypass && boff != self.config.unlock_addr[0] {
            return Step::Reset;
        }
        match b {
            amd::UNLOCK_BYPASS => {
                self.regs.bypass = true;
                Step::Bypass
            }
            amd::ERASE_SETUP | amd::AUTOSELECT | amd::PROGRAM => {
                self.regs.cmd = b;
                Step::Advance
            }
            _ => Step::Reset,
        }
    }

    /// wcycle 3: the cycle after 0x80, 0x90 or 0xA0 (§7.5).
    fn command_data_cycle(&mut self, off: u64, boff: u64, size: u32, value: u64) -> Step {
        let b = value as u8;
        match self.regs.cmd {
            // Erase needs another unlock: apply the U0 rules without the ROMD step.
            cmd::ERASE => self.unlock0_rules(boff, b),
            cmd::PROGRAM => self.program(off, size, value),
            cmd::AUTOSELECT => {
                if self.regs.bypass && b == amd::UNLOCK_BYPASS_RESET {
                    return Step::Reset;
                }
                if boff == u64::from(amd::CFI_QUERY_ADDR) && b == amd::CFI_QUERY {
                    // CFI inside autoselect; 0xF0 returns to autoselect.
                    self.regs.wcycle = wcycle::AUTOSELECT_CFI;
                    self.regs.cmd = cmd::CFI_QUERY;
                    return Step::Done;
                }
                Step::Reset
            }
            _ => Step::Reset,
        }
    }

    /// The program data cycle (§7.5).
    fn program(&mut self, off: u64, size: u32, value: u64) -> Step {
        let idle = if self.regs.bypass {
            Step::Bypass
        } else {
            Step::Reset
        };
        if self.suspended() && self.sector_is_erasing(off) {
            // Programs to erase-suspended sectors are ignored.
            return idle;
        }
        // QEMU 7.2.22 behaviour: with a read-only drive the array is left
        // unchanged but the status behaves as usual (§14.15).
        if !self.ro {
            // QEMU 7.2.22 behaviour: programming ANDs (§14.4).
            let old = self.load(off, size);
            self.store(off, size, old & value);
            self.update(off, size as u64);
        }
        // DQ7 holds the complement of the programmed bit 7.
        self.set_dq7(!(value as u8));
        // Programs are immediate.
        idle
    }

    /// wcycle 5: chip erase or sector erase (§7.6).
    fn erase_command_cycle(&mut self, off: u64, boff: u64, b: u8) -> Step {
        if self.suspended() {
            // No new erase while suspended.
            return Step::Reset;
        }
        match b {
            amd::CHIP_ERASE => {
                if boff != self.config.unlock_addr[0] {
                    return Step::Reset;
                }
                // QEMU 7.2.22 behaviour: the data is erased now, only the
                // busy status is timed (§14.1).
                if !self.ro {
                    let len = self.config.chip_len as u64;
                    self.array.fill(0, len, ERASED_BYTE);
                    self.update(0, len);
                }
                self.set_dq7(0);
                let t = self.chip_erase_time();
                self.arm_timer(t);
            }
            amd::SECTOR_ERASE => self.sector_erase(off),
            _ => return Step::Reset,
        }
        self.regs.cmd = b;
        Step::Advance
    }

    /// wcycle 6: writes while a chip or sector erase runs (§7.7).
    fn erasing_cycle(&mut self, off: u64, b: u8) -> Step {
        match self.regs.cmd {
            // Writes during chip erase, 0xF0 included, are ignored.
            cmd::CHIP_ERASE => Step::Done,
            cmd::SECTOR_ERASE => {
                if b == amd::ERASE_SUSPEND {
                    self.erase_suspend();
                    return Step::Done;
                }
                if self.regs.status & amd::DQ3 == 0 {
                    if b != amd::SECTOR_ERASE {
                        // QEMU 7.2.22 behaviour: the timer, bitmap and
                        // sectors_to_erase are left behind (§14.5).
                        return Step::Reset;
                    }
                    self.sector_erase(off);
                }
                // Writes during the erase itself are ignored.
                Step::Done
            }
            _ => Step::Reset,
        }
    }

    /// Erase suspend (§7.7, §8): acts at once.
    fn erase_suspend(&mut self) {
        self.regs.erase_time_remaining = if self.regs.status & amd::DQ3 == 0 {
            // Suspended inside the window: the full erase time remains.
            self.sector_erase_time()
        } else {
            // QEMU's timer_expire_time_ns() is -1 without a pending timer;
            // a non-positive difference becomes 1.
            let now = self.clock.now();
            match self.timer.deadline() {
                Some(deadline) if deadline > now => deadline - now,
                _ => 1,
            }
        };
        self.regs.status &= !amd::DQ3;
        self.timer.cancel();
        self.reset_state_machine();
    }

    /// SE(off): queue the sector containing `off` (QEMU's `pflash_sector_erase`, §7.6).
    fn sector_erase(&mut self, off: u64) {
        let Some(sector) = self.config.sector_info(off) else {
            // Unreachable: every masked offset lies in a region (QEMU aborts).
            return;
        };
        let len = sector.len as u64;
        // QEMU aligns the absolute offset down to the sector length.
        let start = off & !len.wrapping_sub(1);
        if !self.ro {
            // QEMU 7.2.22 overruns the RAM block for an unvalidated,
            // non-power-of-two uniform sector length; the fill stops at the
            // end of the array here.
            let end = (start + len).min(self.array.len());
            self.array.fill(start, end - start, ERASED_BYTE);
            self.update(start, len);
        }
        self.set_dq7(0);
        // QEMU 7.2.22 behaviour: the same sector queued twice counts twice (§14.14).
        self.regs.sectors_to_erase = self.regs.sectors_to_erase.wrapping_add(1);
        self.regs.erase_map.insert(sector.num);
        // Set (or restart) the window for further sector erase commands.
        self.arm_timer(amd::SECTOR_ERASE_WINDOW_NS);
    }

    /// The timer callback (QEMU's `pflash_timer`, §11). QEMU 7.2.22
    /// behaviour: it acts whatever the state is, so a stale timer can
    /// abort an unrelated sequence (§14.6).
    pub(super) fn timer_expired(&mut self) {
        if self.regs.cmd == cmd::SECTOR_ERASE {
            if self.regs.status & amd::DQ3 == 0 {
                // End of the window: the erase itself starts.
                self.regs.status |= amd::DQ3;
                let t = self.sector_erase_time();
                self.arm_timer(t);
                return;
            }
            self.regs.erase_map.clear();
            self.regs.sectors_to_erase = 0;
            self.regs.status &= !amd::DQ3;
        }
        // Common completion.
        self.regs.status ^= amd::DQ7;
        if self.regs.bypass {
            self.do_bypass();
        } else {
            self.mode_read_array();
        }
    }
}
