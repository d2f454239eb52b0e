//! The compatibility matrix as named tests (libtest-mimic):
//! `regression::<file>` (saved reproducers, listed first),
//! `matrix::<scenario>::<src>-><dst>` (chains `a->b->a`) over each scenario's
//! seeds (`NORCOMPAT_SEEDS` overrides), and `soak::<scenario>::<chain>`
//! (ignored; `--ignored` runs each scenario's long seed set).

use harness::definitions::project::{default_root, Project};
use harness::definitions::versions::Version;
use harness::judging::imitation::check_imitations;
use harness::judging::models::check_against_models;
use harness::judging::verdicts::run_cells;
use harness::minimizing::reproducer::Reproducer;
use harness::results::records::shrink_trial;
use harness::running::behaviour;
use harness::running::matrix::{chain_name, real_seeds, seeds_for};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::PathBuf;
use std::sync::Arc;

fn regression_trials(project: &Arc<Project>) -> Vec<Trial> {
    let dir = project.root.join("scenarios/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = format!(
                "regression::{}",
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let project = project.clone();
            Trial::test(name, move || {
                let r = Reproducer::load(&path)?;
                let chain = r
                    .chain
                    .iter()
                    .map(|n| {
                        project
                            .version(n)
                            .cloned()
                            .ok_or_else(|| format!("unknown version '{n}'"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let result = harness::judging::verdicts::run_chain(&chain, &r.devices, &r.ops)?;
                let expected =
                    harness::judging::expectations::expected_outcomes(&chain, &r.devices);
                if expected.contains(&result.outcome) {
                    Ok(())
                } else {
                    Err(Failed::from(format!(
                        "{}: {} (expected {:?}): {}\nreproduce: {}",
                        chain_name(&chain),
                        result.outcome.name(),
                        expected,
                        result.reason,
                        Reproducer::command(&path)
                    )))
                }
            })
        })
        .collect()
}

fn cell_trial(project: &Arc<Project>, scenario: usize, chain: Vec<usize>, long: bool) -> Trial {
    let s = project.scenarios[scenario].clone();
    let cname = chain_name(&project.chain_versions(&chain));
    let prefix = if long { "soak" } else { "matrix" };
    let name = format!("{prefix}::{}::{cname}", s.name);
    let real = chain.iter().any(|i| project.versions[*i].is_real());
    // Without a usable QEMU its trials are ignored (the reason is printed
    // first); with NORCOMPAT_REQUIRE_QEMU=1 (CI) they run and fail.
    let unavailable = !project.chain_available(&chain) && !require_qemu();
    let project = project.clone();
    Trial::test(name, move || {
        if !project.chain_available(&chain) {
            let why: Vec<String> = project
                .unavailable
                .iter()
                .map(|(n, r)| format!("{n}: {r}"))
                .collect();
            return Err(format!("real QEMU is required here: {}", why.join("; ")).into());
        }
        let seeds = if real {
            real_seeds(&seeds_for(&s, long))
        } else {
            seeds_for(&s, long)
        };
        let mut trials = run_cells(&project, &s, std::slice::from_ref(&chain), &seeds);
        check_against_models(&project, &mut trials);
        check_imitations(&project, &mut trials);
        let failures: Vec<_> = trials.iter().filter(|t| !t.as_expected()).collect();
        if failures.is_empty() {
            return Ok(());
        }
        let mut msg = format!("{} of {} seeds unexpected\n", failures.len(), trials.len());
        for t in failures.iter().take(3) {
            let ops = shrink_trial(t);
            let repro = Reproducer {
                format: harness::minimizing::reproducer::FORMAT.into(),
                scenario: s.name.clone(),
                seed: t.seed,
                chain: t.chain.iter().map(|v| v.name.clone()).collect(),
                devices: s.devices.clone(),
                outcome: t.result.outcome,
                reason: t.result.reason.clone(),
                ops,
            };
            let saved = repro.save(&project.root.join("scenarios/regressions"));
            msg.push_str(&format!(
                "seed {}: {} (expected {:?}): {}\n  reproduce: {}\n",
                t.seed,
                t.result.outcome.name(),
                t.expected,
                t.result.reason,
                match &saved {
                    Ok(p) => Reproducer::command(p),
                    Err(e) => format!(
                        "cargo run --release -- trial --scenario {} --seed {} --chain {} (saving failed: {e})",
                        s.name,
                        t.seed,
                        repro.chain.join(",")
                    ),
                }
            ));
        }
        Err(msg.into())
    })
    .with_ignored_flag(long || unavailable)
}

/// CI sets NORCOMPAT_REQUIRE_QEMU=1: a missing QEMU is then a failure.
fn require_qemu() -> bool {
    std::env::var("NORCOMPAT_REQUIRE_QEMU").is_ok_and(|v| v == "1")
}

/// `behaviour::<scenario>::<a>=<b>`: the scenario's sequences on two
/// versions of a board without migrating must behave the same.
fn behaviour_trial(
    project: &Arc<Project>,
    scenario: usize,
    a: Arc<Version>,
    b: Arc<Version>,
) -> Trial {
    let s = project.scenarios[scenario].clone();
    let name = format!("behaviour::{}::{}={}", s.name, a.name, b.name);
    let real = a.is_real() || b.is_real();
    let usable = project.available(&a) && project.available(&b);
    let project = project.clone();
    Trial::test(name, move || {
        if !usable {
            return Err(
                "real QEMU is required here (NORCOMPAT_REQUIRE_QEMU=1) but not usable".into(),
            );
        }
        let seeds = seeds_for(&s, false);
        let seeds = if real { real_seeds(&seeds) } else { seeds };
        for seed in seeds {
            let ops = behaviour::sequence(&project, &s, seed);
            if let Some(d) = harness::judging::behaviour::check_pair(&a, &b, &s.devices, &ops) {
                // Between releases, a difference the reviewed file lists
                // (shrunk first, as the main job matches it) is known.
                let summary = format!("{} at {}: {} vs {}", d.what, d.at, d.a, d.b);
                let shown: Vec<String> = ops
                    .iter()
                    .enumerate()
                    .map(|(i, op)| format!("{i}: {op}"))
                    .collect();
                if let Some(e) =
                    harness::judging::releases::listing(&project, &a, &b, &summary, &shown)
                {
                    eprintln!(
                        "{} and {} differ on seed {seed}: known difference '{}'",
                        a.name, b.name, e.id
                    );
                    continue;
                }
                return Err(format!(
                    "{} and {} differ on seed {seed}: {} at {}: {} vs {}\nreproduce: {}",
                    a.name,
                    b.name,
                    d.what,
                    d.at,
                    d.a,
                    d.b,
                    harness::judging::behaviour::reproduce_command(&s.name, seed, &a.name, &b.name)
                )
                .into());
            }
        }
        Ok(())
    })
    .with_ignored_flag(!usable && !require_qemu())
}

fn main() {
    let args = Arguments::from_args();
    let project = match Project::load(&default_root()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    for (name, reason) in &project.unavailable {
        eprintln!(
            "note: trials through {name} are ignored: {reason} (set up with `bash scripts/setup-qemu.sh`)"
        );
    }
    let mut trials = regression_trials(&project);
    for (i, s) in project.scenarios.iter().enumerate() {
        for board in project.scenario_boards(s) {
            for (a, b) in behaviour::all_pairs(&project, &board) {
                trials.push(behaviour_trial(&project, i, a, b));
            }
        }
    }
    for long in [false, true] {
        for (i, s) in project.scenarios.iter().enumerate() {
            for chain in project.chains(s) {
                trials.push(cell_trial(&project, i, chain, long));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
