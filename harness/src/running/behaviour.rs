//! Behaviour equivalence: the same sequence on two versions of a board,
//! without migrating. Reads, arrays and images must agree: v6 must behave
//! as v5, and v5 as the QEMU release it models. A guest-visible difference
//! between two versions is reported (with the first differing op, both
//! values, the device's mode and a minimized op list) before any migration
//! verdict is read.

use crate::definitions::project::Project;
use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::judging::comparison::flash_diffs_of;
use crate::minimizing::shrink::shrink;
use crate::running::board::Board;
use crate::running::matrix::real_seeds;
use crate::running::real_trial::{flash_sections, WireSection};
use devices::Storage;
use rayon::prelude::*;
use reports::results::{BehaviourCell, BehaviourDifference};
use std::sync::Arc;

/// Shrink attempts for a pair of models, and for a pair with a real
/// version (each attempt starts QEMU).
const SHRINK_BUDGET: usize = 400;
const REAL_SHRINK_BUDGET: usize = 24;

/// What a version did with a sequence.
pub struct Run {
    pub reads: Vec<(usize, u64)>,
    pub arrays: Vec<(String, Storage)>,
    pub images: Vec<(String, Option<Storage>)>,
    /// A real build's flash sections in the stream it saved at each
    /// migration marker (it saves and continues: nothing migrates); empty
    /// for a model.
    pub wire: Vec<Vec<WireSection>>,
}

/// Runs `ops` on a fresh machine of `v` without migrating: a real build
/// saves a stream at each migration marker and goes on, a model skips it.
pub fn run_on(v: &Arc<Version>, targets: &[String], ops: &[TrialOp]) -> Result<Run, String> {
    if v.is_real() {
        let r = crate::running::real_trial::run_reference(v, targets, ops)
            .map_err(|e| format!("{}: {}", v.name, e.0))?;
        let wire = r
            .streams()
            .map(|s| flash_sections(v, s))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Run {
            reads: r.reads,
            arrays: r.end.arrays,
            images: r.end.images,
            wire,
        })
    } else {
        let mut board = Board::new(v, targets)?;
        let mut reads = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, TrialOp::Migrate) {
                continue;
            }
            if let Some(x) = board.apply(op) {
                reads.push((i, x));
            }
        }
        Ok(Run {
            reads,
            arrays: board.arrays(),
            images: board.images(),
            wire: Vec::new(),
        })
    }
}

/// The first difference between two real builds' flash sections saved at
/// the same marker (markers before op `before` only): a section one lacks,
/// or the first differing field.
fn wire_difference(ops: &[TrialOp], a: &Run, b: &Run, before: Option<usize>) -> Option<Difference> {
    if a.wire.is_empty() || b.wire.is_empty() {
        return None;
    }
    let markers: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, TrialOp::Migrate))
        .map(|(i, _)| i)
        .collect();
    for (k, (x, y)) in a.wire.iter().zip(&b.wire).enumerate() {
        if before.is_some_and(|op| markers.get(k).is_some_and(|m| *m >= op)) {
            break;
        }
        let at = |what: &str| {
            format!(
                "the stream saved at op {} (migration marker {k}): {what}",
                markers.get(k).copied().unwrap_or_default()
            )
        };
        for s in x {
            let name = format!("{} instance {}", s.idstr, s.instance);
            let Some(t) = y
                .iter()
                .find(|t| t.idstr == s.idstr && t.instance == s.instance)
            else {
                return Some(wire(at(&name), "present".into(), "absent".into()));
            };
            if s.version != t.version {
                return Some(wire(
                    at(&format!("{name} section version")),
                    s.version.to_string(),
                    t.version.to_string(),
                ));
            }
            if s.data == t.data {
                continue;
            }
            let field = s
                .fields
                .iter()
                .find(|(n, v)| t.fields.iter().find(|(m, _)| m == n).map(|(_, w)| w) != Some(v));
            // A field (or subsection) only the second stream carries.
            let extra = t
                .fields
                .iter()
                .find(|(n, _)| !s.fields.iter().any(|(m, _)| m == n));
            if let (None, Some((n, v))) = (field, extra) {
                return Some(wire(
                    at(&format!("{name} field {n}")),
                    "absent".into(),
                    shorten(v),
                ));
            }
            return Some(match field {
                Some((n, v)) => {
                    let w = t
                        .fields
                        .iter()
                        .find(|(m, _)| m == n)
                        .map_or("absent".to_string(), |(_, w)| shorten(w));
                    wire(at(&format!("{name} field {n}")), shorten(v), w)
                }
                None => wire(
                    at(&format!(
                        "{name} ({} vs {} bytes)",
                        s.data.len(),
                        t.data.len()
                    )),
                    shorten_hex(&s.data),
                    shorten_hex(&t.data),
                ),
            });
        }
        if let Some(t) = y.iter().find(|t| {
            !x.iter()
                .any(|s| s.idstr == t.idstr && s.instance == t.instance)
        }) {
            let name = format!("{} instance {}", t.idstr, t.instance);
            return Some(wire(at(&name), "absent".into(), "present".into()));
        }
    }
    None
}

