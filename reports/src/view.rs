//! What the HTML page and the terminal table agree on: outcome symbols, cell
//! classification and the matrix layout (rows = sources, columns =
//! destinations, chains after).

use crate::results::{
    Cell, CoverageRow, ObservedDifference, Outcome, Results, TrialRecord, BEHAVIOUR_KIND,
};
use std::collections::{BTreeMap, HashMap};

/// Outcomes that make a cell worth a details section even when expected.
const NOTEWORTHY: [Outcome; 3] = [Outcome::Lossy, Outcome::Diverged, Outcome::Crashed];

/// A symbol per outcome, so the matrix reads without colour.
pub fn symbol(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Identical => "✓",
        Outcome::Refused => "⊘",
        Outcome::Lossy => "≈",
        Outcome::Diverged => "✗",
        // U+FE0E asks for the text glyph, not a colour emoji.
        Outcome::Crashed => "☠\u{FE0E}",
    }
}

/// `v5 → v6 → v5` (or with another arrow, e.g. `->` for terminals).
pub fn chain_label(chain: &[String], arrow: &str) -> String {
    chain.join(arrow)
}

/// `singular` for 1, else `plural`.
pub fn plural<'a>(n: u64, singular: &'a str, plural: &'a str) -> &'a str {
    if n == 1 {
        singular
    } else {
        plural
    }
}

/// The two versions of a difference between releases: `a = b` for
/// behaviour (no direction), `a → b` for a migration (or another arrow,
/// e.g. `->` for terminals).
pub fn difference_pair(difference: &ObservedDifference, arrow: &str) -> String {
    let sep = if difference.kind == BEHAVIOUR_KIND {
        "="
    } else {
        arrow
    };
    format!("{} {sep} {}", difference.a, difference.b)
}

/// Trials of `outcome` in `cell`.
pub fn count(cell: &Cell, outcome: Outcome) -> u64 {
    cell.counts.get(&outcome).copied().unwrap_or(0)
}

/// All trials of `cell`.
pub fn total(cell: &Cell) -> u64 {
    cell.counts.values().sum()
}

/// Whether the features and the static checker predicted `outcome` for `cell`.
pub fn is_expected(cell: &Cell, outcome: Outcome) -> bool {
    cell.expected.contains(&outcome)
}

/// "predicted refused / observed refused": the static checker's prediction
/// beside what the trials did (`None` when there is no prediction or no trial).
pub fn prediction(cell: &Cell) -> Option<String> {
    let predicted = cell.predicted_refused?;
    if total(cell) == 0 {
        return None;
    }
    let word = |refused: bool| if refused { "refused" } else { "loads" };
    let observed = count(cell, Outcome::Refused) > 0;
    Some(format!(
        "predicted {} / observed {}",
        word(predicted),
        word(observed)
    ))
}

/// One device type's coverage: its rows, and how many of its command-cycle
/// states trials migrated in.
pub struct TypeCoverage<'a> {
    pub device_type: &'a str,
    pub rows: Vec<&'a CoverageRow>,
    pub cycles: usize,
    /// The command-cycle states no trial migrated in.
    pub never: Vec<&'a str>,
}

/// The coverage rows grouped by device type, in first-seen order.
pub fn coverage_by_type(rows: &[CoverageRow]) -> Vec<TypeCoverage<'_>> {
    let mut out: Vec<TypeCoverage<'_>> = Vec::new();
    for r in rows {
        let i = match out.iter().position(|t| t.device_type == r.device_type) {
            Some(i) => i,
            None => {
                out.push(TypeCoverage {
                    device_type: &r.device_type,
                    rows: Vec::new(),
                    cycles: 0,
                    never: Vec::new(),
                });
                out.len() - 1
            }
        };
        let t = &mut out[i];
        t.rows.push(r);
        if r.cycle {
            t.cycles += 1;
            if r.trials == 0 {
                t.never.push(&r.state);
            }
        }
    }
    out
}

/// True if the static checker's prediction did not come true.
pub fn prediction_failed(cell: &Cell) -> bool {
    cell.predicted_refused
        .is_some_and(|p| total(cell) > 0 && p != (count(cell, Outcome::Refused) > 0))
}

