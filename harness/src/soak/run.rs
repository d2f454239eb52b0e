//! `norcompat soak`: long randomized runs on all cores, trials and
//! behaviour checks seed by seed, each seed's records written as it ends.

use crate::definitions::project::Project;
use crate::judging::behaviour::{reproduce_command, run_behaviour_of, BehaviourOutcome};
use crate::judging::imitation::check_imitations;
use crate::judging::models::check_against_models;
use crate::judging::verdicts::run_cells;
use crate::results::records::{detail, record_of, static_checks, wants_detail, CellTally, Listed};
use crate::soak::jsonl::append_line;
use crate::soak::shards::{parse_duration, Shard};
use reports::results::{FailureDetail, ObservedDifference, TrialRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// `norcompat soak` options.
#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// Run until this much time has passed (e.g. 10m, 90s, 1h).
    #[arg(long, conflicts_with = "seeds")]
    pub duration: Option<String>,
    /// Run exactly this many seeds (of the whole run; a shard runs its part).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// First seed of the run.
    #[arg(long, default_value_t = 1000)]
    pub seed_start: u64,
    /// Only these scenarios (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub scenario: Vec<String>,
    /// Only chains among these versions (comma-separated); default all
    /// models (chains through real QEMU only with `--real`).
    #[arg(long, value_delimiter = ',')]
    pub versions: Vec<String>,
    /// Also run chains through real QEMU versions (about 0.3 s per trial
    /// instead of 0.1 ms: a soak otherwise spends its time on them).
    #[arg(long)]
    pub real: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run shard K of N (1-based), e.g. --shard 2/4.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Output directory for JSON lines, reproducers and the report.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// What one finished seed sends to the writer.
struct SeedResult {
    records: Vec<TrialRecord>,
    details: Vec<FailureDetail>,
    /// Behaviour pairs run on this seed: (board, scenario, a, b) and the
    /// outcome when the pair differs.
    behaviour: Vec<(BehaviourKey, Option<BehaviourOutcome>)>,
    /// Hops between real releases that were not identical.
    migration: Vec<(String, ObservedDifference)>,
}

type BehaviourKey = (String, String, String, String);

/// Differing sequences kept per behaviour cell (the first is shrunk for
/// the report; the rest only count).
const KEEP_DIFFERING: usize = 4;

/// Runs a soak; returns the number of unexpected trials.
pub fn soak(
    project: Arc<Project>,
    args: SoakArgs,
) -> Result<(u64, PathBuf), Box<dyn std::error::Error>> {
    let shard = args.shard.unwrap_or(Shard::ALL);
    let scenarios: Vec<_> = if args.scenario.is_empty() {
        project.scenarios.clone()
    } else {
        args.scenario
            .iter()
            .map(|n| {
                project
                    .scenario(n)
                    .cloned()
                    .ok_or_else(|| format!("unknown scenario '{n}'"))
            })
            .collect::<Result<_, _>>()?
    };
    for v in &args.versions {
        if project.version(v).is_none() {
            return Err(format!("unknown version '{v}'").into());
        }
    }
    let chains: Vec<Vec<Vec<usize>>> = scenarios
        .iter()
        .map(|s| {
            project
                .chains(s)
                .into_iter()
                .filter(|c| project.chain_available(c))
                .filter(|c| args.real || !c.iter().any(|i| project.versions[*i].is_real()))
                .filter(|c| {
                    args.versions.is_empty()
                        || c.iter()
                            .all(|i| args.versions.contains(&project.versions[*i].name))
                })
                .collect()
        })
        .collect();
    let limit = match (&args.duration, args.seeds) {
        (Some(d), _) => Limit::Time(parse_duration(d)?),
        (None, Some(n)) => Limit::Seeds(shard.count_in(n)),
        (None, None) => return Err("soak needs --duration or --seeds".into()),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| project.root.join("target/norcompat/soak"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let suffix = shard.suffix();
    let trials_path = out.join(format!("trials{suffix}.jsonl"));
    let details_path = out.join(format!("details{suffix}.jsonl"));
    let mut trials_file =
        File::create(&trials_path).map_err(|e| format!("{}: {e}", trials_path.display()))?;
    let mut details_file =
        File::create(&details_path).map_err(|e| format!("{}: {e}", details_path.display()))?;
    let regressions = out.join("reproducers");

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C: finish the seeds in flight, keep every result, write the report.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = Arc::new(AtomicU64::new(0));
    let started_at = crate::results::run_info::now_rfc3339();
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let checks = Arc::new(static_checks(&project));
    // Workers run in a pool of exactly `jobs` threads; the trials' own
    // parallel loops run in the same pool, so `--jobs` bounds the cores used.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| format!("cannot start {jobs} worker threads: {e}"))?;
    let mut workers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    for _ in 0..jobs {
        let (project, scenarios, chains, stop, next, tx, checks) = (
            project.clone(),
            scenarios.clone(),
            chains.clone(),
            stop.clone(),
            next.clone(),
            tx.clone(),
            checks.clone(),
        );
        let regressions = regressions.clone();
        let seed_start = args.seed_start;
        let real = args.real;
        workers.push(Box::new(move || {
            let mut seen_lossy = BTreeSet::new();
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                match limit {
                    Limit::Seeds(n) if i >= n => return,
                    Limit::Time(d) if t0.elapsed() >= d => return,
                    _ => {}
                }
                let seed = shard.seed(seed_start, i);
                let mut res = SeedResult {
                    records: Vec::new(),
                    details: Vec::new(),
                    behaviour: Vec::new(),
                    migration: Vec::new(),
                };
                for (s, c) in scenarios.iter().zip(&chains) {
                    let mut trials = run_cells(&project, s, c, &[seed]);
                    // Every real trial also against its model, seed for seed.
                    check_against_models(&project, &mut trials);
                    check_imitations(&project, &mut trials);
                    crate::judging::releases::add_migration_observations(
                        &mut res.migration,
                        &trials,
                    );
                    // Every pair of versions of a board on this seed's
                    // sequence, without migrating (real builds with --real).
                    let reals = if real { vec![seed] } else { Vec::new() };
                    for o in run_behaviour_of(&project, s, &[seed], &reals) {
                        let key = (
                            o.board.clone(),
                            o.scenario.name.clone(),
                            o.a.name.clone(),
                            o.b.name.clone(),
                        );
                        let differing = o.difference.is_some().then_some(o);
                        res.behaviour.push((key, differing));
                    }
                    for t in trials {
                        let mut rec = record_of(&t);
                        if wants_detail(&t, &mut seen_lossy) {
                            let save = (!t.as_expected()).then_some(regressions.as_path());
                            let d = detail(&t, &checks, save);
                            if !t.as_expected() {
                                rec.reproduce = Some(d.reproduce.clone());
                            }
                            res.details.push(d);
                        }
                        res.records.push(rec);
                    }
                }
                if tx.send(res).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let runner = std::thread::spawn(move || {
        pool.scope(|scope| {
            for w in workers {
                scope.spawn(move |_| w());
            }
        })
    });

    let progress = progress_bar(&limit, args.quiet);
    let mut tally = CellTally::new(&project);
    let mut kept = Listed::default();
    let mut details = Vec::new();
    let mut unexpected = 0u64;
    let mut counts = std::collections::BTreeMap::new();
    let mut behaviour_runs: BTreeMap<BehaviourKey, u64> = BTreeMap::new();
    let mut behaviour_differing: BTreeMap<BehaviourKey, (u64, Vec<BehaviourOutcome>)> =
        BTreeMap::new();
    let mut migration: Vec<(String, ObservedDifference)> = Vec::new();
    let mut behaviour_seen: Vec<(String, ObservedDifference)> = Vec::new();
    for res in rx {
        for (key, differing) in res.behaviour {
            *behaviour_runs.entry(key.clone()).or_insert(0) += 1;
            if let Some(o) = differing {
                crate::judging::releases::add_behaviour_observation(
                    &mut behaviour_seen,
                    &project,
                    &o,
                );
                // Between releases they are judged against the known
                // differences at the end; within a release each is news.
                if !crate::judging::releases::across_releases(&project, &o.a, &o.b) {
                    progress.println(format!(
                        "BEHAVES DIFFERENTLY {} {} = {} ({}) seed {}\n  reproduce: {}",
                        o.board,
                        o.a.name,
                        o.b.name,
                        o.scenario.name,
                        o.seed,
                        reproduce_command(&o.scenario.name, o.seed, &o.a.name, &o.b.name)
                    ));
                }
                let e = behaviour_differing.entry(key).or_default();
                e.0 += 1;
                if e.1.len() < KEEP_DIFFERING {
                    e.1.push(o);
                }
            }
        }
        for (key, o) in res.migration {
            match migration.iter_mut().find(|(k, _)| *k == key) {
                Some((_, m)) => m.count += o.count,
                None => migration.push((key, o)),
            }
        }
        for r in &res.records {
            append_line(&mut trials_file, r)?;
            tally.add(r);
            if let Some(o) = r.outcome {
                *counts.entry(o.name()).or_insert(0u64) += 1;
            }
            if !r.expected {
                unexpected += 1;
                if let Some(cmd) = &r.reproduce {
                    progress.println(format!(
                        "UNEXPECTED {} {} seed {}: {} — {}\n  reproduce: {cmd}",
                        r.scenario,
                        r.chain.join("->"),
                        r.seed,
                        r.outcome.map_or("?", |o| o.name()),
                        r.reason
                    ));
                }
            }
            kept.add(r);
        }
        for d in res.details {
            append_line(&mut details_file, &d)?;
            details.push(d);
        }
        trials_file.flush()?;
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        progress.set_message(format!(
            "{:.0} trials/s | {} | unexpected {unexpected}",
            tally.trials as f64 / secs,
            summary.join(", ")
        ));
        match limit {
            Limit::Seeds(_) => progress.inc(1),
            Limit::Time(_) => {
                progress.set_position(t0.elapsed().as_secs().min(progress.length().unwrap_or(0)))
            }
        }
    }
    let _ = runner.join();
    progress.finish_and_clear();
    trials_file.sync_all()?;
    details_file.sync_all()?;
    let secs = t0.elapsed().as_secs_f64();
    let seeds_desc = match limit {
        Limit::Seeds(_) => format!(
            "{}..{} (shard {}/{})",
            args.seed_start,
            args.seed_start + args.seeds.unwrap_or(0),
            shard.k,
            shard.n
        ),
        Limit::Time(d) => format!(
            "from {} for {:?} (shard {}/{})",
            args.seed_start, d, shard.k, shard.n
        ),
    };
    let run = crate::results::run_info::run_info(
        "soak",
        &project.root,
        seeds_desc,
        scenarios.iter().map(|s| s.name.clone()).collect(),
        &started_at,
        secs,
    );
    let mut results = crate::results::records::assemble(
        &project,
        tally,
        kept.into_records(),
        details,
        run,
        checks.as_ref().clone(),
    );
    // Behaviour cells: the kept differing sequences (the first shrunk),
    // with the counts of every sequence run.
    let kept_differing: Vec<BehaviourOutcome> = behaviour_differing
        .values()
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    let mut cells = crate::minimizing::behaviour::cells(&kept_differing);
    for (key, runs) in &behaviour_runs {
        let (board, scenario, a, b) = key;
        let i = match cells
            .iter()
            .position(|c| c.board == *board && c.scenario == *scenario && c.a == *a && c.b == *b)
        {
            Some(i) => i,
            None => {
                cells.push(reports::results::BehaviourCell {
                    board: board.clone(),
                    scenario: scenario.clone(),
                    a: a.clone(),
                    b: b.clone(),
                    ..Default::default()
                });
                cells.len() - 1
            }
        };
        cells[i].trials = *runs;
        cells[i].differ = behaviour_differing.get(key).map_or(0, |(n, _)| *n);
    }
    cells.sort_by(|x, y| {
        (&x.board, &x.a, &x.b, &x.scenario).cmp(&(&y.board, &y.a, &y.b, &y.scenario))
    });
    results.behaviour = cells;
    if args.real {
        let mut observed = crate::judging::releases::behaviour_observations(
            &project,
            behaviour_seen,
            &results.behaviour,
        );
        observed.extend(migration.into_iter().map(|(_, o)| o));
        results.cross_release = Some(crate::judging::releases::judge(&project.known, observed));
    }
    // A behaviour difference within a release, or an unlisted one between
    // releases, counts as unexpected.
    unexpected += results
        .behaviour
        .iter()
        .filter(|c| {
            let (Some(a), Some(b)) = (project.version(&c.a), project.version(&c.b)) else {
                return true;
            };
            !crate::judging::releases::across_releases(&project, a, b)
        })
        .map(|c| c.differ)
        .sum::<u64>();
    unexpected += results
        .cross_release
        .as_ref()
        .map_or(0, |c| c.unlisted.len() as u64);
    eprint!("{}", reports::summary_table(&results));
    let paths = reports::write_report(&results, &out, &format!("soak{suffix}"))?;
    println!("trials: {}", trials_path.display());
    println!("report: {}", paths.html.display());
    println!("results: {}", paths.json.display());
    println!(
        "{} trials in {:.1} s ({:.0} trials/s), {} unexpected{}",
        results.run.trials,
        secs,
        results.run.trials_per_s,
        unexpected,
        if stop.load(Ordering::SeqCst) {
            " (stopped by Ctrl-C; finished seeds kept)"
        } else {
            ""
        }
    );
    Ok((unexpected, out))
}

#[derive(Clone, Copy, Debug)]
enum Limit {
    Seeds(u64),
    Time(Duration),
}

fn progress_bar(limit: &Limit, quiet: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let (len, template) = match limit {
        Limit::Seeds(n) => (
            *n,
            "{elapsed_precise} [{bar:30}] {pos}/{len} seeds, {eta} left | {msg}",
        ),
        Limit::Time(d) => (
            d.as_secs(),
            "{elapsed_precise} [{bar:30}] {pos}/{len} s | {msg}",
        ),
    };
    let bar = ProgressBar::new(len);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
