//! Streams written by real QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18,
//! qemu-system-arm with the qtest accelerator; how each was made is in
//! tests/data/foreign/README.md): `analyze` decodes them, and their
//! flash-only rewrite loads into a v5 model machine with the same flash
//! devices, carrying exactly what QEMU had.

use devices::migration::foreign::{
    analyze, analyze_with, flash_only, flash_only_with, select_instance, DecodedSection,
    FlashOnlyOptions, SectionKind, SizeMethod,
};
use devices::migration::{LoadErrorKind, Machine};
use devices::{bus_write, BlockBackend, DeviceSpec, DeviceState, FlashDevice, Storage};

/// `musicpal` writes 1 KiB pages; the model reads 4 KiB ones.
const MODEL_PAGE_BITS: u32 = 12;
const MIB: u64 = 1 << 20;

const VIRT_FLASH: &str = "cfi.pflash01,num-blocks=256,sector-length=0x40000,width=4,\
    device-width=2,id0=0x89,id1=0x18";
const MUSICPAL_FLASH: &str = "cfi.pflash02,name=musicpal.flash,num-blocks=128,\
    sector-length=0x10000,width=2,mappings=4,id0=0xBF,id1=0x236D,unlock-addr0=0x5555,\
    unlock-addr1=0x2AAA";