/// Trials whose outcome was not predicted: the harness's own count, or the
/// counts of unpredicted outcomes if those say more.
pub fn unexpected_trials(cell: &Cell) -> u64 {
    let by_outcome: u64 = Outcome::ALL
        .iter()
        .filter(|&&o| !is_expected(cell, o))
        .map(|&o| count(cell, o))
        .sum();
    cell.unexpected.max(by_outcome)
}

/// Whether `cell` gets a details section: anything unexpected, or any lossy,
/// diverged or crashed trial (expected or not).
pub fn needs_details(cell: &Cell) -> bool {
    unexpected_trials(cell) > 0
        || cell.unexpectedly_identical > 0
        || NOTEWORTHY.iter().any(|&o| count(cell, o) > 0)
}

/// Overall state of a cell, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellStatus {
    /// No trials.
    Empty,
    /// Every trial identical, as predicted.
    Clean,
    /// Some refused or lossy trials, all predicted.
    Expected,
    /// At least one trial not predicted, or a predicted failure that passed.
    Unexpected,
}

/// Classifies `cell`.
pub fn status(cell: &Cell) -> CellStatus {
    if unexpected_trials(cell) > 0 || cell.unexpectedly_identical > 0 {
        CellStatus::Unexpected
    } else if total(cell) == 0 {
        CellStatus::Empty
    } else if count(cell, Outcome::Identical) == total(cell) {
        CellStatus::Clean
    } else {
        CellStatus::Expected
    }
}

/// Where each cell goes on the page.
#[derive(Debug, Default, PartialEq)]
pub struct Layout<'a> {
    /// Version names in matrix order: rows (sources) and columns (destinations).
    pub axis: Vec<&'a str>,
    /// `(row, column)` to index into `Results::cells`.
    pub grid: BTreeMap<(usize, usize), usize>,
    /// Cells listed after the matrix (chains, and any cell that has no grid slot), in input order.
    pub chains: Vec<usize>,
}

impl Layout<'_> {
    /// Pair cells in row-major order, then the chains: the order everything is listed in.
    pub fn ordered_cells(&self) -> Vec<usize> {
        self.grid.values().chain(&self.chains).copied().collect()
    }
}

/// The trials that were not identical, grouped by chain, so per-cell lists
/// (refusal reasons, trials by reason) cost one pass over a soak's records.
#[derive(Debug, Default)]
pub struct NotableTrials<'a> {
    by_chain: HashMap<&'a [String], Vec<&'a TrialRecord>>,
}

impl<'a> NotableTrials<'a> {
    /// Indexes the non-identical trials of `results`.
    pub fn new(results: &'a Results) -> Self {
        let mut by_chain: HashMap<&[String], Vec<&TrialRecord>> = HashMap::new();
        for trial in &results.trials {
            if trial.outcome != Some(Outcome::Identical) {
                by_chain
                    .entry(trial.chain.as_slice())
                    .or_default()
                    .push(trial);
            }
        }
        NotableTrials { by_chain }
    }

    /// Non-identical trials of `chain`, in input order.
    pub fn of(&self, chain: &[String]) -> &[&'a TrialRecord] {
        self.by_chain.get(chain).map_or(&[], Vec::as_slice)
    }
}

