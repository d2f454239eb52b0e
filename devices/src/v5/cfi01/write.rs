//! The write state machine of QEMU 7.2.22 (spec §7), with the staging
//! buffer opened on the count cycle.

use super::commands::*;
use super::read::low_bits;
use super::PflashCfi01;
use crate::command_set::{intel, ERASED_BYTE};

impl PflashCfi01 {
    /// `pflash_write`: one write through the device's write function.
    /// `value` is already truncated to `width` bytes; its low byte is the
    /// command byte (§6).
    pub(super) fn command_write(&mut self, off: u64, width: u32, value: u32) {
        let b = value as u8;
        if self.wcycle == 0 {
            // Set the device in I/O access mode (§5).
            self.romd = false;
        }
        match self.wcycle {
            0 => self.first_cycle(off, b),
            1 => self.second_cycle(off, width, value, b),
            2 => self.buffer_data_cycle(off, width, value),
            3 => self.buffer_confirm_cycle(b),
            // §7.5: only a migration stream gets here.
            _ => self.read_array(),
        }
    }

    /// RA: back to read array, ROMD on. `status` is unchanged.
    pub(super) fn read_array(&mut self) {
        self.cmd = CMD_READ_ARRAY_QEMU;
        self.wcycle = 0;
        self.romd = true;
    }

    /// QEMU logs "Unimplemented flash cmd sequence" (no guest-visible
    /// effect) and goes to read array.
    fn unimplemented_sequence(&mut self) {
        self.read_array();
    }

    /// Moves to `wcycle` 1 of a two-cycle command.
    fn setup(&mut self, cmd: u8) {
        self.wcycle += 1;
        self.cmd = cmd;
    }

    /// `wcycle == 0`: the written byte is a command (§7.1). Command addresses
    /// are not decoded (quirk 14).
    fn first_cycle(&mut self, off: u64, b: u8) {
        match b {
            CMD_READ_ARRAY_QEMU | intel::AMD_PROBE | intel::READ_ARRAY => self.read_array(),
            intel::PROGRAM_ALT | intel::PROGRAM | intel::LOCK_SETUP | intel::CFI_QUERY => {
                self.setup(b)
            }
            intel::BLOCK_ERASE => {
                // QEMU 7.2.22 erases on the setup write, before any confirm
                // (quirk 1), with the bank sector as granularity (quirk 15).
                self.erase_block(off);
                self.status |= intel::SR_READY;
                self.setup(b);
            }
            intel::CLEAR_STATUS => {
                // Clears SR.7 too (quirk 3).
                self.status = 0;
                self.read_array();
            }
            // wcycle stays 0: the next write is a new command (quirk 6).
            intel::READ_STATUS | intel::READ_ID => self.cmd = b,
            intel::WRITE_TO_BUFFER => {
                // QEMU also logs "Write to buffer emulation is flawed".
                self.status |= intel::SR_READY;
                self.setup(b);
            }
            _ => self.unimplemented_sequence(),
        }
    }

    /// Block erase of the bank sector containing `off`; SR.5 when read-only.
    fn erase_block(&mut self, off: u64) {
        let sector_len = self.config.sector_len;
        let start = off & !(sector_len - 1);
        if self.ro {
            self.status |= intel::SR_ERASE_ERROR;
            return;
        }
        // A non-power-of-two sector length can reach past the end of the
        // array (QEMU overruns its RAM block there); the model stops at the end.
        let len = sector_len.min(self.array.len().saturating_sub(start));
        if len > 0 {
            self.array.fill(start, len, ERASED_BYTE);
        }
        self.update(start, sector_len);
    }

    /// `wcycle == 1` (§7.2).
    fn second_cycle(&mut self, off: u64, width: u32, value: u32, b: u8) {
        match self.cmd {
            intel::PROGRAM_ALT | intel::PROGRAM => {
                if self.ro {
                    self.status |= intel::SR_PROGRAM_ERROR;
                } else {
                    // Overwrites, no AND with the old contents (quirk 2).
                    self.data_write(off, width, value);
                    self.update(off, width as u64);
                }
                self.status |= intel::SR_READY;
                // `cmd` stays the program command: reads return status and
                // ROMD stays off (quirk 5).
                self.wcycle = 0;
            }
            intel::BLOCK_ERASE | intel::BLOCK_ERASE_ALT => match b {
                intel::CONFIRM => {
                    self.wcycle = 0;
                    self.status |= intel::SR_READY;
                }
                intel::READ_ARRAY => self.read_array(),
                // The block was erased at setup; a bad confirm sets no error
                // bit (quirk 1).
                _ => self.unimplemented_sequence(),
            },
            intel::WRITE_TO_BUFFER => self.buffer_count_cycle(off, value),
            intel::LOCK_SETUP => match b {
                // Lock and unlock are accepted and keep no state (quirk 10).
                intel::CONFIRM | intel::LOCK_BLOCK => {
                    self.wcycle = 0;
                    self.status |= intel::SR_READY;
                }
                // 0xFF, or "unknown (un)locking command" (traced only).
                _ => self.read_array(),
            },
            intel::CFI_QUERY => {
                // Only 0xFF leaves query mode; everything else is ignored
                // (quirk 4).
                if b == intel::READ_ARRAY {
                    self.read_array();
                }
            }
            _ => self.unimplemented_sequence(),
        }
    }

