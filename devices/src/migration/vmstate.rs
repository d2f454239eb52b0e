//! State descriptions (QEMU's `VMStateDescription`) and the generic encoder
//! and decoder they drive.
//!
//! A description lists a section's fields in wire order with their kinds and
//! sizes, and its subsections with the human-readable rule that decides
//! whether they are sent. There are no names or types on the wire: both sides
//! must hold the same description (spec migration.md §2.4). Descriptions are
//! built per device instance, because a `VBuffer` takes its length from the
//! local configuration (cfi01's write-block size).

use super::error::LoadError;
use super::wire::{Reader, Writer};
use std::fmt;

/// Marker byte of a subsection (`QEMU_VM_SUBSECTION`).
pub const QEMU_VM_SUBSECTION: u8 = 0x05;

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

/// Where a section being decoded came from, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct SectionCtx<'a> {
    pub idstr: &'a str,
    pub instance: u32,
}

fn kind_matches(kind: FieldKind, value: &FieldValue) -> bool {
    matches!(
        (kind, value),
        (FieldKind::U8, FieldValue::U8(_))
            | (FieldKind::U16, FieldValue::U16(_))
            | (FieldKind::U32, FieldValue::U32(_))
            | (FieldKind::U64, FieldValue::U64(_))
            | (FieldKind::I32, FieldValue::I32(_))
            | (FieldKind::I64, FieldValue::I64(_))
            | (FieldKind::Bool, FieldValue::Bool(_))
    ) || match (kind, value) {
        (FieldKind::Buffer { len } | FieldKind::VBuffer { len }, FieldValue::Bytes(b)) => {
            b.len() == len
        }
        _ => false,
    }
}

/// Writes `value` as described by `vmsd` at `version`: the fields of that
/// version in order, then the subsections present in `value`.
///
/// A value that does not match its description is a bug in the device that
/// produced it, and panics with the section and field named.
pub fn encode(vmsd: &VmStateDescription, version: u32, value: &SectionValue, w: &mut Writer) {
    let mut given = value.fields.iter();
    for field in vmsd.fields.iter().filter(|f| f.version_id <= version) {
        let Some((name, v)) = given.next() else {
            panic!(
                "{}: pre_save produced no value for field '{}'",
                vmsd.name, field.name
            );
        };
        assert!(
            name == field.name && kind_matches(field.kind, v),
            "{}: field '{}' ({:?}) does not match the description's '{}' ({:?})",
            vmsd.name,
            name,
            v,
            field.name,
            field.kind
        );
        match v {
            FieldValue::U8(x) => w.u8(*x),
            FieldValue::U16(x) => w.be16(*x),
            FieldValue::U32(x) => w.be32(*x),
            FieldValue::U64(x) => w.be64(*x),
            FieldValue::I32(x) => w.be32(*x as u32),
            FieldValue::I64(x) => w.be64(*x as u64),
            FieldValue::Bool(x) => w.u8(u8::from(*x)),
            FieldValue::Bytes(b) => w.bytes(b),
        }
    }
    if let Some((extra, _)) = given.next() {
        panic!("{}: field '{extra}' is not in the description", vmsd.name);
    }
    for (name, sub_version, sub) in &value.subsections {
        let Some(desc) = vmsd.subsection(name) else {
            panic!(
                "{}: subsection '{name}' is not in the description",
                vmsd.name
            );
        };
        w.u8(QEMU_VM_SUBSECTION);
        w.str_u8(name);
        w.be32(*sub_version);
        encode(&desc.vmsd, *sub_version, sub, w);
    }
}

/// Reads one (sub)section of `version` as described by `vmsd`
/// (QEMU's `vmstate_load_state`), including its subsections.
pub fn decode(
    vmsd: &VmStateDescription,
    version: u32,
    r: &mut Reader<'_>,
    ctx: SectionCtx<'_>,
) -> Result<SectionValue, LoadError> {
    let start = r.offset();
    if version > vmsd.version_id {
        return Err(LoadError::VersionTooNew {
            offset: start,
            vmsd: vmsd.name.to_string(),
            version,
            local: vmsd.version_id,
        });
    }
    if version < vmsd.minimum_version_id {
        return Err(LoadError::VersionTooOld {
            offset: start,
            vmsd: vmsd.name.to_string(),
            version,
            minimum: vmsd.minimum_version_id,
        });
    }
    let mut out = SectionValue::new();
    for field in vmsd.fields.iter().filter(|f| f.version_id <= version) {
        let what = format_args!(
            "section '{}' instance {} field '{}:{}'",
            ctx.idstr, ctx.instance, vmsd.name, field.name
        );
        let v = match field.kind {
            FieldKind::U8 => FieldValue::U8(r.u8(&what)?),
            FieldKind::U16 => FieldValue::U16(r.be16(&what)?),
            FieldKind::U32 => FieldValue::U32(r.be32(&what)?),
            FieldKind::U64 => FieldValue::U64(r.be64(&what)?),
            FieldKind::I32 => FieldValue::I32(r.be32(&what)? as i32),
            FieldKind::I64 => FieldValue::I64(r.be64(&what)? as i64),
            // QEMU's get_bool stores the byte as is: any non-zero value is true.
            FieldKind::Bool => FieldValue::Bool(r.u8(&what)? != 0),
            FieldKind::Buffer { len } | FieldKind::VBuffer { len } => {
                FieldValue::Bytes(r.bytes(len, &what)?.to_vec())
            }
        };
        out.fields.push((field.name.to_string(), v));
    }
    decode_subsections(vmsd, r, ctx, &mut out)?;
    Ok(out)
}

