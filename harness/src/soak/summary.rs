//! A soak's summary: what its report needs besides the unexpected trials
//! and the details — the cell tally, the listed examples, the behaviour
//! cells and the differences seen between releases — in space that does not
//! grow with the number of trials. A run adds to it seed by seed, saves it
//! in its checkpoint, and a merge adds up the summaries of its shards; both
//! turn it into results the same way, so a merge equals a single run.

use crate::definitions::project::Project;
use crate::results::records::{assemble, CellTally, Listed, TallyCounts};
use reports::results::{
    BehaviourCell, FailureDetail, ObservedDifference, RunInfo, StaticCheck, TrialRecord,
};
use reports::Results;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A behaviour cell: (board, scenario, a, b).
pub type BehaviourKey = (String, String, String, String);

/// The key of a behaviour cell.
pub fn behaviour_key(c: &BehaviourCell) -> BehaviourKey {
    (
        c.board.clone(),
        c.scenario.clone(),
        c.a.clone(),
        c.b.clone(),
    )
}

/// A summary as plain data (a checkpoint's content).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryData {
    pub tally: TallyCounts,
    /// The expected non-identical trials the results list (at most
    /// [`crate::results::records::LISTED_PER_CHAIN`] per chain).
    pub examples: Vec<TrialRecord>,
    /// One per (board, scenario, pair), with its smallest differing
    /// sequence minimized.
    pub behaviour: Vec<BehaviourCell>,
    /// Behaviour differences between releases, by grouping key (each with
    /// its smallest seed and how many sequences showed it).
    pub behaviour_differences: BTreeMap<String, ObservedDifference>,
    /// Migration differences between releases, likewise.
    pub migration_differences: BTreeMap<String, ObservedDifference>,
}

/// A summary being added to.
pub struct Summary<'p> {
    project: &'p Project,
    tally: CellTally<'p>,
    examples: Listed,
    behaviour: BTreeMap<BehaviourKey, BehaviourCell>,
    behaviour_differences: BTreeMap<String, ObservedDifference>,
    migration_differences: BTreeMap<String, ObservedDifference>,
}

impl<'p> Summary<'p> {
    /// An empty summary.
    pub fn new(project: &'p Project) -> Self {
        Summary {
            project,
            tally: CellTally::new(project),
            examples: Listed::default(),
            behaviour: BTreeMap::new(),
            behaviour_differences: BTreeMap::new(),
            migration_differences: BTreeMap::new(),
        }
    }

    /// Trials counted so far.
    pub fn trials(&self) -> u64 {
        self.tally.trials
    }

    /// Counts one trial; an expected one may become a listed example (the
    /// unexpected ones are kept apart, every one of them).
    pub fn add_trial(&mut self, r: &TrialRecord) {
        self.tally.add(r);
        if r.expected {
            self.examples.add(r);
        }
    }

    /// Adds a behaviour cell's counts; the first difference kept is the one
    /// of the smallest seed, wherever it was found.
    pub fn add_behaviour(&mut self, c: &BehaviourCell) {
        let cell = self
            .behaviour
            .entry(behaviour_key(c))
            .or_insert_with(|| BehaviourCell {
                first: None,
                trials: 0,
                differ: 0,
                ..c.clone()
            });
        cell.trials += c.trials;
        cell.differ += c.differ;
        if let Some(first) = &c.first {
            if cell.first.as_ref().is_none_or(|f| first.seed < f.seed) {
                cell.first = Some(first.clone());
            }
        }
    }

    /// Adds a behaviour difference between releases under its grouping key.
    pub fn add_behaviour_difference(&mut self, key: &str, o: &ObservedDifference) {
        add_difference(&mut self.behaviour_differences, key, o);
    }

    /// Adds a migration difference between releases under its grouping key.
    pub fn add_migration_difference(&mut self, key: &str, o: &ObservedDifference) {
        add_difference(&mut self.migration_differences, key, o);
    }

    /// The summary as plain data.
    pub fn data(&self) -> SummaryData {
        SummaryData {
            tally: self.tally.counts(),
            examples: self.examples.examples().cloned().collect(),
            behaviour: self.behaviour.values().cloned().collect(),
            behaviour_differences: self.behaviour_differences.clone(),
            migration_differences: self.migration_differences.clone(),
        }
    }

    /// Adds a summary made elsewhere (a shard's checkpoint).
    pub fn absorb(&mut self, d: &SummaryData) {
        self.tally.absorb(&d.tally);
        for r in &d.examples {
            self.examples.add(r);
        }
        for c in &d.behaviour {
            self.add_behaviour(c);
        }
        for (k, o) in &d.behaviour_differences {
            self.add_behaviour_difference(k, o);
        }
        for (k, o) in &d.migration_differences {
            self.add_migration_difference(k, o);
        }
    }

    /// The results: the cells and coverage, every unexpected trial and the
    /// examples, the details, the behaviour cells, and (`cross_release`)
    /// the differences between releases judged against the known ones.
    pub fn results(
        self,
        unexpected: Vec<TrialRecord>,
        details: Vec<FailureDetail>,
        run: RunInfo,
        checks: Vec<StaticCheck>,
        cross_release: bool,
    ) -> Results {
        let project = self.project;
        let mut listed = self.examples;
        for r in &unexpected {
            listed.add(r);
        }
        let mut results = assemble(
            project,
            self.tally,
            listed.into_records(),
            details,
            run,
            checks,
        );
        let mut cells: Vec<BehaviourCell> = self.behaviour.into_values().collect();
        cells.sort_by(|x, y| {
            (&x.board, &x.a, &x.b, &x.scenario).cmp(&(&y.board, &y.a, &y.b, &y.scenario))
        });
        results.behaviour = cells;
        if cross_release {
            let mut observed = crate::judging::releases::behaviour_observations(
                project,
                self.behaviour_differences.into_iter().collect(),
                &results.behaviour,
            );
            observed.extend(self.migration_differences.into_values());
            results.cross_release = Some(crate::judging::releases::judge(&project.known, observed));
        }
        results
    }
}

/// Adds `o` under `key`: counts add up, and the observation of the smallest
/// seed is the one shown, so the order seeds finish in does not matter.
fn add_difference(
    acc: &mut BTreeMap<String, ObservedDifference>,
    key: &str,
    o: &ObservedDifference,
) {
    match acc.get_mut(key) {
        Some(x) => {
            let count = x.count + o.count;
            if o.seed < x.seed {
                *x = o.clone();
            }
            x.count = count;
        }
        None => {
            acc.insert(key.to_string(), o.clone());
        }
    }
}

/// The unexpected findings of results: trials whose outcome was not
/// expected, behaviour differences within a release, and differences
/// between releases that no known entry lists.
pub fn unexpected(project: &Project, results: &Results) -> u64 {
    let trials: u64 = results.cells.iter().map(|c| c.unexpected).sum();
    let behaviour: u64 = results
        .behaviour
        .iter()
        .filter(|c| {
            let (Some(a), Some(b)) = (project.version(&c.a), project.version(&c.b)) else {
                return true;
            };
            !crate::definitions::versions::across_releases(a, b)
        })
        .map(|c| c.differ)
        .sum();
    let unlisted = results
        .cross_release
        .as_ref()
        .map_or(0, |c| c.unlisted.len() as u64);
    trials + behaviour + unlisted
}
