//! What a chain may do, from the versions' declarations: the features a
//! device promises under the machine type it runs, the hops that may lose
//! state, and the refusals predicted.

use crate::definitions::losses::hop_losses;
use crate::definitions::versions::Version;
use reports::Outcome;
use std::collections::BTreeSet;
use std::sync::Arc;

/// True if a hop `a → b` running `machine_type` may lose command state: a
/// target device on either side does not promise `migrates-command-state`
/// (or, for cfi01, `restores-read-mode`).
pub fn loss_allowed(a: &Version, b: &Version, machine_type: &str, targets: &[String]) -> bool {
    hop_losses(a, b, machine_type, true)
        .iter()
        .any(|l| targets.contains(&l.device))
}

/// True if `b` is expected to refuse a stream running `machine_type` (from
/// any source): its release does not offer that machine type. A machine
/// type promises that every release offering it accepts its streams, so the
/// static checker's prediction, shown beside the verdict, never excuses a
/// refusal (DESIGN.md, "Trials and outcomes").
pub fn refusal_expected(b: &Version, machine_type: &str) -> bool {
    !b.offers_type(machine_type)
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
        if refusal_expected(next, machine_type) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::versions::parse_version;
    use std::path::Path;

    /// A version with one cfi02 flash, `flash0`, of type `ty`.
    fn version(name: &str, release: &str, machine_type: &str, ty: &str) -> Arc<Version> {
        let text = format!(
            r#"
release = "{release}"
machine-type = "{machine_type}"
[[device]]
id = "flash0"
type = "{ty}"
properties = {{ name = "musicpal.flash", num-blocks = 8, sector-length = 0x10000, width = 2, unlock-addr0 = 0x5555, unlock-addr1 = 0x2AAA }}
"#
        );
        Arc::new(parse_version(Path::new(&format!("machines/{name}.toml")), &text).unwrap())
    }

    #[test]
    fn a_refusal_within_an_offered_machine_type_is_never_expected() {
        // v6 code on nor-5.0 without the compat property that keeps its cfi02
        // section off the wire: the static checker sees a section v5 lacks,
        // but nor-5.0 promises that v5 accepts the stream.
        let broken = version("broken", "v6", "nor-5.0", "parallel-nor-cfi02-flash");
        let v5 = version("v5", "v5", "nor-5.0", "cfi.pflash02");
        assert!(crate::judging::staticcheck::predicts_refusal(&broken, &v5));
        let targets = ["flash0".to_string()];
        let expected = expected_outcomes(&[broken, v5], &targets);
        assert!(!expected.contains(&Outcome::Refused), "{expected:?}");
        assert!(expected.contains(&Outcome::Identical), "{expected:?}");
    }

    #[test]
    fn a_destination_that_does_not_offer_the_machine_type_is_expected_to_refuse() {
        let v6 = version("v6", "v6", "nor-6.0", "parallel-nor-cfi02-flash");
        let v5 = version("v5", "v5", "nor-5.0", "cfi.pflash02");
        let targets = ["flash0".to_string()];
        let expected = expected_outcomes(&[v6.clone(), v5.clone()], &targets);
        assert_eq!(expected, BTreeSet::from([Outcome::Refused]));
        // The machine stays on the source: v6 -> v5 -> v6 is one refusal.
        let back = expected_outcomes(&[v6.clone(), v5, v6], &targets);
        assert!(back.contains(&Outcome::Refused), "{back:?}");
    }
}