fn wire(at: String, a: String, b: String) -> Difference {
    Difference {
        what: "wire".into(),
        op_index: None,
        at,
        a,
        b,
    }
}

/// A JSON value for one line (long buffers cut).
fn shorten(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(x) => x.clone(),
        other => other.to_string(),
    };
    if s.len() > 40 {
        format!("{}… ({} chars)", &s[..32], s.len())
    } else {
        s
    }
}

fn shorten_hex(b: &[u8]) -> String {
    let hex: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    if b.len() > 16 {
        format!("{hex}…")
    } else {
        hex
    }
}

/// Where two runs of the same ops first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `read`, `array`, `image`, or `error` (a run could not finish).
    pub what: String,
    pub op_index: Option<usize>,
    pub at: String,
    pub a: String,
    pub b: String,
}

/// The first difference between two runs of `ops`, if any.
pub fn compare_runs(version: &Version, ops: &[TrialOp], a: &Run, b: &Run) -> Option<Difference> {
    // In op order: a difference in the saved flash sections at a marker
    // before the first differing read comes first (a later read difference
    // would hide a wire-only one); arrays and images are the end.
    let first_read = a
        .reads
        .iter()
        .zip(&b.reads)
        .find(|(x, y)| x != y)
        .map(|((i, _), _)| *i);
    if let Some(d) = wire_difference(ops, a, b, first_read) {
        return Some(d);
    }
    if let Some(((i, x), (_, y))) = a.reads.iter().zip(&b.reads).find(|(x, y)| x != y) {
        return Some(Difference {
            what: "read".into(),
            op_index: Some(*i),
            at: format!(
                "op {i}: {}",
                ops.get(*i).map(|o| o.to_string()).unwrap_or_default()
            ),
            a: format!("{x:#x}"),
            b: format!("{y:#x}"),
        });
    }
    if a.reads.len() != b.reads.len() {
        return Some(Difference {
            what: "read".into(),
            op_index: None,
            at: "the number of reads".into(),
            a: a.reads.len().to_string(),
            b: b.reads.len().to_string(),
        });
    }
    let diffs = flash_diffs_of(version, &a.arrays, &a.images, &b.arrays, &b.images);
    if let Some(d) = diffs.first() {
        return Some(Difference {
            what: d.what.clone(),
            op_index: None,
            at: format!("{} offset {:#x} (sector {})", d.device, d.offset, d.sector),
            a: d.expected.clone(),
            b: d.got.clone(),
        });
    }
    None
}

/// The sequence of (scenario, seed) with one hop: its migration marker is
/// where real builds save the state they would send.
pub fn sequence(project: &Project, s: &Scenario, seed: u64) -> Vec<TrialOp> {
    crate::generation::sequences::sequence(project, s, seed, 1).ops
}

/// The difference between `a` and `b` on `ops`; a run that fails is a
/// difference of kind `error`.
pub fn check_pair(
    a: &Arc<Version>,
    b: &Arc<Version>,
    targets: &[String],
    ops: &[TrialOp],
) -> Option<Difference> {
    let run = |v: &Arc<Version>| run_on(v, targets, ops);
    compare_results(a, ops, &run(a), &run(b))
}

/// [`compare_runs`] on two runs that may have failed: a failed run is a
/// difference of kind `error`.
fn compare_results(
    version: &Version,
    ops: &[TrialOp],
    a: &Result<Run, String>,
    b: &Result<Run, String>,
) -> Option<Difference> {
    match (a, b) {
        (Ok(x), Ok(y)) => compare_runs(version, ops, x, y),
        (Err(e), _) | (_, Err(e)) => Some(Difference {
            what: "error".into(),
            op_index: None,
            at: "the run".into(),
            a: e.clone(),
            b: e.clone(),
        }),
    }
}

