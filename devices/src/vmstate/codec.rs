//! The generic encoder and decoder that descriptions drive (QEMU's
//! `vmstate_save_state` and `vmstate_load_state`), subsections included.

use super::description::{FieldKind, FieldValue, SectionValue, VmStateDescription};
use super::error::LoadError;
use super::wire::{Reader, Writer};

/// Marker byte of a subsection (`QEMU_VM_SUBSECTION`).
pub const QEMU_VM_SUBSECTION: u8 = 0x05;

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
    use crate::vmstate::{FieldDesc, Hooks, SubsectionDesc};

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
