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
use crate::running::behaviour::{mode_model, pairs, run_on, sequence, Run};
use rayon::prelude::*;
use std::sync::Arc;

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
        .filter(|(_, o)| matches!(o, TrialOp::Migrate { .. }))
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

/// Every pair of versions of each board of `s` on the sequences of `seeds`,
/// without migrating; pairs of a real version on `reals` only (none:
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
