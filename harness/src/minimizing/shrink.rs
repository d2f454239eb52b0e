//! Shrinking a failing trial: delta debugging over its ops, keeping every
//! migration marker (the chain's hops), until no chunk can be removed.

use crate::generation::generator::TrialOp;

/// Removes chunks of ops while `fails` still holds, trying at most `budget`
/// candidates. Migration markers are never removed.
pub fn shrink(ops: &[TrialOp], fails: &dyn Fn(&[TrialOp]) -> bool, budget: usize) -> Vec<TrialOp> {
    let mut cur = ops.to_vec();
    let mut tries = 0;
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < cur.len() {
            if tries >= budget {
                return cur;
            }
            let end = (start + chunk).min(cur.len());
            let candidate: Vec<TrialOp> = cur[..start]
                .iter()
                .chain(
                    cur[start..end]
                        .iter()
                        .filter(|o| matches!(o, TrialOp::Migrate { .. })),
                )
                .chain(cur[end..].iter())
                .cloned()
                .collect();
            if candidate.len() < cur.len() {
                tries += 1;
                if fails(&candidate) {
                    cur = candidate;
                    removed_any = true;
                    continue;
                }
            }
            start = end;
        }
        if !removed_any {
            if chunk == 1 {
                return cur;
            }
            chunk = (chunk / 2).max(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(addr: u64) -> TrialOp {
        TrialOp::write(0, addr, 1, 0)
    }

    #[test]
    fn keeps_the_culprits_and_the_migrations() {
        let mut ops: Vec<TrialOp> = (0..40).map(w).collect();
        ops.insert(20, TrialOp::MIGRATE);
        // Fails while ops 7 and 33 are both present (and the migration).
        let fails = |o: &[TrialOp]| {
            o.contains(&w(7)) && o.contains(&w(33)) && o.contains(&TrialOp::MIGRATE)
        };
        let out = shrink(&ops, &fails, 10_000);
        assert_eq!(out, vec![w(7), TrialOp::MIGRATE, w(33)]);
    }

    fn cmd(addr: u64, val: u64) -> TrialOp {
        TrialOp::write(0, addr, 4, val)
    }

    fn read(addr: u64) -> TrialOp {
        TrialOp::read(0, addr, 4)
    }

    /// A long trial: programs, status reads, clock steps, write-to-buffer
    /// starts (0xE8) here and there, three migrations.
    fn long_trial() -> Vec<TrialOp> {
        let mut ops = Vec::new();
        for i in 0..127u64 {
            ops.push(match i % 7 {
                0 => cmd(i * 4, 0x40),
                1 => cmd(i * 4, 0x1234 + i),
                2 | 5 => read(i * 4),
                3 => TrialOp::Step { ns: Some(i * 1000) },
                4 if i % 3 == 0 => cmd(i * 4, 0xE8),
                _ => cmd(i * 4, 0xFF),
            });
            if [30, 31, 90].contains(&i) {
                ops.push(TrialOp::MIGRATE);
            }
        }
        ops
    }

    fn markers(ops: &[TrialOp]) -> usize {
        ops.iter()
            .filter(|o| matches!(o, TrialOp::Migrate { .. }))
            .count()
    }

    /// Contains a write of 0xE8 followed, later, by a read.
    fn buffer_then_read(ops: &[TrialOp]) -> bool {
        let Some(start) = ops
            .iter()
            .position(|o| matches!(o, TrialOp::Write { val: 0xE8, .. }))
        else {
            return false;
        };
        ops[start..]
            .iter()
            .any(|o| matches!(o, TrialOp::Read { .. }))
    }

    /// Removing any single op other than a migration marker makes `fails` false.
    fn assert_one_minimal(out: &[TrialOp], fails: &dyn Fn(&[TrialOp]) -> bool) {
        for (i, op) in out.iter().enumerate() {
            if matches!(op, TrialOp::Migrate { .. }) {
                continue;
            }
            let mut fewer = out.to_vec();
            fewer.remove(i);
            assert!(!fails(&fewer), "op {i} ({op}) could still go: {out:?}");
        }
    }

    #[test]
    fn keeps_every_migration_marker_even_when_the_predicate_ignores_them() {
        let ops = long_trial();
        let out = shrink(&ops, &buffer_then_read, 10_000);
        assert_eq!(markers(&out), markers(&ops));
        assert_eq!(markers(&out), 3);
    }

    #[test]
    fn the_result_still_fails_and_is_one_minimal() {
        let ops = long_trial();
        assert!(buffer_then_read(&ops));
        let out = shrink(&ops, &buffer_then_read, 10_000);
        assert!(buffer_then_read(&out), "{out:?}");
        assert_one_minimal(&out, &buffer_then_read);
        // The 0xE8 write and one read are all it takes.
        assert_eq!(out.len() - markers(&out), 2, "{out:?}");

        // A predicate no single chunk size removes in one go: an odd number
        // (at least three) of programs of 0x40.
        let odd_programs = |o: &[TrialOp]| {
            let n = o
                .iter()
                .filter(|o| matches!(o, TrialOp::Write { val: 0x40, .. }))
                .count();
            n >= 3 && n % 2 == 1
        };
        assert!(odd_programs(&ops));
        let out = shrink(&ops, &odd_programs, 10_000);
        assert!(odd_programs(&out), "{out:?}");
        assert_one_minimal(&out, &odd_programs);
        assert_eq!(markers(&out), 3);
    }

    #[test]
    fn never_tries_more_candidates_than_the_budget() {
        let ops = long_trial();
        for budget in [0, 1, 7, 15] {
            let calls = std::cell::Cell::new(0usize);
            let counted = |o: &[TrialOp]| {
                calls.set(calls.get() + 1);
                buffer_then_read(o)
            };
            let out = shrink(&ops, &counted, budget);
            assert_eq!(calls.get(), budget, "budget {budget}");
            assert!(buffer_then_read(&out), "budget {budget}");
            assert_eq!(markers(&out), 3, "budget {budget}");
            if budget == 0 {
                assert_eq!(out, ops);
            }
        }
        // With room to spare it stops on its own, after more calls than the
        // budgets above allowed.
        let calls = std::cell::Cell::new(0usize);
        let counted = |o: &[TrialOp]| {
            calls.set(calls.get() + 1);
            buffer_then_read(o)
        };
        shrink(&ops, &counted, 10_000);
        assert!((16..10_000).contains(&calls.get()), "{}", calls.get());
    }
}