/// Lays out the cells of `results`: versions in their given order, then any
/// other name a pair mentions, so no cell is dropped.
pub fn layout(results: &Results) -> Layout<'_> {
    let mut axis: Vec<&str> = Vec::new();
    let pair_names = results
        .cells
        .iter()
        .filter(|c| c.chain.len() == 2)
        .flat_map(|c| &c.chain);
    for name in results.versions.iter().map(|v| &v.name).chain(pair_names) {
        if !axis.contains(&name.as_str()) {
            axis.push(name);
        }
    }
    let position = |name: &str| axis.iter().position(|&a| a == name);
    let mut grid = BTreeMap::new();
    let mut chains = Vec::new();
    for (index, cell) in results.cells.iter().enumerate() {
        let slot = match cell.chain.as_slice() {
            [src, dst] => position(src).zip(position(dst)),
            _ => None,
        };
        match slot {
            Some(slot) if !grid.contains_key(&slot) => {
                grid.insert(slot, index);
            }
            _ => chains.push(index),
        }
    }
    Layout { axis, grid, chains }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::VersionInfo;

    fn cell(chain: &[&str], counts: &[(Outcome, u64)], expected: &[Outcome]) -> Cell {
        Cell {
            chain: chain.iter().map(|s| s.to_string()).collect(),
            counts: counts.iter().copied().collect(),
            expected: expected.to_vec(),
            ..Cell::default()
        }
    }

    #[test]
    fn test_layout_rows_are_sources_columns_destinations_chains_after() {
        let results = Results {
            versions: ["a", "b"]
                .iter()
                .map(|n| VersionInfo {
                    name: n.to_string(),
                    ..VersionInfo::default()
                })
                .collect(),
            cells: vec![
                cell(&["a", "b", "a"], &[], &[]),
                cell(&["b", "a"], &[], &[]),
                cell(&["a", "b"], &[], &[]),
                cell(&["c", "a"], &[], &[]),
            ],
            ..Results::default()
        };
        let layout = layout(&results);
        assert_eq!(layout.axis, ["a", "b", "c"]);
        assert_eq!(layout.grid[&(1, 0)], 1);
        assert_eq!(layout.grid[&(0, 1)], 2);
        assert_eq!(layout.grid[&(2, 0)], 3);
        assert_eq!(layout.chains, [0]);
        assert_eq!(layout.ordered_cells(), [2, 1, 3, 0]);
    }

    #[test]
    fn test_difference_pair_has_a_direction_only_for_migration() {
        let migration = crate::results::samples::cross_release().unlisted[0].clone();
        assert_eq!(
            difference_pair(&migration, "->"),
            "virt-qemu-7.2 -> virt-qemu-10.0"
        );
        let behaviour = ObservedDifference {
            kind: BEHAVIOUR_KIND.to_string(),
            ..migration
        };
        assert_eq!(
            difference_pair(&behaviour, "->"),
            "virt-qemu-7.2 = virt-qemu-10.0"
        );
        assert_eq!(plural(1, "op", "ops"), "op");
        assert_eq!(plural(0, "op", "ops"), "ops");
    }

    #[test]
    fn test_status_and_details_follow_expectations() {
        use Outcome::*;
        let clean = cell(&["a", "b"], &[(Identical, 4)], &[Identical]);
        assert_eq!(status(&clean), CellStatus::Clean);
        assert!(!needs_details(&clean));

        let refused = cell(&["a", "b"], &[(Refused, 4)], &[Refused]);
        assert_eq!(status(&refused), CellStatus::Expected);
        assert!(!needs_details(&refused));

        let lossy = cell(
            &["a", "b"],
            &[(Identical, 3), (Lossy, 1)],
            &[Identical, Lossy],
        );
        assert_eq!(status(&lossy), CellStatus::Expected);
        assert!(needs_details(&lossy));

        let diverged = cell(&["a", "b"], &[(Identical, 3), (Diverged, 1)], &[Identical]);
        assert_eq!(status(&diverged), CellStatus::Unexpected);
        assert_eq!(unexpected_trials(&diverged), 1);
        assert!(needs_details(&diverged));

        let passing = Cell {
            unexpectedly_identical: 2,
            ..cell(&["a", "b"], &[(Identical, 2)], &[Identical, Refused])
        };
        assert_eq!(status(&passing), CellStatus::Unexpected);
        assert!(needs_details(&passing));

        assert_eq!(status(&cell(&["a", "b"], &[], &[])), CellStatus::Empty);
    }

    #[test]
    fn a_prediction_is_shown_beside_the_observation_and_a_wrong_one_flagged() {
        let mut c = cell(&["a", "b"], &[(Outcome::Refused, 3)], &[]);
        assert_eq!(prediction(&c), None, "no prediction made");
        c.predicted_refused = Some(true);
        assert_eq!(
            prediction(&c).as_deref(),
            Some("predicted refused / observed refused")
        );
        assert!(!prediction_failed(&c));
        c.predicted_refused = Some(false);
        assert_eq!(
            prediction(&c).as_deref(),
            Some("predicted loads / observed refused")
        );
        assert!(prediction_failed(&c));
        let mut loads = cell(&["a", "b"], &[(Outcome::Identical, 2)], &[]);
        loads.predicted_refused = Some(true);
        assert!(prediction_failed(&loads));
        let mut empty = cell(&["a", "b"], &[], &[]);
        empty.predicted_refused = Some(true);
        assert!(!prediction_failed(&empty), "no trial, nothing observed");
    }
}
