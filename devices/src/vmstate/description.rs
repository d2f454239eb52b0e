//! State descriptions (QEMU's `VMStateDescription`) and the values they
//! describe.
//!
//! A description lists a section's fields in wire order with their kinds and
//! sizes, and its subsections with the human-readable rule that decides
//! whether they are sent. There are no names or types on the wire: both sides
//! must hold the same description (spec migration.md §2.4). Descriptions are
//! built per device instance, because a `VBuffer` takes its length from the
//! local configuration (cfi01's write-block size).

use std::fmt;

/// How one field is laid out on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    U8,
    U16,
    U32,
    U64,
    I32,
    I64,
    Bool,
    /// Fixed-size raw bytes (`VMSTATE_BUFFER`): the size is part of the type.
    Buffer {
        len: usize,
    },
    /// Raw bytes whose length comes from the *receiving* device's
    /// configuration (`VMSTATE_VBUFFER`); it is not on the wire, and
    /// `-dump-vmstate` shows it as size 0.
    VBuffer {
        len: usize,
    },
}

impl FieldKind {
    /// Bytes this field occupies on the wire.
    pub fn wire_len(self) -> usize {
        match self {
            FieldKind::U8 | FieldKind::Bool => 1,
            FieldKind::U16 => 2,
            FieldKind::U32 | FieldKind::I32 => 4,
            FieldKind::U64 | FieldKind::I64 => 8,
            FieldKind::Buffer { len } | FieldKind::VBuffer { len } => len,
        }
    }

    /// The `size` QEMU's `-dump-vmstate` prints (0 for variable buffers).
    pub fn dump_size(self) -> usize {
        match self {
            FieldKind::VBuffer { .. } => 0,
            other => other.wire_len(),
        }
    }

    /// QEMU's vmdesc type name (`uint8`, `buffer`, ...).
    pub fn type_name(self) -> &'static str {
        match self {
            FieldKind::U8 => "uint8",
            FieldKind::U16 => "uint16",
            FieldKind::U32 => "uint32",
            FieldKind::U64 => "uint64",
            FieldKind::I32 => "int32",
            FieldKind::I64 => "int64",
            FieldKind::Bool => "bool",
            FieldKind::Buffer { .. } | FieldKind::VBuffer { .. } => "buffer",
        }
    }
}

/// One field of a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    pub name: &'static str,
    pub kind: FieldKind,
    /// The field is on the wire only in streams of at least this version (`_V` fields).
    pub version_id: u32,
}

impl FieldDesc {
    /// A field present since version 0 (every stream).
    pub const fn new(name: &'static str, kind: FieldKind) -> FieldDesc {
        FieldDesc {
            name,
            kind,
            version_id: 0,
        }
    }
}

/// A subsection and the rule that decides whether the source sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsectionDesc {
    pub vmsd: VmStateDescription,
    /// The `needed()` predicate, in words (for dumps and documentation).
    pub needed: &'static str,
}

/// Which massaging hooks a description has (QEMU's pre_save, post_save,
/// pre_load, post_load). In this crate saving works on a copy of the state, so
/// `post_save` never has anything to undo; it is still declared where QEMU
/// needs one, so the description says what the conversion is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    pub pre_save: bool,
    pub post_save: bool,
    pub pre_load: bool,
    pub post_load: bool,
}

impl Hooks {
    /// No hooks.
    pub const NONE: Hooks = Hooks {
        pre_save: false,
        post_save: false,
        pre_load: false,
        post_load: false,
    };

    /// The names of the hooks present.
    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (present, name) in [
            (self.pre_save, "pre_save"),
            (self.post_save, "post_save"),
            (self.pre_load, "pre_load"),
            (self.post_load, "post_load"),
        ] {
            if present {
                out.push(name);
            }
        }
        out
    }
}

/// A state description (`VMStateDescription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmStateDescription {
    /// The VMState name: the section id string of a sysbus device, and the
    /// prefix every subsection name must carry.
    pub name: &'static str,
    pub version_id: u32,
    pub minimum_version_id: u32,
    /// Fields in wire order.
    pub fields: Vec<FieldDesc>,
    pub subsections: Vec<SubsectionDesc>,
    pub hooks: Hooks,
}

impl VmStateDescription {
    /// The subsection description called `name`.
    pub fn subsection(&self, name: &str) -> Option<&SubsectionDesc> {
        self.subsections.iter().find(|s| s.vmsd.name == name)
    }

    /// Bytes of the fields of a stream of `version` (subsections excluded).
    pub fn fields_len(&self, version: u32) -> usize {
        self.fields
            .iter()
            .filter(|f| f.version_id <= version)
            .map(|f| f.kind.wire_len())
            .sum()
    }
}

/// The value of one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I32(i32),
    I64(i64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::U8(v) => write!(f, "{v:#04x}"),
            FieldValue::U16(v) => write!(f, "{v:#06x}"),
            FieldValue::U32(v) => write!(f, "{v:#010x}"),
            FieldValue::U64(v) => write!(f, "{v:#018x}"),
            FieldValue::I32(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::Bytes(b) => write!(f, "{} bytes", b.len()),
        }
    }
}

/// The wire copy of one section or subsection: field values in wire order
/// and the subsections present, each with its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionValue {
    pub fields: Vec<(String, FieldValue)>,
    pub subsections: Vec<(String, u32, SectionValue)>,
}

impl SectionValue {
    /// An empty value.
    pub fn new() -> SectionValue {
        SectionValue::default()
    }

    /// Appends a field (builder style).
    pub fn with(mut self, name: &str, value: FieldValue) -> SectionValue {
        self.fields.push((name.to_string(), value));
        self
    }

    /// Appends a subsection of `version` (builder style).
    pub fn with_sub(mut self, name: &str, version: u32, value: SectionValue) -> SectionValue {
        self.subsections.push((name.to_string(), version, value));
        self
    }

    /// The field called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Mutable access to the field called `name` (pre_save conversions on the wire copy).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut FieldValue> {
        self.fields
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// A u8 field.
    pub fn u8(&self, name: &str) -> Option<u8> {
        match self.get(name)? {
            FieldValue::U8(v) => Some(*v),
            _ => None,
        }
    }

    /// A u16 field.
    pub fn u16(&self, name: &str) -> Option<u16> {
        match self.get(name)? {
            FieldValue::U16(v) => Some(*v),
            _ => None,
        }
    }

    /// A u32 field.
    pub fn u32(&self, name: &str) -> Option<u32> {
        match self.get(name)? {
            FieldValue::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// A u64 field.
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            FieldValue::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// An i64 field.
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            FieldValue::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// An i32 field.
    pub fn i32(&self, name: &str) -> Option<i32> {
        match self.get(name)? {
            FieldValue::I32(v) => Some(*v),
            _ => None,
        }
    }

    /// A bool field.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            FieldValue::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// A buffer field.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        match self.get(name)? {
            FieldValue::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// The last subsection called `name` (QEMU loads a repeated subsection
    /// again, so the last copy wins), with its version.
    pub fn sub(&self, name: &str) -> Option<(u32, &SectionValue)> {
        self.subsections
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, s)| (*v, s))
    }
}
