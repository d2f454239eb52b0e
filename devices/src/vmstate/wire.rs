//! Big-endian byte writer and bounds-checked reader for the migration stream.
//!
//! The reader never allocates from a length it has read: every length is
//! checked against the bytes that remain before anything is sliced, and every
//! error names the byte offset and what was being read.

use super::error::LoadError;
use std::fmt::Display;

/// Appends big-endian values to a byte vector.
#[derive(Clone, Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// Makes room for `n` more bytes.
    pub fn reserve(&mut self, n: usize) {
        self.buf.reserve(n);
    }

    /// Appends `n` copies of `byte`.
    pub fn fill(&mut self, byte: u8, n: usize) {
        self.buf.resize(self.buf.len() + n, byte);
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished stream.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A big-endian u16.
    pub fn be16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A big-endian u32.
    pub fn be32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A big-endian u64.
    pub fn be64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A string with a one-byte length prefix (id strings, RAM block names).
    /// Names longer than 255 bytes are a broken invariant of the caller.
    pub fn str_u8(&mut self, s: &str) {
        let len = u8::try_from(s.len())
            .unwrap_or_else(|_| panic!("migration name longer than 255 bytes: {s:?}"));
        self.u8(len);
        self.bytes(s.as_bytes());
    }

    /// A string with a big-endian u32 length prefix (the machine type).
    pub fn str_be32(&mut self, s: &str) {
        let len = u32::try_from(s.len()).unwrap_or_else(|_| panic!("string too long"));
        self.be32(len);
        self.bytes(s.as_bytes());
    }
}

/// Reads big-endian values from a stream, tracking the byte offset.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Offset of the next byte to be read.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was consumed.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The byte `ahead` bytes past the current position, without consuming it.
    pub fn peek(&self, ahead: usize) -> Option<u8> {
        self.buf.get(self.pos.checked_add(ahead)?).copied()
    }

    /// `len` bytes starting `ahead` bytes past the current position, without consuming them.
    pub fn peek_bytes(&self, ahead: usize, len: usize) -> Option<&'a [u8]> {
        let start = self.pos.checked_add(ahead)?;
        let end = start.checked_add(len)?;
        self.buf.get(start..end)
    }

    /// Moves the position to `offset` (only to offsets this reader produced).
    pub fn seek(&mut self, offset: usize) {
        self.pos = offset.min(self.buf.len());
    }

    fn truncated(&self, what: &dyn Display, need: usize) -> LoadError {
        LoadError::Truncated {
            offset: self.pos,
            what: format!(
                "{what} ({need} byte{s} needed, {left} left)",
                s = if need == 1 { "" } else { "s" },
                left = self.remaining()
            ),
        }
    }

    /// Exactly `len` bytes, borrowed from the input. `len` is checked against
    /// the remaining input before anything else happens.
    pub fn bytes(&mut self, len: usize, what: &dyn Display) -> Result<&'a [u8], LoadError> {
        if len > self.remaining() {
            return Err(self.truncated(what, len));
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &dyn Display) -> Result<[u8; N], LoadError> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &dyn Display) -> Result<u8, LoadError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A big-endian u16.
    pub fn be16(&mut self, what: &dyn Display) -> Result<u16, LoadError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// A big-endian u32.
    pub fn be32(&mut self, what: &dyn Display) -> Result<u32, LoadError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// A big-endian u64.
    pub fn be64(&mut self, what: &dyn Display) -> Result<u64, LoadError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A string with a one-byte length prefix. Bytes that are not UTF-8 are
    /// replaced (QEMU compares raw bytes; such a name matches nothing here either).
    pub fn str_u8(&mut self, what: &dyn Display) -> Result<String, LoadError> {
        let len = self.u8(what)? as usize;
        Ok(String::from_utf8_lossy(self.bytes(len, what)?).into_owned())
    }

    /// A string with a big-endian u32 length prefix, capped by the input left.
    pub fn str_be32(&mut self, what: &dyn Display) -> Result<String, LoadError> {
        let len = self.be32(what)? as usize;
        Ok(String::from_utf8_lossy(self.bytes(len, what)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_big_endian_values() {
        let mut w = Writer::new();
        w.u8(0x12);
        w.be16(0x3456);
        w.be32(0x789A_BCDE);
        w.be64(0x0102_0304_0506_0708);
        w.str_u8("ram");
        w.str_be32("nor-5.0");
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..3], &[0x12, 0x34, 0x56]);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(&"a").unwrap(), 0x12);
        assert_eq!(r.be16(&"b").unwrap(), 0x3456);
        assert_eq!(r.be32(&"c").unwrap(), 0x789A_BCDE);
        assert_eq!(r.be64(&"d").unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(r.str_u8(&"e").unwrap(), "ram");
        assert_eq!(r.str_be32(&"f").unwrap(), "nor-5.0");
        assert!(r.at_end());
    }

    #[test]
    fn truncation_names_offset_and_context() {
        let bytes = [0u8, 1, 2];
        let mut r = Reader::new(&bytes);
        r.u8(&"x").unwrap();
        let err = r
            .be64(&format_args!(
                "section '{}' field '{}'",
                "pflash_cfi01", "counter"
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "truncated stream at byte 1 while reading section 'pflash_cfi01' field 'counter' \
             (8 bytes needed, 2 left)"
        );
    }

    #[test]
    fn huge_lengths_fail_without_allocating() {
        let bytes = [0xFFu8, 0xFF, 0xFF, 0xFF, b'a'];
        let mut r = Reader::new(&bytes);
        assert!(matches!(
            r.str_be32(&"machine type"),
            Err(LoadError::Truncated { offset: 4, .. })
        ));
        let mut r = Reader::new(&bytes);
        assert!(r.bytes(usize::MAX, &"x").is_err());
        assert_eq!(r.peek_bytes(usize::MAX, 2), None);
    }
}
