//! Block backends: where a flash writes back its array, as QEMU's `drive`.
//!
//! QEMU writes the touched range back to the drive on every program and erase
//! (`blk_pwrite`). A backend here keeps an in-memory copy of the image (cheap
//! to snapshot, see [`Storage`]) and, for a file backend, writes the same range
//! through to the file.

use crate::storage::Storage;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors opening or writing a backing image.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("device requires {required} bytes, block backend provides {provided} bytes")]
    SizeMismatch { required: u64, provided: u64 },
}

/// The backing image of a flash device.
#[derive(Clone, Debug)]
pub struct BlockBackend {
    kind: Kind,
    image: Option<Storage>,
    writable: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    /// No drive: the array is RAM only and starts all zero (QEMU without `drive`).
    None,
    /// An image that lives only in memory.
    Memory,
    /// An image file, written through. A fork of a device detaches from the
    /// file: only the original writes to it.
    File {
        path: PathBuf,
        file: Option<Arc<File>>,
    },
}

impl BlockBackend {
    /// No drive at all.
    pub fn none() -> BlockBackend {
        BlockBackend {
            kind: Kind::None,
            image: None,
            writable: true,
        }
    }

    /// An in-memory image of `len` bytes filled with `fill` (0xFF = erased).
    pub fn memory(len: u64, fill: u8, writable: bool) -> BlockBackend {
        BlockBackend {
            kind: Kind::Memory,
            image: Some(Storage::filled(len, fill)),
            writable,
        }
    }

    /// An in-memory image with the given contents.
    pub fn memory_from(image: Storage, writable: bool) -> BlockBackend {
        BlockBackend {
            kind: Kind::Memory,
            image: Some(image),
            writable,
        }
    }

    /// An image file; writes go through to it when `writable`.
    pub fn file(path: &Path, writable: bool) -> Result<BlockBackend, BackendError> {
        let io_err = |source| BackendError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io_err)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(io_err)?;
        Ok(BlockBackend {
            kind: Kind::File {
                path: path.to_path_buf(),
                file: Some(Arc::new(file)),
            },
            image: Some(Storage::from_bytes(&bytes)),
            writable,
        })
    }

    /// True when a drive is attached.
    pub fn has_drive(&self) -> bool {
        !matches!(self.kind, Kind::None)
    }

    /// False for a read-only drive (the device's `ro`).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The drive's size in bytes, if a drive is attached.
    pub fn size(&self) -> Option<u64> {
        self.image.as_ref().map(Storage::len)
    }

    /// The initial array for a device of `len` bytes (realize): the image, or
    /// all zero without a drive. Fails as QEMU's block layer does on a size mismatch.
    pub fn initial_array(&self, len: u64) -> Result<Storage, BackendError> {
        match &self.image {
            None => Ok(Storage::filled(len, 0)),
            Some(image) if image.len() == len => Ok(image.clone()),
            Some(image) => Err(BackendError::SizeMismatch {
                required: len,
                provided: image.len(),
            }),
        }
    }

    /// The current image contents (`None` without a drive).
    pub fn image(&self) -> Option<&Storage> {
        self.image.as_ref()
    }

    /// Writes `[off, off+len)` of `array` back to the drive (QEMU's
    /// `pflash_update` / `blk_pwrite`). A no-op without a drive or when read-only.
    pub fn write_back(&mut self, array: &Storage, off: u64, len: u64) {
        if !self.writable {
            return;
        }
        let Some(image) = self.image.as_mut() else {
            return;
        };
        image.copy_range_from(array, off, len);
        if let Kind::File {
            path,
            file: Some(file),
        } = &self.kind
        {
            let mut buf = vec![0u8; len as usize];
            array.read(off, &mut buf);
            // A failed write-through is reported but cannot be undone; QEMU
            // likewise only logs block-layer write errors from pflash.
            if let Err(e) = file.write_all_at(&buf, off) {
                eprintln!(
                    "warning: {}: write-back at {off:#x} failed: {e}",
                    path.display()
                );
            }
        }
    }

    /// A copy for a forked device: same image, detached from any file.
    pub fn fork(&self) -> BlockBackend {
        let mut out = self.clone();
        if let Kind::File { file, .. } = &mut out.kind {
            *file = None;
        }
        out
    }
}
