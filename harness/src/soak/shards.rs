//! Deterministic shards of a soak run's seeds, and run durations.

use std::time::Duration;

/// Shard `k` of `n` (1-based `k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard '{s}': expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// The whole run as one shard.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    /// The i-th seed of this shard, counting from `start`: seeds are dealt
    /// round-robin, so shards 1..=N together cover exactly the seeds of one run.
    pub fn seed(&self, start: u64, i: u64) -> u64 {
        start + (self.k - 1) + i * self.n
    }

    /// How many of the seeds `start..start+count` belong to this shard.
    pub fn count_in(&self, count: u64) -> u64 {
        let first = self.k - 1;
        if first >= count {
            0
        } else {
            (count - first).div_ceil(self.n)
        }
    }

    /// File-name suffix (`shard-2-of-4`), empty for a whole run.
    pub fn suffix(&self) -> String {
        if self.n == 1 {
            String::new()
        } else {
            format!(".shard-{}-of-{}", self.k, self.n)
        }
    }
}

/// Parses `10m`, `90s`, `1h`, `500ms` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("duration '{s}': expected a number with ms, s, m or h (e.g. 10m)");
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "" | "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seed_range() {
        let (start, count) = (1000, 23);
        let mut all = Vec::new();
        for k in 1..=4 {
            let s = Shard { k, n: 4 };
            all.extend((0..s.count_in(count)).map(|i| s.seed(start, i)));
        }
        all.sort();
        assert_eq!(all, (start..start + count).collect::<Vec<_>>());
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { k: 2, n: 4 }));
        assert!("5/4".parse::<Shard>().is_err());
        assert!("0/4".parse::<Shard>().is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10 parsecs").is_err());
    }
}
