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
                        .filter(|o| matches!(o, TrialOp::Migrate)),
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
        TrialOp::Write {
            dev: 0,
            addr,
            width: 1,
            val: 0,
        }
    }

    #[test]
    fn keeps_the_culprits_and_the_migrations() {
        let mut ops: Vec<TrialOp> = (0..40).map(w).collect();
        ops.insert(20, TrialOp::Migrate);
        // Fails while ops 7 and 33 are both present (and the migration).
        let fails = |o: &[TrialOp]| {
            o.contains(&w(7)) && o.contains(&w(33)) && o.contains(&TrialOp::Migrate)
        };
        let out = shrink(&ops, &fails, 10_000);
        assert_eq!(out, vec![w(7), TrialOp::Migrate, w(33)]);
    }
}