fn stream(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/foreign/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn device(spec: &str, len: u64) -> Box<dyn FlashDevice> {
    let spec = DeviceSpec::parse(spec).expect("spec parses");
    devices::create(&spec, BlockBackend::memory(len, 0, true)).expect("device realizes")
}

fn virt_flash(unit: u32) -> Box<dyn FlashDevice> {
    device(&format!("{VIRT_FLASH},name=virt.flash{unit}"), 64 * MIB)
}

/// The fields a v5 cfi01 sends: (wcycle, cmd, status, counter, blk_offset, blk_bytes).
type WireFields = (u8, u8, u8, u64, u32, Option<Vec<u8>>);

fn wire_fields(d: &dyn FlashDevice) -> WireFields {
    match d.state() {
        DeviceState::Cfi01V5(s) => (
            s.wcycle,
            s.cmd,
            s.status,
            s.counter,
            s.blk_offset,
            s.blk_bytes,
        ),
        other => panic!("not a v5 cfi01: {other:?}"),
    }
}

#[test]
fn virt_7_2_stream_is_decoded() {
    let bytes = stream("virt-7.2.mig");
    let info = analyze(&bytes).unwrap();
    let cfg = info.configuration.as_ref().unwrap();
    assert_eq!(cfg.machine_type, "virt-7.2");
    assert_eq!(cfg.target_page_bits, Some(12));
    assert!(cfg.capabilities.is_empty());
    assert_eq!(info.page_size, 4096);
    let ram = info.ram.as_ref().unwrap();
    assert_eq!(ram.section_id, 2);
    let blocks: Vec<(&str, u64, u64, u64)> = ram
        .blocks
        .iter()
        .map(|b| (b.name.as_str(), b.length, b.zero_pages, b.data_pages))
        .collect();
    assert_eq!(
        blocks,
        vec![
            ("mach-virt.ram", 128 * MIB, 32766, 2),
            ("virt.flash0", 64 * MIB, 16384, 0),
            ("virt.flash1", 64 * MIB, 16383, 1),
            ("/rom@etc/acpi/tables", 0x20000, 30, 2),
            ("/rom@etc/table-loader", 0x1000, 0, 1),
            ("/rom@etc/acpi/rsdp", 0x1000, 0, 1),
        ]
    );
    assert_eq!(ram.total, blocks.iter().map(|b| b.1).sum::<u64>());
    let order: Vec<(SectionKind, u32, &str, u32)> = info
        .sections
        .iter()
        .map(|s| (s.kind, s.section_id, s.idstr.as_str(), s.instance))
        .collect();
    use SectionKind::*;
    assert_eq!(
        order,
        vec![
            (Start, 2, "ram", 0),
            (Part, 2, "ram", 0),
            (End, 2, "ram", 0),
            (Full, 0, "timer", 0),
            (Full, 4, "pflash_cfi01", 0),
            (Full, 5, "pflash_cfi01", 1),
            (Full, 6, "cpu_common", 0),
            (Full, 7, "cpu", 0),
            (Full, 8, "arm_gic", 0),
            (Full, 9, "pl011", 0),
            (Full, 10, "pl031", 0),
            (Full, 11, "0000:00:00.0/gpex_root", 0),
            (Full, 12, "PCIHost", 0),
            (Full, 13, "PCIBUS", 0),
            (Full, 14, "pl061", 0),
            (Full, 15, "gpio-key", 0),
            (Full, 16, "fw_cfg", 0),
            (Full, 17, "virt_acpi_build", 0),
            (Full, 18, "globalstate", 0),
        ]
    );
    // Every device section was sized by its vmdesc entry, and the size
    // landed on its footer.
    for s in info.sections.iter().filter(|s| s.idstr != "ram") {
        assert_eq!(s.method, SizeMethod::Vmdesc, "{}", s.idstr);
    }
    assert!(info.notes.is_empty(), "{:?}", info.notes);
    let vmdesc = info.vmdesc.as_ref().unwrap();
    assert!(vmdesc.follows_eof);
    assert_eq!(vmdesc.offset, info.eof_offset + 1);
    assert_eq!(vmdesc.offset + 5 + vmdesc.len, bytes.len());

    // flash0: a buffered write left open (E8, count 1); flash1: a word
    // programmed with 0x40, command still 0x40.
    let flash: Vec<_> = info.sections_named("pflash_cfi01").collect();
    assert_eq!(flash[0].subsections, vec!["pflash_cfi01_blk_write"]);
    assert_eq!(flash[0].data_len, 11 + 2 + 22 + 4 + 4096 + 4);
    assert!(flash[1].subsections.is_empty());
    let Some(DecodedSection::Known {
        value,
        vbuffer_len,
        vbuffer_from,
        ..
    }) = &flash[0].decoded
    else {
        panic!("{:?}", flash[0].decoded)
    };
    assert_eq!(
        (
            value.u8("wcycle"),
            value.u8("cmd"),
            value.u8("status"),
            value.u64("counter")
        ),
        (Some(2), Some(0xE8), Some(0x80), Some(1))
    );
    let (_, blk) = value.sub("pflash_cfi01_blk_write").unwrap();
    assert_eq!(blk.u32("blk_offset"), Some(0));
    assert_eq!(blk.bytes("blk_bytes"), Some(&[0u8; 4096][..]));
    assert_eq!(*vbuffer_len, Some(4096));
    assert_eq!(vbuffer_from.as_deref(), Some("vmdesc"));
    let Some(DecodedSection::Known { value, .. }) = &flash[1].decoded else {
        panic!("{:?}", flash[1].decoded)
    };
    assert_eq!(
        (
            value.u8("wcycle"),
            value.u8("cmd"),
            value.u8("status"),
            value.u64("counter")
        ),
        (Some(0), Some(0x40), Some(0x80), Some(0))
    );
    // A non-flash section decoded with its vmdesc entry.
    let Some(DecodedSection::Described { value }) =
        &info.sections_named("pl031").next().unwrap().decoded
    else {
        panic!("pl031 not decoded with the vmdesc")
    };
    assert!(value.get("pl031/tick-offset").is_some());

    let text = info.to_text();
    assert!(text.contains("machine type 'virt-7.2'"), "{text}");
    assert!(text.contains("'pflash_cfi01' instance 0 v1"), "{text}");
    let json = info.to_json();
    assert_eq!(json["configuration"]["machine_type"], "virt-7.2");
    assert_eq!(json["sections"][4]["decoded"]["fields"]["cmd"], 0xE8);
}

#[test]
fn virt_7_2_flash_only_loads_into_a_v5_model_with_qemus_state() {
    let bytes = stream("virt-7.2.mig");
    let info = analyze_with(&bytes, &|name| name.starts_with("virt.flash")).unwrap();
    let out = flash_only(&bytes, &|idstr| idstr == "pflash_cfi01", &|name| {
        name.starts_with("virt.flash")
    })
    .unwrap();
    let skipped: Vec<&str> = out
        .skipped_sections
        .iter()
        .map(|s| s.idstr.as_str())
        .collect();
    assert_eq!(skipped.len(), 14);
    assert!(skipped.contains(&"cpu") && skipped.contains(&"globalstate"));
    let blocks: Vec<&str> = out.skipped_blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        blocks,
        vec![
            "mach-virt.ram",
            "/rom@etc/acpi/tables",
            "/rom@etc/table-loader",
            "/rom@etc/acpi/rsdp"
        ]
    );
    assert!(out.stream.len() < bytes.len() / 2);

    // The rewritten stream: only the flash, no vmdesc.
    let again = analyze(&out.stream).unwrap();
    assert!(again.vmdesc.is_none());
    assert_eq!(
        again.sections.iter().filter(|s| s.idstr != "ram").count(),
        2
    );

    // A v5 model of the same board loads it.
    let mut dst = Machine::new("virt-7.2", vec![virt_flash(0), virt_flash(1)]);
    let report = dst.load_into(&out.stream).unwrap();
    assert_eq!(report.ram_blocks, vec!["virt.flash0", "virt.flash1"]);
    assert_eq!(report.sections.len(), 2);

    // The same guest writes on a model: QEMU's state is the model's.
    let mut expected = [virt_flash(0), virt_flash(1)];
    bus_write(expected[1].as_mut(), 0, 4, 0x0040_0040);
    bus_write(expected[1].as_mut(), 0, 4, 0x1234_5678);
    bus_write(expected[0].as_mut(), 0, 4, 0x00E8_00E8);
    bus_write(expected[0].as_mut(), 0, 4, 0x0001_0001);
    for (unit, (got, want)) in dst.devices.iter().zip(&expected).enumerate() {
        assert_eq!(
            wire_fields(got.as_ref()),
            wire_fields(want.as_ref()),
            "flash{unit}"
        );
        assert_eq!(got.array(), want.array(), "flash{unit} array");
        let rebuilt = info
            .block(&format!("virt.flash{unit}"))
            .and_then(|b| b.contents.as_ref())
            .unwrap();
        assert_eq!(
            got.array(),
            rebuilt,
            "flash{unit} array as the stream has it"
        );
    }
    let (wcycle, cmd, _, counter, blk_offset, blk) = wire_fields(dst.devices[0].as_ref());
    assert_eq!((wcycle, cmd, counter, blk_offset), (2, 0xE8, 1, 0));
    assert_eq!(blk.map(|b| b.len()), Some(4096));
    let mut word = [0u8; 4];
    dst.devices[1].array().read(0, &mut word);
    assert_eq!(word, 0x1234_5678u32.to_le_bytes());
}

