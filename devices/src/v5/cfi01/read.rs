//! The I/O-mode read path (spec §9): array data, status (§10), identifier
//! and CFI answers (§8).

use super::commands::*;
use super::PflashCfi01;
use crate::command_set::intel;

/// x86-64 `shr` takes a 64-bit shift count modulo 64.
const X86_64_SHIFT_COUNT_MASK: u32 = 63;

/// QEMU's `deposit32`: `field`'s low `len` bits into `value` at bit `start`.
/// QEMU asserts that the field fits in 32 bits; the configurations that
/// would trip that assertion (banks wider than 4 bytes, odd widths) keep
/// only the bits that fit here.
pub(super) fn deposit32(value: u32, start: u32, len: u32, field: u32) -> u32 {
    if start >= 32 || len == 0 {
        return value;
    }
    let len = len.min(32 - start);
    let mask = (u32::MAX >> (32 - len)) << start;
    (value & !mask) | ((field << start) & mask)
}

/// QEMU's `extract32(value, 0, bits)`, with the same clamping as [`deposit32`]
/// (QEMU asserts `0 < bits <= 32`).
pub(super) fn low_bits(value: u32, bits: u32) -> u32 {
    match bits {
        0 => 0,
        b if b >= 32 => value,
        b => value & ((1 << b) - 1),
    }
}

impl PflashCfi01 {
    /// `pflash_data_read`: `width` bytes of the array at `off` in the
    /// configured byte order. Bytes past the end of the array read 0.
    pub(super) fn data_read(&self, off: u64, width: u32) -> u32 {
        let mut bytes = [0u8; 4];
        let width = (width as usize).min(bytes.len());
        let len = self.array.len();
        for (i, b) in bytes[..width].iter_mut().enumerate() {
            let at = off.wrapping_add(i as u64);
            if at < len {
                *b = self.array.byte(at);
            }
        }
        let lanes = &bytes[..width];
        if self.config.big_endian {
            lanes.iter().fold(0, |acc, &b| (acc << 8) | b as u32)
        } else {
            lanes.iter().rev().fold(0, |acc, &b| (acc << 8) | b as u32)
        }
    }

    /// `pflash_read`: one read through the device's read function, before
    /// the memory core truncates it to `width` bytes.
    pub(super) fn command_read(&mut self, off: u64, width: u32) -> u32 {
        match self.cmd {
            CMD_READ_ARRAY_QEMU => self.data_read(off, width),
            intel::PROGRAM_ALT
            | intel::BLOCK_ERASE
            | intel::BLOCK_ERASE_ALT
            | intel::PROGRAM
            | intel::CLEAR_STATUS
            | intel::LOCK_SETUP
            | intel::READ_STATUS
            | intel::WRITE_TO_BUFFER => self.status_read(width),
            intel::READ_ID if self.config.device_width == 0 => self.legacy_id(off),
            intel::CFI_QUERY if self.config.device_width == 0 => self.legacy_cfi(off),
            intel::READ_ID => self.device_width_query(off, width, PflashCfi01::id_query),
            intel::CFI_QUERY => self.device_width_query(off, width, PflashCfi01::cfi_query),
            _ => {
                // QEMU 7.2.22: an unknown `cmd` (only a migration stream can
                // deliver one) resets the state machine on read, leaving
                // ROMD off, and returns array data (quirk 18).
                self.wcycle = 0;
                self.cmd = CMD_READ_ARRAY_QEMU;
                self.data_read(off, width)
            }
        }
    }

    /// Status byte replicated per chip lane (§10).
    fn status_read(&self, width: u32) -> u32 {
        let status = self.status as u32;
        let dw = self.config.device_width as u32;
        let mut ret = status;
        if dw != 0 && width > dw {
            let lane = 8 * dw;
            let mut shift = lane;
            while shift + lane <= 8 * width {
                ret |= status << shift;
                shift += lane;
            }
        } else if dw == 0 && width > 2 {
            // Legacy 32-bit banks: "existing behavior before device width added".
            ret |= status << 16;
        }
        ret
    }