/// QEMU's `vmstate_subsection_load`: while the next byte is a subsection
/// marker whose name starts with the parent's name, load it; a name without
/// that prefix belongs to whatever follows.
fn decode_subsections(
    vmsd: &VmStateDescription,
    r: &mut Reader<'_>,
    ctx: SectionCtx<'_>,
    out: &mut SectionValue,
) -> Result<(), LoadError> {
    while r.peek(0) == Some(QEMU_VM_SUBSECTION) {
        let Some(len) = r.peek(1) else { break };
        let len = len as usize;
        if len < vmsd.name.len() + 1 {
            break;
        }
        let Some(name) = r.peek_bytes(2, len) else {
            break;
        };
        if !name.starts_with(vmsd.name.as_bytes()) {
            break;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let Some(desc) = vmsd.subsection(&name) else {
            return Err(LoadError::UnknownSubsection {
                offset: r.offset(),
                idstr: ctx.idstr.to_string(),
                instance: ctx.instance,
                subsection: name,
            });
        };
        r.seek(r.offset() + 2 + len);
        // QEMU reads the subsection version into a uint8_t.
        let version = r.be32(&format_args!("subsection '{name}' version"))? as u8 as u32;
        let value = decode(&desc.vmsd, version, r, ctx)?;
        out.subsections.push((name, version, value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc() -> VmStateDescription {
        VmStateDescription {
            name: "dev",
            version_id: 2,
            minimum_version_id: 1,
            fields: vec![
                FieldDesc::new("a", FieldKind::U8),
                FieldDesc::new("b", FieldKind::U64),
                FieldDesc {
                    name: "c",
                    kind: FieldKind::U16,
                    version_id: 2,
                },
            ],
            subsections: vec![SubsectionDesc {
                vmsd: VmStateDescription {
                    name: "dev/sub",
                    version_id: 1,
                    minimum_version_id: 1,
                    fields: vec![FieldDesc::new("buf", FieldKind::VBuffer { len: 3 })],
                    subsections: vec![],
                    hooks: Hooks::NONE,
                },
                needed: "always in this test",
            }],
            hooks: Hooks::NONE,
        }
    }

    const CTX: SectionCtx<'static> = SectionCtx {
        idstr: "dev",
        instance: 0,
    };

    #[test]
    fn encodes_fields_then_subsections_and_decodes_back() {
        let value = SectionValue::new()
            .with("a", FieldValue::U8(7))
            .with("b", FieldValue::U64(0x0102))
            .with("c", FieldValue::U16(0xBEEF))
            .with_sub(
                "dev/sub",
                1,
                SectionValue::new().with("buf", FieldValue::Bytes(vec![1, 2, 3])),
            );
        let mut w = Writer::new();
        encode(&desc(), 2, &value, &mut w);
        let bytes = w.into_bytes();
        let mut expected = vec![7, 0, 0, 0, 0, 0, 0, 1, 2, 0xBE, 0xEF, 5, 7];
        expected.extend_from_slice(b"dev/sub");
        expected.extend_from_slice(&[0, 0, 0, 1, 1, 2, 3]);
        assert_eq!(bytes, expected);
        let mut r = Reader::new(&bytes);
        assert_eq!(decode(&desc(), 2, &mut r, CTX).unwrap(), value);
        assert!(r.at_end());
    }

    #[test]
    fn version_gated_fields_are_absent_from_older_streams() {
        let bytes = [7u8, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut r = Reader::new(&bytes);
        let v = decode(&desc(), 1, &mut r, CTX).unwrap();
        assert_eq!(v.u8("a"), Some(7));
        assert_eq!(v.u16("c"), None);
        assert!(r.at_end());
    }

    #[test]
    fn subsection_rules_follow_qemu() {
        let fields = [7u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
        // A marker whose name lacks the parent prefix belongs to what follows.
        let mut bytes = fields.to_vec();
        bytes.extend_from_slice(&[5, 4]);
        bytes.extend_from_slice(b"othr");
        let mut r = Reader::new(&bytes);
        decode(&desc(), 2, &mut r, CTX).unwrap();
        assert_eq!(r.offset(), fields.len());
        // The right prefix but an unknown name: ENOENT.
        let mut bytes = fields.to_vec();
        bytes.extend_from_slice(&[5, 7]);
        bytes.extend_from_slice(b"dev/new");
        let mut r = Reader::new(&bytes);
        let err = decode(&desc(), 2, &mut r, CTX).unwrap_err();
        assert!(matches!(
            err,
            LoadError::UnknownSubsection { offset: 11, .. }
        ));
        assert_eq!(
            err.to_string(),
            "error while loading state for instance 0x0 of device 'dev': unknown subsection \
             'dev/new': No such file or directory (at byte 11)"
        );
        // The version is truncated to 8 bits: 0x101 loads as version 1.
        let mut bytes = fields.to_vec();
        bytes.extend_from_slice(&[5, 7]);
        bytes.extend_from_slice(b"dev/sub");
        bytes.extend_from_slice(&[0, 0, 1, 1, 9, 9, 9]);
        let mut r = Reader::new(&bytes);
        let v = decode(&desc(), 2, &mut r, CTX).unwrap();
        assert_eq!(v.sub("dev/sub").map(|(ver, _)| ver), Some(1));
        // Too new a subsection.
        let n = bytes.len();
        bytes[n - 4] = 2;
        let err = decode(&desc(), 2, &mut Reader::new(&bytes), CTX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dev/sub: incoming version_id 2 is too new for local version_id 1 (at byte 24)"
        );
    }

    #[test]
    fn too_old_uses_qemus_two_spaces() {
        let err = decode(&desc(), 0, &mut Reader::new(&[]), CTX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dev: incoming version_id 0 is too old for local minimum version_id  1 (at byte 0)"
        );
    }
}
