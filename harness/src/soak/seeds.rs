//! The seeds a soak tally covers, as a few arithmetic ranges (a shard's
//! seeds are `start + (K-1) + i·N`), so a checkpoint stays small however
//! long the run, and a merge can tell whether two tallies counted a seed
//! twice.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest step a range may have: a shard count, far below it.
pub const MAX_STEP: u64 = u32::MAX as u64;

/// The seeds `first, first + step, …` (`count` of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    pub first: u64,
    pub step: u64,
    pub count: u64,
}

impl SeedRange {
    /// Why the range is not one a soak writes (a step of 0 or above
    /// [`MAX_STEP`], a last seed past `u64::MAX`), if it is not.
    pub fn check(&self) -> Result<(), String> {
        if self.step == 0 || self.step > MAX_STEP {
            return Err(format!(
                "a seed range with step {}: expected a step from 1 to {MAX_STEP}",
                self.step
            ));
        }
        let last = self.count.checked_sub(1).map(|n| {
            n.checked_mul(self.step)
                .and_then(|d| d.checked_add(self.first))
        });
        if last == Some(None) {
            return Err(format!(
                "a seed range of {} seeds from {} step {}: its last seed is past {}",
                self.count,
                self.first,
                self.step,
                u64::MAX
            ));
        }
        Ok(())
    }

    /// The largest seed (`None` if empty).
    pub fn last(&self) -> Option<u64> {
        (self.count > 0).then(|| self.first + (self.count - 1) * self.step)
    }

    /// True if `seed` is one of these seeds.
    pub fn contains(&self, seed: u64) -> bool {
        self.last().is_some_and(|last| {
            seed >= self.first && seed <= last && (seed - self.first).is_multiple_of(self.step)
        })
    }

    /// How many seeds the two ranges share (any steps up to [`MAX_STEP`]):
    /// the seeds that are `first` modulo both steps, by the Chinese
    /// remainder theorem, within the span both ranges cover.
    pub fn shared(&self, other: &SeedRange) -> u64 {
        let (Some(last_a), Some(last_b)) = (self.last(), other.last()) else {
            return 0;
        };
        let (lo, hi) = (self.first.max(other.first), last_a.min(last_b));
        if lo > hi {
            return 0;
        }
        let (a, p) = (i128::from(self.first), i128::from(self.step.max(1)));
        let (b, q) = (i128::from(other.first), i128::from(other.step.max(1)));
        // x = a + p·t and x ≡ b (mod q): p·t ≡ b − a (mod q).
        let (g, inv, _) = extended_gcd(p, q);
        if (b - a) % g != 0 {
            return 0;
        }
        let q_g = q / g;
        let t = ((b - a) / g).rem_euclid(q_g) * inv.rem_euclid(q_g) % q_g;
        let x0 = a + p * t;
        let lcm = p * q_g;
        // The smallest common seed at or above `lo`.
        let lo = i128::from(lo);
        let first = x0 + (lo - x0).div_euclid(lcm) * lcm;
        let first = if first < lo { first + lcm } else { first };
        let hi = i128::from(hi);
        if first > hi {
            0
        } else {
            ((hi - first) / lcm + 1) as u64
        }
    }
}

/// `(g, x, y)` with `a·x + b·y = g = gcd(a, b)`.
fn extended_gcd(a: i128, b: i128) -> (i128, i128, i128) {
    if b == 0 {
        (a, 1, 0)
    } else {
        let (g, x, y) = extended_gcd(b, a % b);
        (g, y, x - (a / b) * y)
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last() {
            None => write!(f, "no seeds"),
            Some(last) if self.count == 1 => write!(f, "seed {last}"),
            Some(last) if self.step == 1 => write!(f, "seeds {}..={last}", self.first),
            Some(last) => write!(f, "seeds {}..={last} step {}", self.first, self.step),
        }
    }
}

/// Disjoint seed ranges in increasing order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeedSet(pub Vec<SeedRange>);

