//! Behaviour runs: a sequence on one version without migrating (a real
//! build saves a stream at each migration marker and goes on), and the
//! pairs of a board's versions that run the same sequences.

use crate::definitions::project::Project;
use crate::definitions::scenarios::Scenario;
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::launch::start;
use crate::running::machine::{Link, RunError, Scratch};
use crate::running::streams::{flash_sections, WireSection};
use devices::Storage;
use std::sync::Arc;

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
    let scratch = Scratch::default();
    let err = |e: RunError| format!("{}: {e}", v.name);
    let mut m = start(v, targets, Link::Shared).map_err(err)?;
    let mut reads = Vec::new();
    let mut wire = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, TrialOp::Migrate { .. }) {
            if v.is_real() {
                let saved = m.save(&scratch).map_err(err)?;
                wire.push(flash_sections(v, &saved.stream)?);
            }
        } else if let Some(x) = m.apply(op).map_err(err)? {
            reads.push((i, x));
        }
    }
    let end = m.end(&scratch).map_err(err)?;
    Ok(Run {
        reads,
        arrays: end.arrays,
        images: end.images,
        wire,
    })
}

/// The sequence of (scenario, seed) with one hop: its migration marker is
/// where real builds save the state they would send.
pub fn sequence(project: &Project, s: &Scenario, seed: u64) -> Vec<TrialOp> {
    crate::generation::sequences::sequence(project, s, seed, 1).ops
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
