//! `norcompat soak`: long randomized runs on all cores, trials and
//! behaviour checks seed by seed. Each finished seed is added to the
//! shard's summary, whose checkpoint replaces the last one at most once a
//! second; unexpected trials and details are appended as they come, and
//! every trial's record too with `--trial-log`.

use crate::definitions::project::Project;
use crate::definitions::versions::across_releases;
use crate::judging::behaviour::{reproduce_command, run_behaviour_of, BehaviourOutcome};
use crate::judging::imitation::check_imitations;
use crate::judging::models::check_against_models;
use crate::judging::verdicts::run_cells;
use crate::results::records::{detail, record_of, static_checks, wants_detail};
use crate::soak::checkpoint::{self, Checkpoint, Selection};
use crate::soak::jsonl::append_line;
use crate::soak::merge::{DETAILS, UNEXPECTED};
use crate::soak::seeds::SeedSet;
use crate::soak::shards::{parse_duration, Shard};
use crate::soak::summary::{behaviour_key, BehaviourKey, Summary};
use crate::soak::trial_log::TrialLog;
use reports::results::{BehaviourCell, FailureDetail, ObservedDifference, TrialRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
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
    /// Output directory for the checkpoint, JSON lines, reproducers and the report.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write every trial's record, gzip-compressed, to
    /// trials[.shard-K-of-N].jsonl.gz (about 14 bytes a trial).
    #[arg(long)]
    pub trial_log: bool,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// What one finished seed sends to the writer.
struct SeedResult {
    seed: u64,
    records: Vec<TrialRecord>,
    details: Vec<FailureDetail>,
    /// One cell per behaviour pair run on this seed (its first difference
    /// minimized when this seed is the smallest of its cell so far).
    behaviour: Vec<BehaviourCell>,
    /// Behaviour differences between releases, by grouping key.
    behaviour_differences: Vec<(String, ObservedDifference)>,
    /// Hops between real releases that were not identical, by grouping key.
    migration_differences: Vec<(String, ObservedDifference)>,
    /// Lines to print (behaviour differences within a release).
    notices: Vec<String>,
}

/// The longest a finished seed waits before a checkpoint counts it.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Runs a soak; returns the number of unexpected findings and the output directory.
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
    let mut selection = Selection {
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
        versions: args.versions.clone(),
        real: args.real,
    };
    selection.scenarios.sort();
    selection.versions.sort();
    let started_at = crate::results::run_info::now_rfc3339();
    let t0 = Instant::now();
    let mut files = ShardFiles::create(&out, &suffix, args.trial_log)?;
    let checkpoint_of = |summary: &Summary, seeds: &SeedSet, finished: bool| Checkpoint {
        format: checkpoint::FORMAT.to_string(),
        shard: format!("{}/{}", shard.k, shard.n),
        selection: selection.clone(),
        started: started_at.clone(),
        elapsed_s: t0.elapsed().as_secs_f64(),
        finished,
        seeds: seeds.clone(),
        summary: summary.data(),
    };
    let mut summary = Summary::new(&project);
    let mut covered = SeedSet::default();
    // The empty checkpoint replaces one an earlier run left here, so the
    // files of this shard always belong together.
    files.checkpoint(&checkpoint_of(&summary, &covered, false))?;
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
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let checks = Arc::new(static_checks(&project));
    // The smallest seed whose difference each behaviour cell has minimized.
    let firsts: Arc<Mutex<BTreeMap<BehaviourKey, u64>>> = Arc::default();
    // Workers run in a pool of exactly `jobs` threads; the trials' own
    // parallel loops run in the same pool, so `--jobs` bounds the cores used.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| format!("cannot start {jobs} worker threads: {e}"))?;
    let mut workers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    for _ in 0..jobs {
        let (project, scenarios, chains, stop, next, tx, checks, firsts) = (
            project.clone(),
            scenarios.clone(),
            chains.clone(),
            stop.clone(),
            next.clone(),
            tx.clone(),
            checks.clone(),
            firsts.clone(),
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
                    seed,
                    records: Vec::new(),
                    details: Vec::new(),
                    behaviour: Vec::new(),
                    behaviour_differences: Vec::new(),
                    migration_differences: Vec::new(),
                    notices: Vec::new(),
                };
                for (s, c) in scenarios.iter().zip(&chains) {
                    let mut trials = run_cells(&project, s, c, &[seed]);
                    // Every real trial also against its model, seed for seed.
                    check_against_models(&project, &mut trials);
                    check_imitations(&project, &mut trials);
                    crate::judging::releases::add_migration_observations(
                        &mut res.migration_differences,
                        &trials,
                    );
                    // Every pair of versions of a board on this seed's
                    // sequence, without migrating (real builds with --real).
                    let reals = if real { vec![seed] } else { Vec::new() };
                    let outcomes = run_behaviour_of(&project, s, &[seed], &reals);
                    add_behaviour(&project, &outcomes, &firsts, &mut res);
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
    let mut unexpected_records = Vec::new();
    let mut details = Vec::new();
    let mut unexpected = 0u64;
    let mut counts = BTreeMap::new();
    let mut last_checkpoint = Instant::now();
    let mut pending = false;
    loop {
        let wait = if pending {
            CHECKPOINT_EVERY.saturating_sub(last_checkpoint.elapsed())
        } else {
            CHECKPOINT_EVERY
        };
        let res = match rx.recv_timeout(wait) {
            Ok(res) => Some(res),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(res) = res {
            for line in &res.notices {
                progress.println(line);
            }
            for c in &res.behaviour {
                summary.add_behaviour(c);
            }
            for (key, o) in &res.behaviour_differences {
                summary.add_behaviour_difference(key, o);
            }
            for (key, o) in &res.migration_differences {
                summary.add_migration_difference(key, o);
            }
            for r in &res.records {
                files.log(r)?;
                summary.add_trial(r);
                if let Some(o) = r.outcome {
                    *counts.entry(o.name()).or_insert(0u64) += 1;
                }
                if !r.expected {
                    unexpected += 1;
                    files.unexpected(r)?;
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
                    unexpected_records.push(r.clone());
                }
            }
            for d in res.details {
                files.detail(&d)?;
                details.push(d);
            }
            covered.insert(res.seed, shard.n);
            pending = true;
            let secs = t0.elapsed().as_secs_f64().max(1e-9);
            let summary_line: Vec<String> =
                counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            progress.set_message(format!(
                "{:.0} trials/s | {} | unexpected {unexpected}",
                summary.trials() as f64 / secs,
                summary_line.join(", ")
            ));
            match limit {
                Limit::Seeds(_) => progress.inc(1),
                Limit::Time(_) => progress
                    .set_position(t0.elapsed().as_secs().min(progress.length().unwrap_or(0))),
            }
        }
        if pending && last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            files.checkpoint(&checkpoint_of(&summary, &covered, false))?;
            last_checkpoint = Instant::now();
            pending = false;
        }
    }
    let _ = runner.join();
    progress.finish_and_clear();
    files.checkpoint(&checkpoint_of(&summary, &covered, true))?;
    let trial_log = files.finish()?;
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
    let results = summary.results(
        unexpected_records,
        details,
        run,
        checks.as_ref().clone(),
        args.real,
    );
    let unexpected = crate::soak::summary::unexpected(&project, &results);
    eprint!("{}", reports::summary_table(&results));
    let paths = reports::write_report(&results, &out, &format!("soak{suffix}"))?;
    println!("tally: {}", files.tally.display());
    if let Some(log) = trial_log {
        println!("trial log: {}", log.display());
    }
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

/// One seed's behaviour pairs into its result: a cell each, the
/// differences between releases, and a notice for each difference within
/// a release. A differing sequence is minimized only if its seed is the
/// smallest of its cell so far (each worker takes seeds in increasing
/// order, so that is about once per cell), giving each cell the first
/// difference of its smallest seed, in any order of finishing and in
/// shards alike.
fn add_behaviour(
    project: &Project,
    outcomes: &[BehaviourOutcome],
    firsts: &Mutex<BTreeMap<BehaviourKey, u64>>,
    res: &mut SeedResult,
) {
    let key = |o: &BehaviourOutcome| {
        (
            o.board.clone(),
            o.scenario.name.clone(),
            o.a.name.clone(),
            o.b.name.clone(),
        )
    };
    let claimed: Vec<BehaviourOutcome> = outcomes
        .iter()
        .filter(|o| o.difference.is_some())
        .filter(|o| {
            let mut firsts = firsts.lock().unwrap_or_else(PoisonError::into_inner);
            match firsts.get(&key(o)) {
                Some(seed) if *seed <= o.seed => false,
                _ => {
                    firsts.insert(key(o), o.seed);
                    true
                }
            }
        })
        .cloned()
        .collect();
    let minimized = crate::minimizing::behaviour::cells(&claimed);
    for o in outcomes {
        let k = key(o);
        res.behaviour.push(BehaviourCell {
            board: k.0.clone(),
            scenario: k.1.clone(),
            a: k.2.clone(),
            b: k.3.clone(),
            trials: 1,
            differ: u64::from(o.difference.is_some()),
            first: minimized
                .iter()
                .find(|c| behaviour_key(c) == k)
                .and_then(|c| c.first.clone()),
        });
        if o.difference.is_none() {
            continue;
        }
        crate::judging::releases::add_behaviour_observation(
            &mut res.behaviour_differences,
            project,
            o,
        );
        // Between releases they are judged against the known differences
        // at the end; within a release each is news.
        if !across_releases(&o.a, &o.b) {
            res.notices.push(format!(
                "BEHAVES DIFFERENTLY {} {} = {} ({}) seed {}\n  reproduce: {}",
                o.board,
                o.a.name,
                o.b.name,
                o.scenario.name,
                o.seed,
                reproduce_command(&o.scenario.name, o.seed, &o.a.name, &o.b.name)
            ));
        }
    }
}

/// A shard's output files while it runs.
struct ShardFiles {
    tally: PathBuf,
    unexpected: (PathBuf, File),
    details: (PathBuf, File),
    trial_log: Option<TrialLog>,
}

impl ShardFiles {
    /// Starts the shard's files afresh, removing its files an earlier run
    /// left (a stale report, a trial log this run does not write).
    fn create(out: &Path, suffix: &str, trial_log: bool) -> Result<ShardFiles, String> {
        let at = |e: std::io::Error, p: &Path| format!("{}: {e}", p.display());
        let create = |stem: &str| {
            let p = out.join(format!("{stem}{suffix}.jsonl"));
            File::create(&p)
                .map(|f| (p.clone(), f))
                .map_err(|e| at(e, &p))
        };
        for stale in [
            format!("trials{suffix}.jsonl"),
            format!("trials{suffix}.jsonl.gz"),
            format!("soak{suffix}.json"),
            format!("soak{suffix}.html"),
        ] {
            let p = out.join(stale);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(at(e, &p)),
                _ => {}
            }
        }
        let log = out.join(format!("trials{suffix}.jsonl.gz"));
        Ok(ShardFiles {
            tally: out.join(format!(
                "{}{suffix}{}",
                checkpoint::PREFIX,
                checkpoint::EXTENSION
            )),
            unexpected: create(UNEXPECTED)?,
            details: create(DETAILS)?,
            trial_log: if trial_log {
                Some(TrialLog::create(&log).map_err(|e| at(e, &log))?)
            } else {
                None
            },
        })
    }

    /// Appends a trial to the trial log, if there is one.
    fn log(&mut self, r: &TrialRecord) -> Result<(), String> {
        match &mut self.trial_log {
            Some(log) => log
                .append(r)
                .map_err(|e| format!("{}: {e}", log.path().display())),
            None => Ok(()),
        }
    }

    /// Appends an unexpected trial.
    fn unexpected(&mut self, r: &TrialRecord) -> Result<(), String> {
        let (p, f) = &mut self.unexpected;
        append_line(f, r).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Appends a detail.
    fn detail(&mut self, d: &FailureDetail) -> Result<(), String> {
        let (p, f) = &mut self.details;
        append_line(f, d).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Makes what the checkpoint claims durable first (the JSON lines of
    /// its seeds, the trial log so far), then replaces the checkpoint.
    fn checkpoint(&mut self, c: &Checkpoint) -> Result<(), String> {
        if let Some(log) = &mut self.trial_log {
            log.flush()
                .map_err(|e| format!("{}: {e}", log.path().display()))?;
        }
        for (p, f) in [&self.unexpected, &self.details] {
            f.sync_data().map_err(|e| format!("{}: {e}", p.display()))?;
        }
        c.save(&self.tally).map_err(|e| e.to_string())
    }

    /// Ends the trial log (returning its path), if there is one.
    fn finish(&mut self) -> Result<Option<PathBuf>, String> {
        match self.trial_log.take() {
            Some(log) => {
                let path = log.path().to_path_buf();
                log.finish()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }
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