    /// Count cycle of write-to-buffer (§7.2): the count is masked to the
    /// device width (bank width in legacy mode), and — QEMU 7.2.22, before
    /// the fix for GitLab #2343 — the staging buffer opens now, positioned
    /// from this write's address, even when read-only or the count is 0
    /// (quirk 7).
    fn buffer_count_cycle(&mut self, off: u64, value: u32) {
        let lanes = match self.config.device_width {
            0 => self.config.bank_width,
            dw => dw,
        };
        self.counter = low_bits(value, 8 * lanes as u32) as u64;
        self.wcycle += 1;
        self.blk_write_start(off);
    }

    /// `pflash_blk_write_start`: opens the staging window containing `off`
    /// with a copy of the array.
    fn blk_write_start(&mut self, off: u64) {
        // `~(writeblock_size - 1)` is computed in 32 bits, as in QEMU.
        let mask = !(self.writeblock_size - 1);
        self.blk_offset = (off as u32) & mask;
        let start = self.blk_offset as u64;
        let len = self.array.len();
        // A window reaching past the end of a tiny array (QEMU reads past its
        // RAM block there) takes zeros for the missing bytes.
        self.blk_bytes.fill(0);
        let avail = len.saturating_sub(start).min(self.blk_bytes.len() as u64) as usize;
        self.array
            .read(start.min(len), &mut self.blk_bytes[..avail]);
    }

    /// `wcycle == 2`: buffer data (§7.3). Every write consumes one count
    /// whatever its size.
    fn buffer_data_cycle(&mut self, off: u64, width: u32, value: u32) {
        if self.cmd != intel::WRITE_TO_BUFFER {
            // Migration only; the buffer is not discarded.
            self.unimplemented_sequence();
            return;
        }
        if !self.ro && self.blk_offset != NO_BLOCK_OPEN {
            self.data_write(off, width, value);
        } else {
            self.status |= intel::SR_PROGRAM_ERROR;
        }
        self.status |= intel::SR_READY;
        if self.counter == 0 {
            self.wcycle += 1;
        }
        // QEMU 7.2.22 decrements unconditionally: after the last data write
        // `counter` is 2^64 − 1 (quirk 8; upstream 9.1 stops at 0).
        self.counter = self.counter.wrapping_sub(1);
    }

    /// `wcycle == 3`: confirm (§7.4). A stale SR.4 aborts (quirk 9).
    fn buffer_confirm_cycle(&mut self, b: u8) {
        if self.cmd != intel::WRITE_TO_BUFFER {
            // Migration only.
            self.blk_write_abort();
            self.unimplemented_sequence();
            return;
        }
        if b == intel::CONFIRM && self.status & intel::SR_PROGRAM_ERROR == 0 {
            self.blk_write_flush();
            self.wcycle = 0;
            self.status |= intel::SR_READY;
            // `cmd` stays 0xE8 and ROMD off: status reads (quirk 5).
        } else {
            // Status unchanged, so SR.4 stays set.
            self.blk_write_abort();
            self.read_array();
        }
    }

    /// `pflash_blk_write_flush`: copies the staging window into the array
    /// and writes it back.
    fn blk_write_flush(&mut self) {
        // QEMU asserts that a window is open here; only a crafted stream
        // (wcycle 3 without the buffer subsection and without SR.4) can get
        // here without one. The model then has nothing to copy.
        if self.blk_offset != NO_BLOCK_OPEN {
            let start = self.blk_offset as u64;
            let avail = self
                .array
                .len()
                .saturating_sub(start)
                .min(self.blk_bytes.len() as u64) as usize;
            self.array.write(start, &self.blk_bytes[..avail]);
            self.update(start, self.writeblock_size as u64);
        }
        self.blk_offset = NO_BLOCK_OPEN;
    }

    /// `pflash_blk_write_abort`: drops the staged data.
    fn blk_write_abort(&mut self) {
        self.blk_offset = NO_BLOCK_OPEN;
    }

    /// `pflash_data_write`: `width` bytes of `value` in the configured byte
    /// order, into the staging buffer while one is open (even for a
    /// single-word program), else into the array.
    fn data_write(&mut self, off: u64, width: u32, value: u32) {
        let width = width.min(4) as usize;
        let bytes = if self.config.big_endian {
            value.to_be_bytes()[4 - width..].to_vec()
        } else {
            value.to_le_bytes()[..width].to_vec()
        };
        if self.blk_offset != NO_BLOCK_OPEN {
            // The window end is computed in 32 bits, as in QEMU.
            let end = self.blk_offset.wrapping_add(self.writeblock_size) as u64;
            if off < self.blk_offset as u64 || off + width as u64 > end {
                self.status |= intel::SR_PROGRAM_ERROR;
                return;
            }
            let at = (off - self.blk_offset as u64) as usize;
            self.blk_bytes[at..at + width].copy_from_slice(&bytes);
        } else {
            // Bytes past the end of the array are dropped.
            let avail = self.array.len().saturating_sub(off).min(width as u64) as usize;
            if avail > 0 {
                self.array.write(off, &bytes[..avail]);
            }
        }
    }

    /// `pflash_update`: writes `[off, off+len)` of the array back to the
    /// drive, widened to block-layer sectors (clipped to the array).
    pub(super) fn update(&mut self, off: u64, len: u64) {
        if !self.backend.has_drive() {
            return;
        }
        let size = self.array.len();
        let start = (off - off % BDRV_SECTOR_SIZE).min(size);
        let end = off
            .saturating_add(len)
            .div_ceil(BDRV_SECTOR_SIZE)
            .saturating_mul(BDRV_SECTOR_SIZE)
            .min(size);
        if end > start {
            self.backend.write_back(&self.array, start, end - start);
        }
    }
}
