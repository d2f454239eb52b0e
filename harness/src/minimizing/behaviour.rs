//! Minimizing behaviour differences: each differing cell's first sequence
//! shrunk to a minimal op list, with the device's mode at the difference.

use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::judging::behaviour::{check_pair, reproduce_command, BehaviourOutcome};
use crate::minimizing::shrink::shrink;
use crate::running::board::Board;
use reports::results::{BehaviourCell, BehaviourDifference};
use std::sync::Arc;

/// Shrink attempts for a pair of models, and for a pair with a real
/// version (each attempt starts QEMU).
const SHRINK_BUDGET: usize = 400;
const REAL_SHRINK_BUDGET: usize = 24;

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
    use crate::judging::behaviour::compare_runs;
    use crate::running::behaviour::run_on;
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
        TrialOp::write(0, addr, 4, val)
    }

    fn read(addr: u64) -> TrialOp {
        TrialOp::read(0, addr, 4)
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