impl SeedSet {
    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|r| r.count).sum()
    }

    /// True if there are no seeds.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if `seed` is in the set.
    pub fn contains(&self, seed: u64) -> bool {
        self.0.iter().any(|r| r.contains(seed))
    }

    /// How many seeds the two sets share.
    pub fn shared(&self, other: &SeedSet) -> u64 {
        self.0
            .iter()
            .flat_map(|a| other.0.iter().map(move |b| a.shared(b)))
            .sum()
    }

    /// Adds `seed` of the progression with `step` (a shard's seeds): it
    /// extends the range it follows or precedes, joining two ranges when it
    /// fills the gap between them. Seeds finish out of order, but only the
    /// seeds in flight leave gaps, so the set stays a handful of ranges.
    pub fn insert(&mut self, seed: u64, step: u64) {
        let step = step.max(1);
        let ranges = &mut self.0;
        // The ranges that start at or before `seed`.
        let at = ranges.partition_point(|r| r.first <= seed);
        if at > 0 && ranges[at - 1].contains(seed) {
            return;
        }
        let extends = at > 0 && {
            let r = &ranges[at - 1];
            r.step == step && r.first + r.count * step == seed
        };
        let precedes =
            at < ranges.len() && ranges[at].step == step && seed + step == ranges[at].first;
        match (extends, precedes) {
            (true, true) => {
                let next = ranges.remove(at);
                ranges[at - 1].count += 1 + next.count;
            }
            (true, false) => ranges[at - 1].count += 1,
            (false, true) => {
                ranges[at].first = seed;
                ranges[at].count += 1;
            }
            (false, false) => ranges.insert(
                at,
                SeedRange {
                    first: seed,
                    step,
                    count: 1,
                },
            ),
        }
    }
}

impl fmt::Display for SeedSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "no seeds");
        }
        let parts: Vec<String> = self.0.iter().map(|r| r.to_string()).collect();
        write!(f, "{} ({} seeds)", parts.join(", "), self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: u64, step: u64, count: u64) -> SeedRange {
        SeedRange { first, step, count }
    }

    #[test]
    fn shared_seeds_of_two_ranges_match_counting_them_one_by_one() {
        let ranges = [
            range(0, 1, 0),
            range(3, 1, 10),
            range(40, 3, 17),
            range(41, 3, 9),
            range(42, 4, 30),
            range(40, 6, 12),
            range(1000, 5, 1),
            range(7, 7, 20),
            range(10, 2, 50),
        ];
        for a in &ranges {
            for b in &ranges {
                let brute = (0..a.count)
                    .map(|i| a.first + i * a.step)
                    .filter(|s| b.contains(*s))
                    .count() as u64;
                assert_eq!(a.shared(b), brute, "{a} and {b}");
            }
        }
    }

    #[test]
    fn seeds_finishing_out_of_order_join_into_one_range() {
        let mut set = SeedSet::default();
        for seed in [1001, 1007, 1004, 1013, 1010, 1004] {
            set.insert(seed, 3);
        }
        assert_eq!(set.0, vec![range(1001, 3, 5)]);
        set.insert(1019, 3);
        assert_eq!(set.0.len(), 2);
        assert!(set.contains(1019) && set.contains(1013) && !set.contains(1016));
        assert_eq!(set.len(), 6);
        assert_eq!(
            set.to_string(),
            "seeds 1001..=1013 step 3, seed 1019 (6 seeds)"
        );
    }

    #[test]
    fn a_range_no_soak_writes_is_refused() {
        assert!(range(1, 0, 3).check().is_err());
        assert!(range(1, MAX_STEP + 1, 3).check().is_err());
        assert!(range(u64::MAX - 1, 2, 2).check().is_err());
        assert!(range(u64::MAX - 1, 2, 1).check().is_ok());
        assert!(range(5, 1, 0).check().is_ok());
    }
}