#[test]
fn musicpal_stream_is_decoded_with_1k_pages() {
    let bytes = stream("musicpal.mig");
    let info = analyze(&bytes).unwrap();
    let cfg = info.configuration.as_ref().unwrap();
    assert_eq!(cfg.machine_type, "musicpal");
    // ARMv5: the minimum page size, so no target-page-bits subsection.
    assert_eq!(cfg.target_page_bits, None);
    assert!(cfg.subsections.is_empty());
    assert_eq!(info.page_size, 1024);
    assert_eq!(info.page_size_from, "vmdesc page_size");
    let blocks: Vec<(&str, u64, u64, u64)> = info
        .ram
        .as_ref()
        .unwrap()
        .blocks
        .iter()
        .map(|b| (b.name.as_str(), b.length, b.zero_pages, b.data_pages))
        .collect();
    // The erased 64 KiB sector travels as 64 full 1 KiB pages.
    assert_eq!(
        blocks,
        vec![
            ("musicpal.ram", 32 * MIB, 32768, 0),
            ("musicpal.flash", 8 * MIB, 8128, 64),
            ("musicpal.sram", 0x20000, 128, 0),
        ]
    );
    // cfi02 has no VMState in QEMU 7.2.
    assert_eq!(info.sections_named("pflash_cfi02").count(), 0);
    let ids: Vec<(u32, &str, u32)> = info
        .sections
        .iter()
        .filter(|s| s.kind == SectionKind::Full)
        .map(|s| (s.section_id, s.idstr.as_str(), s.instance))
        .collect();
    assert_eq!(
        ids,
        vec![
            (0, "timer", 0),
            (4, "cpu_common", 0),
            (5, "cpu", 0),
            (6, "mv88w8618_pic", 0),
            (7, "mv88w8618_pit", 0),
            (8, "or-irq", 0),
            (9, "serial", 0),
            (10, "serial", 1),
            (11, "mv88w8618_flashcfg", 0),
            (12, "mv88w8618_eth", 0),
            (13, "musicpal_gpio", 0),
            (14, "i2c_bus", 0),
            (15, "musicpal_lcd", 0),
            (16, "musicpal_key", 0),
            (18, "wm8750", 0),
            (19, "mv88w8618_audio", 0),
            (20, "globalstate", 0),
        ]
    );
    for s in info.sections.iter().filter(|s| s.idstr != "ram") {
        assert_eq!(s.method, SizeMethod::Vmdesc, "{}", s.idstr);
    }
    assert!(info.notes.is_empty(), "{:?}", info.notes);
}

