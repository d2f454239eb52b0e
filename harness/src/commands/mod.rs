//! Subcommand implementations behind `norcompat`'s argument parsing.

pub mod bench;
pub mod introspect;
pub mod replay;
pub mod vmstate;

use crate::generation::ops::parse_ops;
use crate::results::run_info::{now_rfc3339, run_info};
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

/// `norcompat analyze-stream` arguments.
#[derive(clap::Args, Debug)]
pub struct AnalyzeStreamArgs {
    /// A migration stream (QEMU's, or one norcompat wrote).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `norcompat analyze-stream`: what a stream holds, like QEMU's
/// `scripts/analyze-migration.py` (including the streams its 7.2 version
/// cannot read: the variable-size write-buffer subsection).
pub fn analyze_stream(args: AnalyzeStreamArgs) -> Result<ExitCode, CliError> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| format!("{name}: {e}"))?;
    let info = devices::migration::foreign::analyze(&bytes).map_err(|e| format!("{name}: {e}"))?;
    let text = if args.json {
        serde_json::to_string_pretty(&info.to_json())? + "\n"
    } else {
        info.to_text()
    };
    // A closed pipe (`| head`) ends the output, not the program with a panic.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
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
    let streams = crate::commands::replay::StreamOptions {
        incoming,
        instance: args.instance,
        outgoing: args.outgoing.clone(),
        machine_type: args.machine_type.clone(),
        target_page_bits: args.target_page_bits,
    };
    let out = crate::commands::replay::replay_with(&spec, backend, &ops, &streams)?;
    let json = serde_json::to_string_pretty(&out.to_json())? + "\n";
    match &args.output {
        Some(path) => std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where reports go unless `--out` says otherwise.
pub const DEFAULT_OUT: &str = "target/norcompat";

fn load_project() -> Result<crate::definitions::project::Project, CliError> {
    let root = crate::definitions::project::default_root();
    Ok(crate::definitions::project::Project::load(&root)?)
}

/// True if a behaviour cell compares versions of different releases (judged
/// against the known differences, not failed outright).
fn between_releases(
    project: &crate::definitions::project::Project,
    c: &reports::results::BehaviourCell,
) -> bool {
    match (project.version(&c.a), project.version(&c.b)) {
        (Some(a), Some(b)) => crate::judging::releases::across_releases(project, a, b),
        _ => false,
    }
}

/// The differences between releases of a run, judged against the known
/// differences; `None` when no real build ran.
fn cross_release(
    project: &crate::definitions::project::Project,
    outcomes: &[crate::judging::behaviour::BehaviourOutcome],
    cells: &[reports::results::BehaviourCell],
    trials: &[crate::judging::outcome::TrialOutcome],
) -> Option<reports::results::CrossRelease> {
    let real_ran = trials.iter().any(|t| t.chain.iter().any(|v| v.is_real()));
    if !real_ran {
        return None;
    }
    let mut acc = Vec::new();
    for o in outcomes {
        crate::judging::releases::add_behaviour_observation(&mut acc, project, o);
    }
    let mut observed = crate::judging::releases::behaviour_observations(project, acc, cells);
    observed.extend(crate::judging::releases::migration_observations(trials));
    Some(crate::judging::releases::judge(&project.known, observed))
}

/// Options of the main job (`norcompat` without a subcommand, or `norcompat matrix`).
#[derive(clap::Args, Debug, Default)]
pub struct MatrixArgs {
    /// Only these scenarios (comma-separated); default: every scenario marked default.
    #[arg(long, value_delimiter = ',')]
    pub scenario: Vec<String>,
    /// Seeds per scenario (default: each scenario's `seeds`, or NORCOMPAT_SEEDS).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Directory for the HTML report and results JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not save reproducers of failures under scenarios/regressions/.
    #[arg(long)]
    pub no_save: bool,
}

/// The main job: the default matrix, a summary table, the HTML report.
pub fn main_job(args: MatrixArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let started = now_rfc3339();
    let t0 = std::time::Instant::now();
    let scenarios: Vec<_> = project
        .scenarios
        .iter()
        .filter(|s| {
            if args.scenario.is_empty() {
                s.in_default
            } else {
                args.scenario.contains(&s.name)
            }
        })
        .cloned()
        .collect();
    for name in &args.scenario {
        if project.scenario(name).is_none() {
            return Err(format!("unknown scenario '{name}' (see scenarios/*.toml)").into());
        }
    }
    for (name, reason) in &project.unavailable {
        println!(
            "left out: {name} ({reason}); set it up with `{}`",
            crate::definitions::emulators::SETUP_COMMAND
        );
    }
    let mut trials = Vec::new();
    let mut behaviour = Vec::new();
    let mut seed_desc = Vec::new();
    // Drawn on stderr only when it is a terminal (indicatif's default).
    let bar = indicatif::ProgressBar::new(scenarios.len() as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} scenarios | {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    for s in &scenarios {
        bar.set_message(s.name.clone());
        let seeds: Vec<u64> = match args.seeds {
            Some(n) => (0..n).collect(),
            None => crate::running::matrix::seeds_for(s, false),
        };
        seed_desc.push(format!("{}: 0..{}", s.name, seeds.len()));
        trials.extend(crate::judging::verdicts::run_available(&project, s, &seeds));
        behaviour.extend(crate::judging::behaviour::run_behaviour(
            &project, s, &seeds,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let run = run_info(
        "matrix",
        &project.root,
        seed_desc.join(", "),
        scenarios.iter().map(|s| s.name.clone()).collect(),
        &started,
        secs,
    );
    let regressions = project.root.join("scenarios/regressions");
    let mut results = crate::results::records::build(
        &project,
        &trials,
        run,
        (!args.no_save).then_some(regressions.as_path()),
    );
    results.behaviour = crate::minimizing::behaviour::cells(&behaviour);
    results.cross_release = cross_release(&project, &behaviour, &results.behaviour, &trials);
    print!("{}", reports::summary_table(&results));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.root.join(DEFAULT_OUT));
    // A clean clone has no target/norcompat yet (nor does a fresh --out).
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let paths = reports::write_report(&results, &out, "matrix")?;
    println!("report: {}", paths.html.display());
    println!("results: {}", paths.json.display());
    let unexpected: u64 = results.cells.iter().map(|c| c.unexpected).sum();
    // Every version of a board must behave as the others: a difference fails
    // the run, unless it is between releases and the reviewed file lists it.
    let differ: u64 = results
        .behaviour
        .iter()
        .filter(|c| !between_releases(&project, c))
        .map(|c| c.differ)
        .sum();
    let unlisted = results
        .cross_release
        .as_ref()
        .map_or(0, |c| c.unlisted.len());
    for c in &results.cells {
        // An expected loss or refusal that never showed is worth knowing:
        // the features may promise less than the code does.
        for o in [reports::Outcome::Lossy, reports::Outcome::Refused] {
            if c.expected.contains(&o) && c.counts.get(&o).copied().unwrap_or(0) == 0 {
                println!(
                    "note: {}: {} was expected by the features but no trial showed it",
                    c.chain.join("->"),
                    o.name()
                );
            }
        }
    }
    for d in results.details.iter().filter(|d| !d.expected) {
        println!(
            "FAILED {} {} seed {}: {} — {}\n  reproduce: {}",
            d.scenario,
            d.chain.join("->"),
            d.seed,
            d.outcome.map_or("?", |o| o.name()),
            d.reason,
            d.reproduce
        );
    }
    println!(
        "{} trials in {:.2} s ({:.0} trials/s), {} unexpected; {} sequences behave differently; {} differences between releases not in {}",
        results.run.trials,
        secs,
        results.run.trials_per_s,
        unexpected,
        differ,
        unlisted,
        crate::definitions::known_differences::FILE
    );
    Ok(if unexpected == 0 && differ == 0 && unlisted == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `norcompat trial`: one trial by scenario, seed and chain.
#[derive(clap::Args, Debug)]
pub struct TrialArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// Versions visited, comma-separated (e.g. v5,v6 or v5,v6,v5).
    #[arg(long, value_delimiter = ',', required = true)]
    pub chain: Vec<String>,
    /// Print the op-by-op trace with device modes.
    #[arg(long)]
    pub trace: bool,
}

fn chain_of(
    project: &crate::definitions::project::Project,
    names: &[String],
) -> Result<Vec<std::sync::Arc<crate::definitions::versions::Version>>, CliError> {
    if names.len() < 2 {
        return Err("--chain needs at least two versions".into());
    }
    names
        .iter()
        .map(|n| {
            project.version(n).cloned().ok_or_else(|| {
                let known: Vec<&str> = project.versions.iter().map(|v| v.name.as_str()).collect();
                format!("unknown version '{n}' (machines/: {})", known.join(", ")).into()
            })
        })
        .collect()
}

fn report_one(
    project: &crate::definitions::project::Project,
    chain: &[std::sync::Arc<crate::definitions::versions::Version>],
    targets: &[String],
    ops: &[crate::generation::generator::TrialOp],
    trace: bool,
    command: &str,
) -> Result<ExitCode, CliError> {
    let mut result = crate::judging::verdicts::run_chain(chain, targets, ops)?;
    // A real build against its model, seed for seed (as the matrix does).
    if let Some(model) = chain
        .iter()
        .all(|v| v.name == chain[0].name)
        .then(|| crate::definitions::project::model_of(project, &chain[0]))
        .flatten()
    {
        let model_chain: Vec<_> = chain.iter().map(|_| model.clone()).collect();
        let m = crate::judging::verdicts::run_chain(&model_chain, targets, ops)?;
        if let Some(why) =
            crate::judging::models::model_difference(chain, ops, &result, &m, &model.name)
        {
            result.outcome = reports::Outcome::Diverged;
            result.reason = why;
        }
    }
    let expected = crate::judging::expectations::expected_outcomes(chain, targets);
    if trace {
        for row in crate::results::records::op_rows(chain, targets, ops) {
            let vals = match (row.expected, row.got) {
                (Some(e), Some(g)) if e == g => format!(" = {g:#x}"),
                (Some(e), Some(g)) => format!(" = {g:#x} (reference {e:#x})  <-- differs"),
                (None, Some(g)) => format!(" = {g:#x}"),
                _ => String::new(),
            };
            println!(
                "{:>4} {:<10} {:<40} {}{}",
                row.index, row.device, row.mode_before, row.op, vals
            );
        }
    }
    let names: Vec<&str> = chain.iter().map(|v| v.name.as_str()).collect();
    let ok = expected.contains(&result.outcome);
    println!(
        "{}: {}{}{}",
        names.join("->"),
        result.outcome.name(),
        if ok { " (expected)" } else { " (UNEXPECTED)" },
        if result.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", result.reason)
        }
    );
    for d in &result.state_diff {
        println!(
            "  state {}.{}: expected {} got {}",
            d.device, d.field, d.expected, d.got
        );
    }
    for d in &result.flash_diff {
        println!(
            "  {} {} @ {:#x} (sector {}): expected {} got {}",
            d.device, d.what, d.offset, d.sector, d.expected, d.got
        );
    }
    if !ok {
        println!("reproduce: {command}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `norcompat compare`: one sequence on two versions of a board, no migration.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub seed: u64,
    /// The two versions (of the same board).
    pub a: String,
    pub b: String,
}

/// Runs `norcompat compare`: both traces side by side, the first
/// difference and a minimized op list; exit status 1 if they differ.
pub fn compare(args: CompareArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let s = project
        .scenario(&args.scenario)
        .ok_or_else(|| format!("unknown scenario '{}'", args.scenario))?
        .clone();
    let pair = chain_of(&project, &[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&pair[0], &pair[1]);
    if a.board != b.board {
        return Err(format!(
            "{} is on board {}, {} on {}",
            a.name, a.board, b.name, b.board
        )
        .into());
    }
    let ops = crate::running::behaviour::sequence(&project, &s, args.seed);
    let ra = crate::running::behaviour::run_on(a, &s.devices, &ops)?;
    let rb = crate::running::behaviour::run_on(b, &s.devices, &ops)?;
    let va: std::collections::BTreeMap<usize, u64> = ra.reads.iter().copied().collect();
    let vb: std::collections::BTreeMap<usize, u64> = rb.reads.iter().copied().collect();
    println!("{:>4} {:<44} {:>12} {:>12}", "op", "", a.name, b.name);
    for (i, op) in ops.iter().enumerate() {
        let (x, y) = (va.get(&i), vb.get(&i));
        let show = |v: Option<&u64>| v.map_or(String::new(), |v| format!("{v:#x}"));
        let mark = if x != y { "  <-- differs" } else { "" };
        println!(
            "{i:>4} {:<44} {:>12} {:>12}{mark}",
            op.to_string(),
            show(x),
            show(y)
        );
    }
    let Some(d) = crate::judging::behaviour::compare_runs(a, &ops, &ra, &rb) else {
        println!(
            "{} and {} behave the same on {} seed {}",
            a.name, b.name, s.name, args.seed
        );
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "{} and {} differ: {} at {}: {} vs {}",
        a.name, b.name, d.what, d.at, d.a, d.b
    );
    let o = crate::judging::behaviour::BehaviourOutcome {
        board: a.board.clone(),
        scenario: s.clone(),
        a: a.clone(),
        b: b.clone(),
        seed: args.seed,
        ops,
        difference: Some(d),
        model: crate::running::behaviour::mode_model(&project, a, b),
    };
    if let Some(detail) = crate::minimizing::behaviour::detail(&o) {
        println!(
            "minimized ({} ops), mode before the op: {}",
            detail.ops.len(),
            detail.mode
        );
        for op in &detail.ops {
            println!("  {op}");
        }
    }
    Ok(ExitCode::from(1))
}

/// Runs `norcompat trial`.
pub fn trial(args: TrialArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let s = project
        .scenario(&args.scenario)
        .ok_or_else(|| format!("unknown scenario '{}'", args.scenario))?
        .clone();
    let chain = chain_of(&project, &args.chain)?;
    let seq = crate::generation::sequences::sequence(&project, &s, args.seed, chain.len() - 1);
    let cmd = format!(
        "cargo run --release -- trial --scenario {} --seed {} --chain {} --trace",
        s.name,
        args.seed,
        args.chain.join(",")
    );
    report_one(&project, &chain, &s.devices, &seq.ops, args.trace, &cmd)
}

/// `norcompat replay-trial FILE`.
#[derive(clap::Args, Debug)]
pub struct ReplayTrialArgs {
    /// A reproducer file (scenarios/regressions/*.json).
    pub file: PathBuf,
    /// Print the op-by-op trace with device modes.
    #[arg(long)]
    pub trace: bool,
}

/// Runs `norcompat replay-trial`.
pub fn replay_trial(args: ReplayTrialArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let r = crate::minimizing::reproducer::Reproducer::load(&args.file)?;
    let chain = chain_of(&project, &r.chain)?;
    let cmd = crate::minimizing::reproducer::Reproducer::command(&args.file);
    report_one(&project, &chain, &r.devices, &r.ops, args.trace, &cmd)
}

/// `norcompat introspect VERSION`.
#[derive(clap::Args, Debug)]
pub struct IntrospectArgs {
    /// A version name (machines/<name>.toml) or a path to a machine definition.
    pub version: String,
}

/// Runs `norcompat introspect`: QAPI-introspection-shaped schema of each
/// device state struct with its effective features.
pub fn introspect(args: IntrospectArgs) -> Result<ExitCode, CliError> {
    let root = crate::definitions::project::default_root();
    let path = PathBuf::from(&args.version);
    let version = if path.is_file() {
        crate::definitions::versions::load_version(&path)?
    } else {
        crate::definitions::versions::find_version(&root.join("machines"), &args.version)?
    };
    let json = crate::commands::introspect::schema(&version)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}

/// Runs `norcompat soak`; exit status 1 if any trial was unexpected.
pub fn soak(args: crate::soak::SoakArgs) -> Result<ExitCode, CliError> {
    let project = std::sync::Arc::new(load_project()?);
    let (unexpected, _) = crate::soak::soak(project, args)?;
    Ok(if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `norcompat merge` arguments.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Soak output directories (each with trials*.jsonl).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write merged.json and merged.html.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `norcompat merge`; exit status 1 if the merged run has unexpected trials.
pub fn merge(args: MergeArgs) -> Result<ExitCode, CliError> {
    let project = load_project()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.root.join(DEFAULT_OUT).join("merged"));
    let results = crate::soak::merge(&project, &args.dirs, &out)?;
    print!("{}", reports::summary_table(&results));
    let paths = reports::write_report(&results, &out, "merged")?;
    println!("report: {}", paths.html.display());
    println!("results: {}", paths.json.display());
    let unexpected: u64 = results.cells.iter().map(|c| c.unexpected).sum();
    println!(
        "{} trials merged, {} unexpected",
        results.run.trials, unexpected
    );
    Ok(if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `norcompat bench` arguments.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Short measurement windows (a smoke run; figures are noisier).
    #[arg(long)]
    pub quick: bool,
}

/// Runs `norcompat bench` and prints its JSON summary.
pub fn bench(args: BenchArgs) -> Result<ExitCode, CliError> {
    let project = std::sync::Arc::new(load_project()?);
    let summary = crate::commands::bench::run(project, args.quick);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}