    /// Legacy query index: the low address byte scaled by the bank width
    /// (§8.1). The mask comes first, so answers wrap every 256 bytes (quirk 11).
    fn legacy_index(&self, off: u64) -> u64 {
        let boff = off & LEGACY_OFFSET_MASK;
        match self.config.bank_width {
            // Only x16 and x32 banks are scaled; any other width (x8, odd
            // or oversized) uses the byte offset as is.
            2 => boff >> 1,
            4 => boff >> 2,
            _ => boff,
        }
    }

    /// Legacy ID answer: `(id0<<8)|id1` at index 0, `(id2<<8)|id3` at 1 (quirk 11).
    fn legacy_id(&self, off: u64) -> u32 {
        let [id0, id1, id2, id3] = self.config.ident.map(u32::from);
        match self.legacy_index(off) {
            0 => (id0 << 8) | id1,
            1 => (id2 << 8) | id3,
            _ => 0,
        }
    }

    /// Legacy CFI answer: one table byte, zero-extended, not replicated.
    fn legacy_cfi(&self, off: u64) -> u32 {
        let idx = self.legacy_index(off) as usize;
        self.cfi_table.get(idx).copied().map_or(0, u32::from)
    }

    /// Device-width ID/CFI read (§8.2): one query per bank-width lane, the
    /// address advancing by `i × bank_width` (not by `i`), deposited into an
    /// accumulator that starts all ones.
    fn device_width_query(&self, off: u64, width: u32, query: fn(&PflashCfi01, u64) -> u32) -> u32 {
        // Realize guarantees bank_width >= device_width >= 1 here; QEMU would
        // loop forever on 0.
        let bw = (self.config.bank_width as u32).max(1);
        let mut ret = QUERY_ACCUMULATOR_START;
        let mut i = 0;
        while i < width {
            let answer = query(self, off.wrapping_add((i * bw) as u64));
            ret = deposit32(ret, 8 * i, 8 * bw, answer);
            i += bw;
        }
        ret
    }

    /// Query address → chip index: `a >> (ctz(bw) + ctz(mdw) − ctz(dw))`.
    /// QEMU computes the shift count as a C int and shifts a 64-bit value;
    /// on x86-64 the count is taken modulo 64, which this reproduces for the
    /// (otherwise undefined) negative counts of `mdw < dw` configurations.
    fn query_index(&self, a: u64) -> u64 {
        let c = &self.config;
        let ctz = |x: u8| (x as u32).trailing_zeros() as i32;
        let shift = ctz(c.bank_width) + ctz(c.max_device_width) - ctz(c.device_width);
        a >> ((shift as u32) & X86_64_SHIFT_COUNT_MASK)
    }

    /// `pflash_devid_query`: one chip's ID answer, replicated across the bank.
    fn id_query(&self, a: u64) -> u32 {
        // Indices 2/3 would be block lock status, which QEMU does not model
        // (quirk 10); the index wraps every 256 entries (quirk 12).
        let resp = match self.query_index(a) & ID_INDEX_MASK {
            0 => self.config.ident[0] as u32,
            1 => self.config.ident[1] as u32,
            _ => return 0,
        };
        self.replicate(resp)
    }

    /// `pflash_cfi_query`: one chip's CFI answer, replicated across the bank.
    fn cfi_query(&self, a: u64) -> u32 {
        let c = &self.config;
        // No wrap in device-width mode (quirk 12).
        let Some(&byte) = usize::try_from(self.query_index(a))
            .ok()
            .and_then(|idx| self.cfi_table.get(idx))
        else {
            return 0;
        };
        let byte = byte as u32;
        let mut resp = byte;
        if c.device_width != c.max_device_width {
            // Only x8 mode of a wider part is supported.
            if c.device_width != 1 || c.bank_width > 4 {
                return 0;
            }
            // Wide chips in x8 mode repeat the byte rather than zero-pad.
            for i in 1..c.max_device_width as u32 {
                resp = deposit32(resp, 8 * i, 8, byte);
            }
        }
        self.replicate(resp)
    }

    /// Copies the low `device_width` bytes of one chip's answer into every
    /// chip lane of the bank.
    fn replicate(&self, mut resp: u32) -> u32 {
        let dw = self.config.device_width as u32;
        let bw = self.config.bank_width as u32;
        if dw != 0 && dw < bw {
            let mut i = dw;
            while i < bw {
                resp = deposit32(resp, 8 * i, 8 * dw, resp);
                i += dw;
            }
        }
        resp
    }
}