#[test]
fn musicpal_flash_only_loads_into_a_v5_model_after_repaging() {
    let bytes = stream("musicpal.mig");
    let keep_block = |name: &str| name == "musicpal.flash";
    // As written (1 KiB pages, no page bits) the model refuses it, as it
    // refuses any stream whose target page size is not 4 KiB.
    let verbatim = flash_only(&bytes, &|_| false, &keep_block).unwrap();
    let mut dst = Machine::new("musicpal", vec![device(MUSICPAL_FLASH, 8 * MIB)]);
    let err = dst.load_into(&verbatim.stream).unwrap_err();
    assert_eq!(err.error.kind(), LoadErrorKind::MachineType, "{err}");
    assert!(err
        .to_string()
        .starts_with("Received TARGET_PAGE_BITS is 10 but local is 12"));

    let out = flash_only_with(
        &bytes,
        &|_| false,
        &keep_block,
        &FlashOnlyOptions {
            target_page_bits: Some(MODEL_PAGE_BITS),
        },
    )
    .unwrap();
    assert_eq!(out.skipped_sections.len(), 17);
    let again = analyze(&out.stream).unwrap();
    assert_eq!(again.page_size, 4096);
    let flash = again.block("musicpal.flash").unwrap();
    // 2048 pages of 4 KiB: zero pages travel as ZERO, every other page
    // whole, as QEMU writes them: the 16 of the erased (0xFF) sector 0, one
    // of them programmed.
    assert_eq!((flash.zero_pages, flash.data_pages), (2032, 16));

    let report = dst.load_into(&out.stream).unwrap();
    assert_eq!(report.ram_blocks, vec!["musicpal.flash"]);
    // QEMU erased sector 0 (0xFF) and programmed 0x1234 at 0x1000.
    let mut want = Storage::filled(8 * MIB, 0);
    want.fill(0, 0x10000, 0xFF);
    want.write(0x1000, &[0x34, 0x12]);
    assert_eq!(dst.devices[0].array(), &want);
    let info = analyze_with(&bytes, &keep_block).unwrap();
    assert_eq!(
        info.block("musicpal.flash").unwrap().contents.as_ref(),
        Some(&want)
    );
}

#[test]
fn select_instance_keeps_one_flash_of_the_board_under_another_instance_id() {
    let bytes = stream("virt-7.2.mig");
    let pflash = |idstr: &str| idstr == "pflash_cfi01";
    let out = flash_only(&bytes, &pflash, &|name| name == "virt.flash1").unwrap();
    // flash1 (instance 1) as the only device of a machine: instance 0.
    let one = select_instance(&out.stream, &pflash, 1, 0).unwrap();
    let info = analyze(&one).unwrap();
    let flash: Vec<_> = info.sections_named("pflash_cfi01").collect();
    assert_eq!(flash.len(), 1);
    assert_eq!(flash[0].instance, 0);
    let Some(DecodedSection::Known { value, .. }) = &flash[0].decoded else {
        panic!("{:?}", flash[0].decoded)
    };
    assert_eq!(
        value.u8("cmd"),
        Some(0x40),
        "flash1's section, not flash0's"
    );
    let mut m = Machine::new("virt-7.2", vec![virt_flash(1)]);
    m.load_into(&one).unwrap();
    assert_eq!(wire_fields(m.devices[0].as_ref()).1, 0x40);
    // And back: a one-device stream addressed to instance 1.
    let back = select_instance(&one, &pflash, 0, 1).unwrap();
    let again = analyze(&back).unwrap();
    assert_eq!(
        again
            .sections_named("pflash_cfi01")
            .next()
            .unwrap()
            .instance,
        1
    );
    // Other sections and the RAM section are copied unchanged.
    assert_eq!(back.len(), one.len());
    assert_eq!(again.ram, info.ram);
    // An instance the stream lacks leaves no flash section.
    let none = select_instance(&out.stream, &pflash, 7, 0).unwrap();
    assert_eq!(
        analyze(&none)
            .unwrap()
            .sections_named("pflash_cfi01")
            .count(),
        0
    );
}
