//! `norcompat replay`: an op list on one device, traced as QEMU's qtest tools trace it.

use crate::commands::CliError;
use crate::generation::ops::parse_ops;
use devices::{BlockBackend, DeviceSpec};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// `norcompat replay` arguments.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Device: 'TYPE,prop=value,...' (QEMU property names), e.g.
    /// 'cfi.pflash01,name=virt.flash0,num-blocks=256,sector-length=0x40000,width=4,device-width=2'
    #[arg(long)]
    pub device: String,
    /// Backing image (written through on program/erase, as QEMU does).
    /// Without it the flash starts erased (0xFF) on a writable in-memory image.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Do not write back to --image (QEMU's snapshot=on).
    #[arg(long, requires = "image")]
    pub snapshot: bool,
    /// Attach the image read-only (the device's `ro`: programs and erases fail).
    #[arg(long)]
    pub read_only: bool,
    /// Write the trace here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Load this migration stream before the first op (QEMU's whole-VM
    /// stream or a model's): the device takes its section instance
    /// `--instance` and the RAM block named by its `name`; the other
    /// sections and blocks are skipped (listed in the output).
    #[arg(long)]
    pub incoming: Option<PathBuf>,
    /// The device's section instance on its board (virt.flash1: 1), for
    /// `--incoming` and for the streams `--outgoing` writes.
    #[arg(long, default_value_t = 0)]
    pub instance: u32,
    /// Each `migrate` op writes its stream as DIR/opN.bin, ready for
    /// `qemu-system-arm -incoming`.
    #[arg(long)]
    pub outgoing: Option<PathBuf>,
    /// The machine type written into streams (e.g. virt-7.2); default: the
    /// device release's own, or the incoming stream's.
    #[arg(long)]
    pub machine_type: Option<String>,
    /// Target page bits of the streams `--outgoing` writes (default: the
    /// machine type's in QEMU 7.2: 10 for musicpal and versatilepb, else 12).
    #[arg(long)]
    pub target_page_bits: Option<u32>,
    /// Op list (JSON array), '-' for standard input.
    pub ops: PathBuf,
}

/// Runs `norcompat replay`.
pub fn replay(args: ReplayArgs) -> Result<ExitCode, CliError> {
    let spec = DeviceSpec::parse(&args.device)?;
    let image_size = devices::image_size(&spec)?;
    let backend = match &args.image {
        Some(path) => {
            let b = BlockBackend::file(path, !args.read_only)?;
            if args.snapshot {
                b.fork()
            } else {
                b
            }
        }
        None => BlockBackend::memory(image_size, 0xFF, !args.read_only),
    };
    let window = devices::window_size(&spec)?;
    let (text, name) = if args.ops.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s, "<stdin>".to_string())
    } else {
        let name = args.ops.display().to_string();
        let text = std::fs::read_to_string(&args.ops).map_err(|e| format!("{name}: {e}"))?;
        (text, name)
    };
    let ops = parse_ops(&text, &name, window)?;
    let incoming = match &args.incoming {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    if let Some(dir) = &args.outgoing {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let streams = crate::running::replay::StreamOptions {
        incoming,
        instance: args.instance,
        outgoing: args.outgoing.clone(),
        machine_type: args.machine_type.clone(),
        target_page_bits: args.target_page_bits,
    };
    let out = crate::running::replay::replay_with(&spec, backend, &ops, &streams)?;
    let json = serde_json::to_string_pretty(&out.to_json())? + "\n";
    match &args.output {
        Some(path) => std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
