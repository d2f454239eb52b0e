//! Copy-on-write flash storage.
//!
//! Trials fork whole machines thousands of times per second, so a copy of a
//! flash array must cost per touched page, not per byte. The array is a
//! two-level tree of reference-counted pages: cloning a 64 MiB array clones 64
//! group pointers; the first write to a shared page copies that page (4 KiB)
//! and, if needed, its group's page table (256 pointers). Pages that hold one
//! repeated byte (erased 0xFF, or an all-zero RAM-only flash) store just that
//! byte.

use std::sync::Arc;

/// Page size: the unit of copy-on-write, of dirty tracking and of RAM migration.
pub const PAGE_SIZE: usize = 4096;
const PAGE_SHIFT: u32 = 12;
/// Pages per group: 256 × 4 KiB = 1 MiB per group.
const GROUP_PAGES: usize = 256;
const GROUP_SHIFT: u32 = 8;

#[derive(Clone, Debug)]
enum Page {
    /// Every byte of the page has this value.
    Fill(u8),
    Data(Arc<[u8; PAGE_SIZE]>),
}

impl Page {
    fn byte(&self, i: usize) -> u8 {
        match self {
            Page::Fill(b) => *b,
            Page::Data(d) => d[i],
        }
    }

    fn same_as(&self, other: &Page) -> bool {
        match (self, other) {
            (Page::Fill(a), Page::Fill(b)) => a == b,
            (Page::Data(a), Page::Data(b)) if Arc::ptr_eq(a, b) => true,
            (Page::Data(d), Page::Fill(b)) | (Page::Fill(b), Page::Data(d)) => {
                d.iter().all(|x| x == b)
            }
            (Page::Data(a), Page::Data(b)) => a[..] == b[..],
        }
    }

    /// Mutable bytes of this page, copying it first if it is shared or a fill.
    fn make_mut(&mut self) -> &mut [u8; PAGE_SIZE] {
        if let Page::Fill(b) = *self {
            *self = Page::Data(Arc::new([b; PAGE_SIZE]));
        }
        match self {
            Page::Data(d) => Arc::make_mut(d),
            Page::Fill(_) => unreachable!("fill pages were just materialised"),
        }
    }
}

/// A borrowed view of one page (see [`Storage::page_view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageView<'a> {
    /// Stored as one repeated byte.
    Fill(u8),
    /// Stored bytes (they may still all be equal).
    Data(&'a [u8]),
}

#[derive(Clone, Debug)]
struct Group {
    pages: Vec<Page>,
}

/// A flash array of fixed length with cheap snapshots (`clone`).
#[derive(Clone, Debug)]
pub struct Storage {
    len: u64,
    /// The group table is shared too, so cloning any array is O(1); the
    /// first write after a clone copies the table (one pointer per MiB).
    groups: Arc<Vec<Arc<Group>>>,
}

impl Storage {
    /// An array of `len` bytes, all equal to `fill`.
    pub fn filled(len: u64, fill: u8) -> Storage {
        let pages = len.div_ceil(PAGE_SIZE as u64) as usize;
        let groups = pages.div_ceil(GROUP_PAGES);
        // Every full group shares one page table until it is written.
        let full = Arc::new(Group {
            pages: vec![Page::Fill(fill); GROUP_PAGES],
        });
        let mut out = vec![full; pages / GROUP_PAGES];
        if !pages.is_multiple_of(GROUP_PAGES) {
            out.push(Arc::new(Group {
                pages: vec![Page::Fill(fill); pages % GROUP_PAGES],
            }));
        }
        debug_assert_eq!(out.len(), groups);
        Storage {
            len,
            groups: Arc::new(out),
        }
    }

    /// An array holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Storage {
        let mut s = Storage::filled(bytes.len() as u64, 0);
        s.write(0, bytes);
        s
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length array.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pages (the last one may be partial).
    pub fn page_count(&self) -> usize {
        self.len.div_ceil(PAGE_SIZE as u64) as usize
    }

    fn page(&self, index: usize) -> &Page {
        &self.groups[index >> GROUP_SHIFT].pages[index & (GROUP_PAGES - 1)]
    }

    fn page_mut(&mut self, index: usize) -> &mut Page {
        let group = Arc::make_mut(&mut Arc::make_mut(&mut self.groups)[index >> GROUP_SHIFT]);
        &mut group.pages[index & (GROUP_PAGES - 1)]
    }

