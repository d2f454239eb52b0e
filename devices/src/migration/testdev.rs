//! A minimal flash-like device for the stream layer's unit tests: it has a
//! command byte with a legacy encoding (0x00 on the old wire, 0xFF live), a
//! counter, an optional staging buffer sent in a subsection, and an array.

use crate::backend::BlockBackend;
use crate::clock::Nanos;
use crate::device::FlashDevice;
use crate::storage::Storage;
use crate::vmstate::{
    FieldDesc, FieldKind, FieldValue, Hooks, SavedSection, SectionValue, SubsectionDesc,
    VmStateDescription, VmStateEntry,
};

pub const MOCK: &str = "mock";
pub const MOCK_OLD: &str = "mock_old";
pub const MOCK_BUF: &str = "mock/buf";
/// A command value the mock's post_load refuses.
pub const REFUSED_CMD: u8 = 0x42;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mock {
    pub name: String,
    pub array: Storage,
    pub cmd: u8,
    pub counter: u64,
    pub buf: Option<(Vec<u8>, u32)>,
    pub buf_len: usize,
    /// Emits the old layout (as under a compat machine type).
    pub legacy: bool,
    /// Registers nothing at all (like v5 cfi02).
    pub stateless: bool,
    pub post_incoming_runs: u32,
}

#[derive(Debug)]
pub struct MockDevice {
    pub m: Mock,
    backend: BlockBackend,
}

impl MockDevice {
    pub fn new(name: &str, len: u64, fill: u8) -> MockDevice {
        MockDevice {
            m: Mock {
                name: name.to_string(),
                array: Storage::filled(len, fill),
                cmd: 0xFF,
                counter: 0,
                buf: None,
                buf_len: 16,
                legacy: false,
                stateless: false,
                post_incoming_runs: 0,
            },
            backend: BlockBackend::none(),
        }
    }

    fn old_vmsd() -> VmStateDescription {
        VmStateDescription {
            name: MOCK_OLD,
            version_id: 1,
            minimum_version_id: 1,
            fields: vec![
                FieldDesc::new("cmd", FieldKind::U8),
                FieldDesc::new("counter", FieldKind::U64),
            ],
            subsections: vec![],
            hooks: Hooks {
                pre_save: true,
                post_save: true,
                pre_load: false,
                post_load: true,
            },
        }
    }

    fn new_vmsd(&self) -> VmStateDescription {
        VmStateDescription {
            name: MOCK,
            version_id: 2,
            minimum_version_id: 1,
            fields: vec![
                FieldDesc::new("cmd", FieldKind::U8),
                FieldDesc::new("counter", FieldKind::U64),
            ],
            subsections: vec![SubsectionDesc {
                vmsd: VmStateDescription {
                    name: MOCK_BUF,
                    version_id: 1,
                    minimum_version_id: 1,
                    fields: vec![
                        FieldDesc::new(
                            "data",
                            FieldKind::VBuffer {
                                len: self.m.buf_len,
                            },
                        ),
                        FieldDesc::new("offset", FieldKind::U32),
                    ],
                    subsections: vec![],
                    hooks: Hooks::NONE,
                },
                needed: "while a buffer is open",
            }],
            hooks: Hooks {
                pre_load: true,
                post_load: true,
                ..Hooks::NONE
            },
        }
    }
}

impl FlashDevice for MockDevice {
    fn type_name(&self) -> &'static str {
        MOCK
    }
    fn window_size(&self) -> u64 {
        self.m.array.len()
    }
    fn romd(&self) -> bool {
        true
    }
    fn rom_read(&self, addr: u64, size: usize) -> u64 {
        self.m.array.read_le(addr, size)
    }
    fn io_read(&mut self, addr: u64, size: u32) -> u64 {
        self.m.array.read_le(addr, size as usize)
    }
    fn io_write(&mut self, addr: u64, size: u32, value: u64) {
        self.m.array.write_le(addr, size as usize, value)
    }
    fn now(&self) -> Nanos {
        0
    }
    fn next_deadline(&self) -> Option<Nanos> {
        None
    }
    fn advance(&mut self, _ns: Nanos) {}
    fn reset(&mut self) {}
    fn array(&self) -> &Storage {
        &self.m.array
    }
    fn backend(&self) -> &BlockBackend {
        &self.backend
    }
    fn ram_block_name(&self) -> &str {
        &self.m.name
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn fork(&self) -> Box<dyn FlashDevice> {
        Box::new(MockDevice {
            m: self.m.clone(),
            backend: self.backend.fork(),
        })
    }
    fn migrated(&self) -> Box<dyn FlashDevice> {
        unreachable!("the mock migrates through the stream only")
    }
    fn vmstate_entries(&self) -> Vec<VmStateEntry> {
        if self.m.stateless {
            vec![]
        } else if self.m.legacy {
            vec![
                VmStateEntry::emit(Self::old_vmsd()),
                VmStateEntry::load_only(self.new_vmsd()),
            ]
        } else {
            vec![
                VmStateEntry::emit(self.new_vmsd()),
                VmStateEntry::load_only(Self::old_vmsd()),
            ]
        }
    }
    fn save_vmstate(&self) -> Vec<SavedSection> {
        if self.m.stateless {
            return vec![];
        }
        if self.m.legacy {
            // pre_save on the wire copy: 0xFF travels as 0x00.
            let cmd = if self.m.cmd == 0xFF { 0 } else { self.m.cmd };
            return vec![SavedSection {
                idstr: MOCK_OLD,
                version: 1,
                value: SectionValue::new()
                    .with("cmd", FieldValue::U8(cmd))
                    .with("counter", FieldValue::U64(self.m.counter)),
            }];
        }
        let mut value = SectionValue::new()
            .with("cmd", FieldValue::U8(self.m.cmd))
            .with("counter", FieldValue::U64(self.m.counter));
        if let Some((data, off)) = &self.m.buf {
            value = value.with_sub(
                MOCK_BUF,
                1,
                SectionValue::new()
                    .with("data", FieldValue::Bytes(data.clone()))
                    .with("offset", FieldValue::U32(*off)),
            );
        }
        vec![SavedSection {
            idstr: MOCK,
            version: 2,
            value,
        }]
    }
    fn load_vmstate(
        &mut self,
        idstr: &str,
        _version: u32,
        value: &SectionValue,
    ) -> Result<(), String> {
        let cmd = value.u8("cmd").unwrap_or(0xFF);
        if cmd == REFUSED_CMD {
            return Err(format!("command {cmd:#04x} is not valid"));
        }
        self.m.counter = value.u64("counter").unwrap_or(0);
        match idstr {
            MOCK_OLD => {
                self.m.cmd = if cmd == 0 { 0xFF } else { cmd };
                self.m.buf = None;
            }
            _ => {
                self.m.cmd = cmd;
                // pre_load default: no buffer unless the subsection came.
                self.m.buf = value.sub(MOCK_BUF).map(|(_, s)| {
                    (
                        s.bytes("data").unwrap_or_default().to_vec(),
                        s.u32("offset").unwrap_or(0),
                    )
                });
            }
        }
        Ok(())
    }
    fn load_ram_block(&mut self, array: Storage) {
        self.m.array = array;
    }
    fn reopen_drive(&mut self, drive: BlockBackend) {
        self.backend = drive;
    }
    fn post_incoming(&mut self) {
        self.m.post_incoming_runs += 1;
    }
}