/// One pair on one sequence.
#[derive(Clone, Debug)]
pub struct BehaviourOutcome {
    pub board: String,
    pub scenario: Arc<Scenario>,
    pub a: Arc<Version>,
    pub b: Arc<Version>,
    pub seed: u64,
    pub ops: Vec<TrialOp>,
    pub difference: Option<Difference>,
    /// The model that tells the device's mode at a difference: a model of
    /// the pair, else the model a real version of it declares.
    pub model: Option<Arc<Version>>,
}

/// The model that describes modes for the pair `a`, `b`.
pub fn mode_model(project: &Project, a: &Arc<Version>, b: &Arc<Version>) -> Option<Arc<Version>> {
    [a, b]
        .into_iter()
        .find(|v| !v.is_real())
        .cloned()
        .or_else(|| {
            [a, b]
                .into_iter()
                .find_map(|v| crate::definitions::project::model_of(project, v).cloned())
        })
}

/// The pairs (a before b in version order) of a board's usable versions.
pub fn pairs(project: &Project, board: &str) -> Vec<(Arc<Version>, Arc<Version>)> {
    all_pairs(project, board)
        .into_iter()
        .filter(|(a, b)| project.available(a) && project.available(b))
        .collect()
}

/// The pairs of all of a board's versions, usable here or not.
pub fn all_pairs(project: &Project, board: &str) -> Vec<(Arc<Version>, Arc<Version>)> {
    let vs: Vec<Arc<Version>> = project
        .board_versions(board)
        .into_iter()
        .map(|i| project.versions[i].clone())
        .collect();
    let mut out = Vec::new();
    for (i, a) in vs.iter().enumerate() {
        for b in &vs[i + 1..] {
            out.push((a.clone(), b.clone()));
        }
    }
    out
}

/// Runs every pair of every board the scenario fits over `seeds` (pairs
/// with a real version over [`real_seeds`]); each sequence runs once per
/// version.
pub fn run_behaviour(project: &Project, s: &Arc<Scenario>, seeds: &[u64]) -> Vec<BehaviourOutcome> {
    run_behaviour_of(project, s, seeds, &real_seeds(seeds))
}

