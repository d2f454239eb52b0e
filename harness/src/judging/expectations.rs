//! What a chain may do, from the versions' declarations: the features a
//! device promises under the machine type it runs, the hops that may lose
//! state, and the refusals predicted.

use crate::definitions::features::{MIGRATES_COMMAND_STATE, RESTORES_READ_MODE};
use crate::definitions::layout::{command_set, CommandSet};
use crate::definitions::versions::Version;
use reports::Outcome;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The features of device `d` of version `v` while it runs `machine_type`
/// (a destination keeps the machine type of the stream it accepted, so a
/// version may run another machine type than its own; conditions are
/// re-evaluated with that `machine-type:` symbol).
pub fn features_running(v: &Version, id: &str, machine_type: &str) -> BTreeSet<String> {
    let Some(d) = v.device(id) else {
        return BTreeSet::new();
    };
    if machine_type == v.machine_type {
        return d.features.clone();
    }
    let symbols = v.symbols_running(machine_type);
    d.declared_features
        .iter()
        .filter(|f| f.effective(&symbols))
        .map(|f| f.name().to_string())
        .collect()
}

/// True if a hop `a → b` running `machine_type` may lose command state: a
/// target device on either side does not promise `migrates-command-state`
/// (or, for cfi01, `restores-read-mode`).
pub fn loss_allowed(a: &Version, b: &Version, machine_type: &str, targets: &[String]) -> bool {
    targets.iter().any(|id| {
        [a, b].iter().any(|v| {
            let intel = v
                .device(id)
                .is_some_and(|d| command_set(&d.type_name) == Some(CommandSet::Intel));
            let f = features_running(v, id, machine_type);
            !f.contains(MIGRATES_COMMAND_STATE) || (intel && !f.contains(RESTORES_READ_MODE))
        })
    })
}

/// True if `b` is predicted to refuse a stream from `a` running
/// `machine_type`: its release does not offer that machine type, or (when
/// both run their own machine types) the static checker finds a section the
/// destination does not have.
pub fn refusal_predicted(a: &Version, b: &Version, machine_type: &str) -> bool {
    if !b.offers_type(machine_type) {
        return true;
    }
    machine_type == a.machine_type
        && machine_type == b.machine_type
        && crate::judging::staticcheck::predicts_refusal(a, b)
}

/// The outcomes a chain may have, from features and refusal predictions.
/// The machine type is the source's all along: a destination keeps running
/// the machine type of the stream it accepted.
pub fn expected_outcomes(chain: &[Arc<Version>], targets: &[String]) -> BTreeSet<Outcome> {
    let mut out = BTreeSet::new();
    let machine_type = chain[0].machine_type.as_str();
    // Track where the machine actually is: a refused hop leaves it on the source.
    let mut at = chain[0].clone();
    let mut refused = false;
    let mut lossy = false;
    for next in &chain[1..] {
        if refusal_predicted(&at, next, machine_type) {
            refused = true;
            continue;
        }
        lossy |= loss_allowed(&at, next, machine_type, targets);
        at = next.clone();
    }
    if refused {
        out.insert(Outcome::Refused);
    } else {
        out.insert(Outcome::Identical);
    }
    if lossy {
        out.insert(Outcome::Lossy);
    }
    out
}