    /// Byte at `off`. Panics if `off` is outside the array (callers mask first).
    pub fn byte(&self, off: u64) -> u8 {
        assert!(
            off < self.len,
            "storage read at {off:#x} beyond {:#x}",
            self.len
        );
        self.page((off >> PAGE_SHIFT) as usize)
            .byte(off as usize & (PAGE_SIZE - 1))
    }

    /// Copies `buf.len()` bytes starting at `off` into `buf`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        assert!(
            off + buf.len() as u64 <= self.len,
            "storage read {off:#x}+{} beyond {:#x}",
            buf.len(),
            self.len
        );
        let mut done = 0;
        while done < buf.len() {
            let pos = off + done as u64;
            let in_page = pos as usize & (PAGE_SIZE - 1);
            let n = (PAGE_SIZE - in_page).min(buf.len() - done);
            match self.page((pos >> PAGE_SHIFT) as usize) {
                Page::Fill(b) => buf[done..done + n].fill(*b),
                Page::Data(d) => buf[done..done + n].copy_from_slice(&d[in_page..in_page + n]),
            }
            done += n;
        }
    }

    /// Little-endian value of `width` (1..=8) bytes at `off`.
    pub fn read_le(&self, off: u64, width: usize) -> u64 {
        let mut buf = [0u8; 8];
        self.read(off, &mut buf[..width]);
        u64::from_le_bytes(buf)
    }

    /// Big-endian value of `width` (1..=8) bytes at `off`.
    pub fn read_be(&self, off: u64, width: usize) -> u64 {
        let mut buf = [0u8; 8];
        self.read(off, &mut buf[8 - width..]);
        u64::from_be_bytes(buf)
    }

    /// Writes `bytes` at `off`.
    pub fn write(&mut self, off: u64, bytes: &[u8]) {
        assert!(
            off + bytes.len() as u64 <= self.len,
            "storage write {off:#x}+{} beyond {:#x}",
            bytes.len(),
            self.len
        );
        let mut done = 0;
        while done < bytes.len() {
            let pos = off + done as u64;
            let in_page = pos as usize & (PAGE_SIZE - 1);
            let n = (PAGE_SIZE - in_page).min(bytes.len() - done);
            let page = self.page_mut((pos >> PAGE_SHIFT) as usize);
            page.make_mut()[in_page..in_page + n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
    }

    /// Writes the low `width` bytes of `value` at `off`, little-endian.
    pub fn write_le(&mut self, off: u64, width: usize, value: u64) {
        self.write(off, &value.to_le_bytes()[..width]);
    }

    /// Writes the low `width` bytes of `value` at `off`, big-endian.
    pub fn write_be(&mut self, off: u64, width: usize, value: u64) {
        self.write(off, &value.to_be_bytes()[8 - width..]);
    }

    /// Sets `len` bytes from `off` to `byte`. Whole pages become fill pages.
    pub fn fill(&mut self, off: u64, len: u64, byte: u8) {
        assert!(off + len <= self.len, "storage fill beyond end");
        let end = off + len;
        let mut pos = off;
        while pos < end {
            let in_page = pos as usize & (PAGE_SIZE - 1);
            let n = ((PAGE_SIZE - in_page) as u64).min(end - pos) as usize;
            let page = self.page_mut((pos >> PAGE_SHIFT) as usize);
            if n == PAGE_SIZE {
                *page = Page::Fill(byte);
            } else {
                page.make_mut()[in_page..in_page + n].fill(byte);
            }
            pos += n as u64;
        }
    }

    /// Makes `[off, off+len)` equal to the same range of `src`, sharing whole
    /// pages instead of copying them. Both arrays must have the same length.
    pub fn copy_range_from(&mut self, src: &Storage, off: u64, len: u64) {
        assert_eq!(self.len, src.len, "copy_range_from between different sizes");
        if Arc::ptr_eq(&self.groups, &src.groups) {
            return;
        }
        if off == 0 && len >= self.len {
            self.groups = src.groups.clone();
            return;
        }
        let end = off + len;
        let mut pos = off;
        let group_bytes = (GROUP_PAGES * PAGE_SIZE) as u64;
        while pos < end {
            // A whole group: share its page table.
            let g = (pos / group_bytes) as usize;
            if pos.is_multiple_of(group_bytes) && pos + group_bytes <= end && g < self.groups.len()
            {
                Arc::make_mut(&mut self.groups)[g] = src.groups[g].clone();
                pos += group_bytes;
                continue;
            }
            let in_page = pos as usize & (PAGE_SIZE - 1);
            let n = ((PAGE_SIZE - in_page) as u64).min(end - pos) as usize;
            let index = (pos >> PAGE_SHIFT) as usize;
            if n == PAGE_SIZE || (in_page == 0 && pos + n as u64 == self.len) {
                let page = src.page(index).clone();
                *self.page_mut(index) = page;
            } else {
                let page = self.page_mut(index);
                match src.page(index) {
                    Page::Fill(b) => page.make_mut()[in_page..in_page + n].fill(*b),
                    Page::Data(d) => {
                        page.make_mut()[in_page..in_page + n]
                            .copy_from_slice(&d[in_page..in_page + n]);
                    }
                }
                // Now equal to the source's page as a whole (the usual case
                // of a write-back: the rest of the page was already in
                // sync): share it, so that `dirty_pages` and `==` skip it
                // by pointer instead of comparing its bytes.
                let src_page = src.page(index);
                if self.page(index).same_as(src_page) {
                    let shared = src_page.clone();
                    *self.page_mut(index) = shared;
                }
            }
            pos += n as u64;
        }
    }

    /// Indices of pages whose contents differ from `base` (same length).
    /// Shared pages are skipped without looking at their bytes.
    pub fn dirty_pages(&self, base: &Storage) -> Vec<usize> {
        assert_eq!(self.len, base.len, "dirty_pages between different sizes");
        let mut out = Vec::new();
        if Arc::ptr_eq(&self.groups, &base.groups) {
            return out;
        }
        for (g, (a, b)) in self.groups.iter().zip(base.groups.iter()).enumerate() {
            if Arc::ptr_eq(a, b) {
                continue;
            }
            for (p, (pa, pb)) in a.pages.iter().zip(&b.pages).enumerate() {
                if !pa.same_as(pb) {
                    out.push((g << GROUP_SHIFT) + p);
                }
            }
        }
        out
    }

    /// The bytes of page `index` (shorter for a partial last page).
    pub fn page_bytes(&self, index: usize) -> Vec<u8> {
        let start = (index as u64) << PAGE_SHIFT;
        let n = (self.len - start).min(PAGE_SIZE as u64) as usize;
        let mut buf = vec![0u8; n];
        self.read(start, &mut buf);
        buf
    }

    /// Page `index` without copying: its fill byte, or its bytes (shorter
    /// for a partial last page).
    pub fn page_view(&self, index: usize) -> PageView<'_> {
        let start = (index as u64) << PAGE_SHIFT;
        let n = (self.len - start).min(PAGE_SIZE as u64) as usize;
        match self.page(index) {
            Page::Fill(b) => PageView::Fill(*b),
            Page::Data(d) => PageView::Data(&d[..n]),
        }
    }

    /// If page `index` holds one repeated byte, that byte.
    pub fn page_fill(&self, index: usize) -> Option<u8> {
        match self.page(index) {
            Page::Fill(b) => Some(*b),
            Page::Data(d) => {
                let b = d[0];
                d.iter().all(|x| *x == b).then_some(b)
            }
        }
    }

    /// Whole contents as one vector (tests and small arrays only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.len as usize];
        self.read(0, &mut buf);
        buf
    }

    /// SHA-256 of the contents, as lowercase hex (the oracle's `image_sha256`).
    pub fn sha256_hex(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut fill_cache: Option<(u8, Box<[u8; PAGE_SIZE]>)> = None;
        for index in 0..self.page_count() {
            let start = (index as u64) << PAGE_SHIFT;
            let n = (self.len - start).min(PAGE_SIZE as u64) as usize;
            match self.page(index) {
                Page::Data(d) => h.update(&d[..n]),
                Page::Fill(b) => {
                    if fill_cache.as_ref().map(|c| c.0) != Some(*b) {
                        fill_cache = Some((*b, Box::new([*b; PAGE_SIZE])));
                    }
                    let cache = fill_cache.as_ref().map(|c| &c.1[..n]).unwrap_or(&[]);
                    h.update(cache);
                }
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Number of distinct materialised pages not shared with `other`
    /// (a measure of what a fork has cost so far).
    pub fn private_pages(&self, other: &Storage) -> usize {
        let mut n = 0;
        if Arc::ptr_eq(&self.groups, &other.groups) {
            return 0;
        }
        for (a, b) in self.groups.iter().zip(other.groups.iter()) {
            if Arc::ptr_eq(a, b) {
                continue;
            }
            for (pa, pb) in a.pages.iter().zip(&b.pages) {
                if let (Page::Data(x), Page::Data(y)) = (pa, pb) {
                    if !Arc::ptr_eq(x, y) {
                        n += 1;
                    }
                } else if matches!(pa, Page::Data(_)) {
                    n += 1;
                }
            }
        }
        n
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Storage) -> bool {
        self.len == other.len && self.dirty_pages(other).is_empty()
    }
}

impl Eq for Storage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_shares_until_written() {
        let mut a = Storage::filled(64 << 20, 0xFF);
        a.write_le(0x1234, 4, 0xDEADBEEF);
        let mut b = a.clone();
        assert_eq!(a, b);
        b.write_le(0x20_0000, 2, 0x1234);
        assert_ne!(a, b);
        assert_eq!(b.dirty_pages(&a), vec![0x200]);
        assert_eq!(a.read_le(0x1234, 4), 0xDEADBEEF);
        assert_eq!(b.read_le(0x20_0000, 2), 0x1234);
        assert_eq!(a.read_le(0x20_0000, 2), 0xFFFF);
        assert_eq!(b.private_pages(&a), 1);
    }

    #[test]
    fn endian_reads_and_writes() {
        let mut s = Storage::filled(8192, 0);
        s.write_be(4094, 4, 0x11223344);
        assert_eq!(s.read_le(4094, 4), 0x44332211);
        assert_eq!(s.read_be(4094, 4), 0x11223344);
        assert_eq!(s.byte(4096), 0x33);
    }

    #[test]
    fn fill_whole_and_partial_pages() {
        let mut s = Storage::from_bytes(&[7u8; 3 * PAGE_SIZE]);
        s.fill(100, 2 * PAGE_SIZE as u64, 0xFF);
        assert_eq!(s.byte(99), 7);
        assert_eq!(s.byte(100), 0xFF);
        assert_eq!(s.byte(2 * PAGE_SIZE as u64 + 99), 0xFF);
        assert_eq!(s.byte(2 * PAGE_SIZE as u64 + 100), 7);
        assert_eq!(s.page_fill(1), Some(0xFF));
        assert_eq!(s.page_fill(0), None);
    }

    #[test]
    fn partial_copy_shares_the_page_once_it_is_in_sync() {
        let mut array = Storage::filled(2 * PAGE_SIZE as u64, 0xFF);
        let mut image = array.clone();
        array.write(PAGE_SIZE as u64 + 8, &[1, 2, 3, 4]);
        array.write(PAGE_SIZE as u64 + 900, &[5]);
        // Write-back of the first range only: the page is not in sync yet.
        image.copy_range_from(&array, PAGE_SIZE as u64, 512);
        assert_eq!(image.dirty_pages(&array), vec![1]);
        assert_eq!(image.byte(PAGE_SIZE as u64 + 900), 0xFF);
        // The second range completes it: the page is now shared.
        image.copy_range_from(&array, PAGE_SIZE as u64 + 512, 512);
        assert!(image.dirty_pages(&array).is_empty());
        assert_eq!(image.private_pages(&array), 0);
        // Writing the array again leaves the image alone.
        array.write(PAGE_SIZE as u64 + 8, &[9]);
        assert_eq!(image.byte(PAGE_SIZE as u64 + 8), 1);
        assert_eq!(image.dirty_pages(&array), vec![1]);
    }

    #[test]
    fn copy_range_shares_pages_and_equality_ignores_representation() {
        let mut a = Storage::filled(4 * PAGE_SIZE as u64, 0xFF);
        a.write(PAGE_SIZE as u64 + 10, &[1, 2, 3]);
        let mut b = Storage::filled(4 * PAGE_SIZE as u64, 0xFF);
        b.copy_range_from(&a, 0, 4 * PAGE_SIZE as u64);
        assert_eq!(a, b);
        assert_eq!(b.private_pages(&a), 0);
        let explicit = Storage::from_bytes(&a.to_vec());
        assert_eq!(explicit, a);
        assert_eq!(explicit.sha256_hex(), a.sha256_hex());
    }
}
