//! `norcompat bench`: throughput figures measured in one run — device
//! accesses per second, migrations per second, trials per second, the
//! prefix-sharing speedup over naive re-execution, the `--jobs` scaling ratio
//! and the peak RSS. Targets are judged on these ratios, never by timing
//! assertions in tests.

use crate::commands::{load_project, CliError};
use crate::definitions::project::Project;
use crate::generation::generator::TrialOp;
use crate::judging::verdicts::run_cells;
use crate::running::board::Board;
use crate::running::launch::load;
use crate::running::machine::{Scratch, VersionMachine};
use std::process::ExitCode;

use devices::{bus_read, bus_write, BlockBackend, DeviceSpec, FlashDevice};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// arm virt's flash0 (64 MiB, two x16 chips).
pub const VIRT_FLASH0: &str = "cfi.pflash01,name=virt.flash0,num-blocks=256,sector-length=0x40000,width=4,device-width=2,id0=0x89,id1=0x18";

/// Runs `f` repeatedly for about `budget`; returns operations per second,
/// where each call of `f` performs `per_call` operations.
fn rate(budget: Duration, per_call: u64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        f();
        calls += 1;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

fn device(spec: &str) -> Box<dyn FlashDevice> {
    let spec = DeviceSpec::parse(spec).expect("bench device spec");
    let size = devices::image_size(&spec).expect("bench device size");
    devices::create(&spec, BlockBackend::memory(size, 0xFF, true)).expect("bench device")
}

/// Device access rates on one core (accesses per second).
pub fn access_rates(budget: Duration) -> Value {
    const N: u64 = 4096;
    let mut dev = device(VIRT_FLASH0);
    let romd_reads = rate(budget, N, || {
        for i in 0..N {
            black_box(bus_read(dev.as_mut(), (i * 4) & 0x3FF_FFFC, 4));
        }
    });
    // Command writes: read-status (0x70) then read-array (0xFF), alternating.
    let command_writes = rate(budget, N, || {
        for i in 0..N {
            let v = if i & 1 == 0 { 0x0070_0070 } else { 0x00FF_00FF };
            bus_write(dev.as_mut(), 0x1000, 4, v);
        }
    });
    bus_write(dev.as_mut(), 0, 4, 0x0070_0070);
    let status_reads = rate(budget, N, || {
        for i in 0..N {
            black_box(bus_read(dev.as_mut(), (i * 4) & 0xFFFC, 4));
        }
    });
    json!({
        "romd_reads_per_s": romd_reads,
        "command_writes_per_s": command_writes,
        "status_reads_per_s": status_reads,
    })
}

/// Whole-board migrations (save + load) per second after touching `touched` bytes.
pub fn migration_rate(project: &Project, budget: Duration) -> Value {
    let Some(v) = project.versions.first() else {
        return Value::Null;
    };
    let targets: Vec<String> = v.devices.iter().map(|d| d.id.clone()).collect();
    let mut board = Board::new(v, &targets).expect("bench board");
    // Touch 1 MiB of flash0: program one word in each of 256 pages.
    for i in 0..256u64 {
        board.apply(&TrialOp::Write {
            dev: 0,
            addr: i * 4096,
            width: 4,
            val: 0x40,
        });
        board.apply(&TrialOp::Write {
            dev: 0,
            addr: i * 4096,
            width: 4,
            val: i,
        });
    }
    let scratch = Scratch::default();
    let per_s = rate(budget, 1, || {
        let saved = VersionMachine::save(&mut board, &scratch).expect("a model saves");
        black_box(load(&saved, v, &targets, &scratch, false).ok());
    });
    json!({ "version": v.name, "migrations_per_s": per_s, "us_per_migration": 1e6 / per_s })
}

/// Trials per second on `jobs` threads over the default scenarios.
fn trials_per_s(project: &Arc<Project>, seeds: &[u64], jobs: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .expect("thread pool");
    let start = Instant::now();
    let n: usize = pool.install(|| {
        // All scenarios at once, so no core idles at the end of a scenario.
        project
            .scenarios
            .par_iter()
            .map(|s| run_cells(project, s, &project.model_chains(s), seeds).len())
            .sum()
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// Prefix sharing: one reference per (scenario, seed, source) forked for
/// every destination, versus re-running reference and prefix per chain.
fn fork_vs_naive(project: &Project, seeds: &[u64]) -> Value {
    let start = Instant::now();
    let mut n = 0;
    for s in &project.scenarios {
        n += run_cells(project, s, &project.model_chains(s), seeds).len();
    }
    let shared = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for s in &project.scenarios {
        for chain in project.model_chains(s) {
            let versions = project.chain_versions(&chain);
            for seed in seeds {
                let seq =
                    crate::generation::sequences::sequence(project, s, *seed, chain.len() - 1);
                // Naive: a reference run of its own per chain, then the trial.
                black_box(
                    crate::running::matrix::run_chain(
                        &versions,
                        &s.devices,
                        &seq.ops,
                        crate::running::trial::Record::Nothing,
                    )
                    .ok(),
                );
            }
        }
    }
    let naive = start.elapsed().as_secs_f64();
    json!({ "trials": n, "shared_s": shared, "naive_s": naive, "speedup": naive / shared })
}

/// Real-QEMU trials per second, per board with a usable real version, on
/// 1 and 2 threads, with where the time goes (QEMU starts, qtest ops,
/// migrations, the final stream and comparison) summed over the trials.
fn real_trial_rates(project: &Arc<Project>, seeds: &[u64]) -> Value {
    let mut out = serde_json::Map::new();
    for board in project.boards() {
        let real: Vec<usize> = project
            .board_versions(&board)
            .into_iter()
            .filter(|i| project.versions[*i].is_real())
            .collect();
        if real.is_empty() {
            continue;
        }
        if !real
            .iter()
            .all(|i| project.available(&project.versions[*i]))
        {
            out.insert(board, json!("left out: QEMU not usable here"));
            continue;
        }
        let scenarios: Vec<_> = project
            .scenarios
            .iter()
            .filter(|s| project.scenario_boards(s).contains(&board))
            .cloned()
            .collect();
        let mut per_jobs = serde_json::Map::new();
        for jobs in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(jobs)
                .build()
                .expect("thread pool");
            crate::running::qemu_machine::TIMINGS.take();
            let start = Instant::now();
            let n: usize = pool.install(|| {
                scenarios
                    .iter()
                    .map(|s| {
                        let chains: Vec<Vec<usize>> = project
                            .chains(s)
                            .into_iter()
                            .filter(|c| {
                                c.len() == 2
                                    && c.iter().any(|i| project.versions[*i].is_real())
                                    && project.versions[c[0]].board == board
                            })
                            .collect();
                        run_cells(project, s, &chains, seeds).len()
                    })
                    .sum()
            });
            let secs = start.elapsed().as_secs_f64();
            per_jobs.insert(
                format!("jobs_{jobs}"),
                json!({
                    "trials": n,
                    "seconds": secs,
                    "trials_per_s": n as f64 / secs,
                    "split": crate::running::qemu_machine::TIMINGS.take(),
                }),
            );
        }
        out.insert(board, Value::Object(per_jobs));
    }
    Value::Object(out)
}

/// Peak resident set size of this process, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The whole benchmark summary.
pub fn run(project: Arc<Project>, quick: bool) -> Value {
    let budget = Duration::from_millis(if quick { 150 } else { 1000 });
    let seeds: Vec<u64> = (0..if quick { 6 } else { 24 }).collect();
    let accesses = access_rates(budget);
    let migrations = migration_rate(&project, budget);
    let t1 = trials_per_s(&project, &seeds, 1);
    let t2 = trials_per_s(&project, &seeds, 2);
    let fork = fork_vs_naive(&project, &seeds);
    let real_seeds: Vec<u64> = (0..if quick { 1 } else { 3 }).collect();
    let real = real_trial_rates(&project, &real_seeds);
    json!({
        "norcompat": env!("CARGO_PKG_VERSION"),
        "quick": quick,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "accesses": accesses,
        "migrations": migrations,
        "trials_per_s": { "jobs_1": t1, "jobs_2": t2 },
        "jobs_scaling_ratio": t2 / t1,
        "fork_vs_naive": fork,
        "real_qemu_trials": real,
        "peak_rss_kib": peak_rss_kib(),
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