/// [`run_behaviour`] with pairs of a real version on `reals` only (none:
/// models only).
pub fn run_behaviour_of(
    project: &Project,
    s: &Arc<Scenario>,
    seeds: &[u64],
    reals: &[u64],
) -> Vec<BehaviourOutcome> {
    let tasks: Vec<(String, u64)> = project
        .scenario_boards(s)
        .into_iter()
        .flat_map(|b| seeds.iter().map(move |seed| (b.clone(), *seed)))
        .collect();
    let mut out: Vec<BehaviourOutcome> = tasks
        .par_iter()
        .flat_map_iter(|(board, seed)| {
            let ops = sequence(project, s, *seed);
            let with_real = reals.contains(seed);
            let pairs: Vec<_> = pairs(project, board)
                .into_iter()
                .filter(|(a, b)| with_real || !(a.is_real() || b.is_real()))
                .collect();
            // One run per version, shared by its pairs.
            let mut runs: Vec<(String, Result<Run, String>)> = Vec::new();
            for (a, b) in &pairs {
                for v in [a, b] {
                    if !runs.iter().any(|(n, _)| *n == v.name) {
                        runs.push((v.name.clone(), run_on(v, &s.devices, &ops)));
                    }
                }
            }
            let find = |v: &Version| &runs.iter().find(|(n, _)| *n == v.name).expect("run").1;
            pairs
                .iter()
                .map(|(a, b)| {
                    let difference = compare_results(a, &ops, find(a), find(b));
                    BehaviourOutcome {
                        board: board.clone(),
                        scenario: s.clone(),
                        a: a.clone(),
                        b: b.clone(),
                        seed: *seed,
                        ops: ops.clone(),
                        difference,
                        model: mode_model(project, a, b),
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by_key(|o| (o.a.name.clone(), o.b.name.clone(), o.seed));
    out
}

/// The command that reproduces a pair's sequence.
pub fn reproduce_command(scenario: &str, seed: u64, a: &str, b: &str) -> String {
    format!("cargo run --release -- compare --scenario {scenario} --seed {seed} {a} {b}")
}

/// The device mode before op `index`, from `model` (a model of the pair,
/// or the model of its real build).
fn mode_before(
    model: Option<&Arc<Version>>,
    targets: &[String],
    ops: &[TrialOp],
    index: usize,
) -> String {
    let Some(model) = model else {
        return "n/a (no model)".into();
    };
    let dev = match ops.get(index) {
        Some(TrialOp::Read { dev, .. }) | Some(TrialOp::Write { dev, .. }) => *dev,
        _ => return String::new(),
    };
    let Ok(mut board) = Board::new(model, targets) else {
        return String::new();
    };
    for op in &ops[..index] {
        board.apply(op);
    }
    format!(
        "{} ({})",
        crate::running::modes::describe(&board.target(dev).state()),
        model.name
    )
}

/// Minimizes a differing sequence and describes its first difference.
pub fn detail(o: &BehaviourOutcome) -> Option<BehaviourDifference> {
    o.difference.as_ref()?;
    let targets = &o.scenario.devices;
    let real = o.a.is_real() || o.b.is_real();
    let budget = if real {
        REAL_SHRINK_BUDGET
    } else {
        SHRINK_BUDGET
    };
    let differs = |ops: &[TrialOp]| check_pair(&o.a, &o.b, targets, ops).is_some();
    let shrunk = shrink(&o.ops, &differs, budget);
    // The shrunk ops if they still differ (a real QEMU may not repeat
    // itself), else the sequence as it ran.
    let (ops, d) = match check_pair(&o.a, &o.b, targets, &shrunk) {
        Some(d) => (shrunk, d),
        None => (o.ops.clone(), o.difference.clone()?),
    };
    Some(BehaviourDifference {
        seed: o.seed,
        what: d.what.clone(),
        op_index: d.op_index.map(|i| i as u64),
        at: d.at.clone(),
        a_value: d.a.clone(),
        b_value: d.b.clone(),
        mode: d
            .op_index
            .map(|i| mode_before(o.model.as_ref(), targets, &ops, i))
            .unwrap_or_default(),
        ops: ops
            .iter()
            .enumerate()
            .map(|(i, op)| format!("{i}: {op}"))
            .collect(),
        reproduce: reproduce_command(&o.scenario.name, o.seed, &o.a.name, &o.b.name),
    })
}

/// The report's cells: one per (board, scenario, pair), with the first
/// difference minimized.
pub fn cells(outcomes: &[BehaviourOutcome]) -> Vec<BehaviourCell> {
    let mut out: Vec<BehaviourCell> = Vec::new();
    // A real build that differs from several versions on one sequence in
    // the same way is shrunk once (each attempt starts QEMU): the pairs
    // share the minimal op list, with their own reproduction command.
    let mut shrunk: Vec<(String, BehaviourDifference)> = Vec::new();
    for o in outcomes {
        let pos = out.iter().position(|c| {
            c.board == o.board
                && c.scenario == o.scenario.name
                && c.a == o.a.name
                && c.b == o.b.name
        });
        let i = match pos {
            Some(i) => i,
            None => {
                out.push(BehaviourCell {
                    board: o.board.clone(),
                    scenario: o.scenario.name.clone(),
                    a: o.a.name.clone(),
                    b: o.b.name.clone(),
                    ..BehaviourCell::default()
                });
                out.len() - 1
            }
        };
        let c = &mut out[i];
        c.trials += 1;
        if o.difference.is_some() {
            c.differ += 1;
            if c.first.is_none() {
                let key = o.difference.as_ref().and_then(|d| {
                    let real = [&o.a, &o.b].into_iter().find(|v| v.is_real())?;
                    Some(format!(
                        "{}/{}/{}/{}/{:?}",
                        o.board, o.scenario.name, o.seed, real.name, d
                    ))
                });
                let known = key
                    .as_ref()
                    .and_then(|k| shrunk.iter().find(|(x, _)| x == k))
                    .map(|(_, d)| BehaviourDifference {
                        reproduce: reproduce_command(
                            &o.scenario.name,
                            o.seed,
                            &o.a.name,
                            &o.b.name,
                        ),
                        ..d.clone()
                    });
                c.first = known.or_else(|| detail(o));
                if let (Some(k), Some(d)) = (key, &c.first) {
                    shrunk.push((k, d.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::versions::parse_version;
    use std::path::Path;

    fn version(name: &str, release: &str, ty: &str, id0: u32) -> Arc<Version> {
        let text = format!(
            r#"
release = "{release}"
machine-type = "nor-5.0"
[[device]]
id = "flash0"
type = "{ty}"
properties = {{ name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2, id0 = {id0}, id1 = 0x18 }}
"#
        );
        Arc::new(parse_version(Path::new(&format!("machines/{name}.toml")), &text).unwrap())
    }

    fn write(addr: u64, val: u64) -> TrialOp {
        TrialOp::Write {
            dev: 0,
            addr,
            width: 4,
            val,
        }
    }

    fn read(addr: u64) -> TrialOp {
        TrialOp::Read {
            dev: 0,
            addr,
            width: 4,
        }
    }

    /// Reads array, programs a word, reads it, then the manufacturer id.
    fn ops() -> Vec<TrialOp> {
        vec![
            read(0x100),
            write(0x100, 0x0040_0040),
            write(0x100, 0x1234_5678),
            write(0, 0x00FF_00FF),
            read(0x100),
            write(0, 0x0090_0090),
            read(0),
            write(0, 0x00FF_00FF),
            read(0x100),
        ]
    }

    #[test]
    fn v5_and_v6_on_the_same_board_behave_the_same() {
        let targets = ["flash0".to_string()];
        let a = version("a", "v5", "cfi.pflash01", 0x89);
        let b = version("b", "v6", "parallel-nor-cfi01-flash", 0x89);
        assert_eq!(check_pair(&a, &b, &targets, &ops()), None);
    }

    #[test]
    fn a_different_answer_is_a_read_difference_with_the_op_values_and_mode() {
        let targets = ["flash0".to_string()];
        let a = version("a", "v5", "cfi.pflash01", 0x89);
        let b = version("b", "v5", "cfi.pflash01", 0x01);
        let d = check_pair(&a, &b, &targets, &ops()).expect("the id read differs");
        assert_eq!(d.what, "read");
        assert_eq!(d.op_index, Some(6));
        assert_eq!((d.a.as_str(), d.b.as_str()), ("0x890089", "0x10001"));
        assert!(d.at.starts_with("op 6: "), "{}", d.at);
        // Minimized: the id command and the read are all it takes.
        let o = BehaviourOutcome {
            board: "composite".into(),
            scenario: Arc::new(
                crate::definitions::scenarios::parse_scenario(
                    Path::new("scenarios/t.toml"),
                    "devices = [\"flash0\"]\nlength = [4, 8]\n[migration]\npoints = [\"anywhere\"]\n[mix]\nread = 1\n",
                )
                .unwrap(),
            ),
            model: Some(a.clone()),
            a,
            b,
            seed: 3,
            ops: ops(),
            difference: Some(d),
        };
        let detail = detail(&o).expect("a detail");
        assert_eq!(detail.ops.len(), 2, "{:?}", detail.ops);
        assert!(detail.mode.starts_with("read-id"), "{}", detail.mode);
        assert_eq!(detail.seed, 3);
        assert!(
            detail.reproduce.contains("compare --scenario"),
            "{}",
            detail.reproduce
        );
        let c = cells(std::slice::from_ref(&o));
        assert_eq!((c[0].trials, c[0].differ), (1, 1));
        assert!(c[0].first.is_some());
    }

    #[test]
    fn a_different_array_is_an_array_difference() {
        let targets = ["flash0".to_string()];
        let a = version("a", "v5", "cfi.pflash01", 0x89);
        let x = run_on(&a, &targets, &ops()).unwrap();
        let mut y = run_on(&a, &targets, &ops()).unwrap();
        y.arrays[0].1.write(0x2000, &[0xAB]);
        let d = compare_runs(&a, &ops(), &x, &y).expect("the arrays differ");
        assert_eq!(d.what, "array");
        assert!(d.at.contains("flash0 offset 0x2000"), "{}", d.at);
        let z = run_on(&a, &targets, &ops()[..3]).unwrap();
        let d = compare_runs(&a, &ops(), &x, &z).expect("fewer reads");
        assert_eq!(
            (d.what.as_str(), d.a.as_str(), d.b.as_str()),
            ("read", "4", "1")
        );
    }
}
