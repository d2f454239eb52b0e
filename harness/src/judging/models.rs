//! The check of a model against reality: a real build and the model that
//! must agree with it run the same trials, and any difference the real
//! build can show is the verdict "model differs from real QEMU".

use crate::definitions::project::{model_of, Project};
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::judging::outcome::TrialOutcome;
use crate::judging::outcome::{same_seed, verdict, TrialResult};
use crate::running::machine::Link;
use crate::running::trial::{run_reference, run_trial, Record};
use reports::Outcome;
use std::sync::Arc;

/// The check of a model against reality: every `Q → Q` trial of a real
/// version `Q` must give the reads and the outcome of `M → M` on its model
/// `M` for the same scenario and seed (run here if `trials` lacks it). A
/// difference turns the real trial into `diverged` with both reads.
pub fn check_against_models(project: &Project, trials: &mut [TrialOutcome]) {
    for i in 0..trials.len() {
        let t = &trials[i];
        let q = &t.chain[0];
        if !q.is_real() || t.chain.iter().any(|v| v.name != q.name) {
            continue;
        }
        let Some(model) = model_of(project, q) else {
            continue;
        };
        let chain: Vec<Arc<Version>> = t.chain.iter().map(|_| model.clone()).collect();
        let model_run = match same_seed(trials, t, &chain) {
            Some(u) => u.result.clone(),
            None => {
                let Ok(r) = run_reference(
                    model,
                    &t.scenario.devices,
                    &t.ops,
                    Link::Shared,
                    Record::Nothing,
                ) else {
                    continue;
                };
                verdict(&t.ops, run_trial(&chain, &t.scenario.devices, &t.ops, &r))
            }
        };
        let t = &trials[i];
        if let Some(why) = model_difference(&t.chain, &t.ops, &t.result, &model_run, &model.name) {
            let t = &mut trials[i];
            t.result.reason = why;
            t.result.outcome = Outcome::Diverged;
        }
    }
}

/// Reasons of the verdict "model differs from real QEMU" start with this.
pub const MODEL_DIFFERS: &str = "model differs from real QEMU";

/// How a real trial differs from its model's run of the same seed, if it does.
pub fn model_difference(
    chain: &[Arc<Version>],
    ops: &[TrialOp],
    r: &TrialResult,
    model: &TrialResult,
    model_name: &str,
) -> Option<String> {
    let q = &chain[0].name;
    if let Some(((i, a), (_, b))) = r.reads.iter().zip(&model.reads).find(|(a, b)| a != b) {
        return Some(format!(
            "{MODEL_DIFFERS}: read at op {i} ({}) gave {a:#x} on {q}, {b:#x} on {model_name}",
            ops.get(*i).map(|o| o.to_string()).unwrap_or_default()
        ));
    }
    if r.reads.len() != model.reads.len() {
        return Some(format!(
            "{MODEL_DIFFERS}: {} reads on {q}, {} on {model_name}",
            r.reads.len(),
            model.reads.len()
        ));
    }
    if shown(r) != shown(model) {
        return Some(format!(
            "{MODEL_DIFFERS}: {q} -> {q} was {} ({}), {model_name} -> {model_name} was {} ({})",
            r.outcome.name(),
            r.reason,
            model.outcome.name(),
            model.reason
        ));
    }
    None
}

/// The outcome as a real build can show it: a loss seen only in the
/// model's canonical state (no read, array or image differs) is invisible
/// to QEMU, whose state the harness sees only through reads and streams.
fn shown(r: &TrialResult) -> Outcome {
    if r.outcome == Outcome::Lossy && r.first_read_mismatch.is_none() && r.flash_diff.is_empty() {
        Outcome::Identical
    } else {
        r.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::versions::parse_version;

    fn real() -> Arc<Version> {
        let text = r#"
release = "qemu-7.2"
machine-type = "virt-7.2"
[emulator]
binary = "qemu-system-arm"
model = "v5"
[[device]]
id = "flash0"
type = "cfi.pflash01"
drive-unit = 0
properties = { name = "virt.flash0", num-blocks = 4, sector-length = 0x40000, width = 4, device-width = 2 }
"#;
        Arc::new(parse_version(std::path::Path::new("machines/virt/qemu-7.2.toml"), text).unwrap())
    }

    fn result(outcome: Outcome, reads: &[(usize, u64)]) -> TrialResult {
        TrialResult {
            outcome,
            reason: String::new(),
            first_read_mismatch: None,
            reads: reads.to_vec(),
            reference_reads: Vec::new(),
            state_diff: Vec::new(),
            flash_diff: Vec::new(),
            migrate_us: 0,
            total_us: 0,
            steps: Vec::new(),
            migrated_in: Vec::new(),
        }
    }

    const OPS: &[TrialOp] = &[
        TrialOp::read(0, 0, 4),
        TrialOp::MIGRATE,
        TrialOp::read(0, 4, 4),
    ];

    #[test]
    fn a_real_build_that_reads_what_its_model_reads_agrees() {
        let q = real();
        let chain = [q.clone(), q];
        let r = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        assert_eq!(
            model_difference(&chain, OPS, &r, &r.clone(), "virt-v5"),
            None
        );
    }

    #[test]
    fn a_model_loss_seen_only_in_its_canonical_state_agrees_with_an_identical_real_trial() {
        let q = real();
        let chain = [q.clone(), q];
        let model = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        let real = result(Outcome::Identical, &[(0, 1), (2, 2)]);
        assert_eq!(
            model_difference(&chain, OPS, &real, &model, "virt-v5"),
            None
        );
    }

    #[test]
    fn a_different_read_count_or_outcome_is_a_model_difference() {
        let q = real();
        let chain = [q.clone(), q];
        let got = result(Outcome::Lossy, &[(0, 1), (2, 2)]);
        let why = model_difference(
            &chain,
            OPS,
            &got,
            &result(Outcome::Lossy, &[(0, 1), (2, 3)]),
            "virt-v5",
        )
        .expect("a read differs");
        assert!(why.starts_with(MODEL_DIFFERS), "{why}");
        assert!(
            why.contains("op 2") && why.contains("0x2 on virt-qemu-7.2, 0x3 on virt-v5"),
            "{why}"
        );
        let why = model_difference(
            &chain,
            OPS,
            &got,
            &result(Outcome::Lossy, &[(0, 1)]),
            "virt-v5",
        )
        .expect("a read is missing");
        assert!(
            why.contains("2 reads on virt-qemu-7.2, 1 on virt-v5"),
            "{why}"
        );
        // A loss the reads show (op 2 read what the reference did not).
        let mut seen = got.clone();
        seen.first_read_mismatch = Some(2);
        let why = model_difference(
            &chain,
            OPS,
            &seen,
            &result(Outcome::Identical, &[(0, 1), (2, 2)]),
            "virt-v5",
        )
        .expect("the outcome differs");
        assert!(
            why.contains("was lossy") && why.contains("was identical"),
            "{why}"
        );
    }
}
