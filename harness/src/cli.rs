//! Subcommand implementations behind `norcompat`'s argument parsing.

use crate::ops::parse_ops;
use crate::replay::replay as run_replay;
use devices::{BlockBackend, DeviceSpec};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// A user-facing error: printed as one line, exit status 2.
pub type CliError = Box<dyn std::error::Error>;

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
    let out = run_replay(&spec, backend, &ops)?;
    let json = serde_json::to_string_pretty(&out.to_json())? + "\n";
    match &args.output {
        Some(path) => std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The main job (`cargo run --release`).
pub fn main_job() -> Result<ExitCode, CliError> {
    println!("norcompat {}", env!("CARGO_PKG_VERSION"));
    println!("The compatibility matrix is not built yet; available now:");
    println!("  norcompat replay --device 'TYPE,prop=value,...' OPS.json");
    Ok(ExitCode::SUCCESS)
}
