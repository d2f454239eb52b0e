//! The main job (`norcompat`, `norcompat matrix`): the default matrix, a
//! summary table and the HTML report.

use crate::commands::{load_project, CliError, DEFAULT_OUT};
use crate::results::run_info::{now_rfc3339, run_info};
use std::path::PathBuf;
use std::process::ExitCode;

/// True if a behaviour cell compares versions of different releases (judged
/// against the known differences, not failed outright).
fn between_releases(
    project: &crate::definitions::project::Project,
    c: &reports::results::BehaviourCell,
) -> bool {
    match (project.version(&c.a), project.version(&c.b)) {
        (Some(a), Some(b)) => crate::definitions::versions::across_releases(a, b),
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
    /// Also run the chains and pairs through real QEMU builds
    /// (NORCOMPAT_REAL_SEEDS seeds per scenario, default 2): about a minute
    /// here, where the default run of the models stays under 10 s.
    #[arg(long)]
    pub real: bool,
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
    if args.real {
        for (name, reason) in &project.unavailable {
            println!(
                "left out: {name} ({reason}); set it up with `{}`",
                crate::definitions::emulators::SETUP_COMMAND
            );
        }
    } else {
        let real = project.versions.iter().filter(|v| v.is_real()).count();
        println!(
            "models only: the {real} real QEMU versions run with `cargo run --release -- matrix --real`"
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
        let reals = if args.real {
            crate::running::matrix::real_seeds(&seeds)
        } else {
            Vec::new()
        };
        trials.extend(crate::judging::verdicts::run_available(
            &project, s, &seeds, &reals,
        ));
        behaviour.extend(crate::judging::behaviour::run_behaviour_of(
            &project, s, &seeds, &reals,
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
    for line in coverage_lines(&results.coverage) {
        println!("{line}");
    }
    for c in results
        .cells
        .iter()
        .filter(|c| reports::prediction_failed(c))
    {
        // The static checker is a prediction: when it does not come true,
        // either the checker or the code is wrong.
        println!(
            "note: {}: the static prediction did not come true ({})",
            c.chain.join("->"),
            reports::prediction(c).unwrap_or_default()
        );
    }
    // Released wire formats are frozen: a model version whose dump is not
    // its golden's fails the run.
    let (checked, changed) = crate::judging::frozen::check_project(&project);
    for c in &changed {
        println!(
            "FAILED wire format of {} ({}) is not its golden's:\n    {}\n  if that is intended, update the golden in the same change: {}",
            c.version,
            c.machine_type,
            c.findings.join("\n    "),
            c.regenerate
        );
    }
    println!(
        "frozen wire formats: {checked} model versions checked against {}, {} changed",
        crate::judging::frozen::GOLDEN_DIR,
        changed.len()
    );
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
    Ok(
        if unexpected == 0 && differ == 0 && unlisted == 0 && changed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// One line per device type: the command-cycle states its trials migrated
/// in, and those none did.
fn coverage_lines(rows: &[reports::results::CoverageRow]) -> Vec<String> {
    reports::coverage_by_type(rows)
        .iter()
        .map(|t| {
            format!(
                "coverage: {}: migrated in {}/{} command-cycle states{}",
                t.device_type,
                t.cycles - t.never.len(),
                t.cycles,
                if t.never.is_empty() {
                    String::new()
                } else {
                    format!(" (never: {})", t.never.join("; "))
                }
            )
        })
        .collect()
}
