//! Timing statistics in integer arithmetic (the workspace denies `clippy::float_arithmetic`):
//! latencies are whole microseconds, percentiles are read exactly from the sorted samples
//! (nearest rank), and rates and ratios are kept in thousandths.

use std::fmt;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u64>,
}

impl Samples {
    pub fn push(&mut self, us: u64) {
        self.us.push(us);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.us.is_empty()
    }

    /// The summary of the samples, or `None` if there are none.
    pub fn summary(&self) -> Option<Summary> {
        let mut v = self.us.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(Summary {
            count: v.len(),
            p50_us: percentile(&v, 50),
            p99_us: percentile(&v, 99),
            max_us: v[v.len() - 1],
        })
    }
}

/// The `pct`-th percentile of ascending `sorted` by nearest rank: the smallest sample that at
/// least `pct` % of the samples are less than or equal to.
pub fn percentile(sorted: &[u64], pct: u64) -> u64 {
    assert!(!sorted.is_empty() && (1..=100).contains(&pct));
    let n = sorted.len() as u64;
    let rank = (pct * n).div_ceil(100).max(1); // 1-based
    sorted[usize::try_from(rank - 1).expect("a rank within the slice")]
}

/// p50, p99 and max of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} p50={} ms p99={} ms max={} ms",
            self.count,
            Millis(self.p50_us),
            Millis(self.p99_us),
            Millis(self.max_us)
        )
    }
}

/// Microseconds shown as milliseconds with one decimal (rounded half up).
#[derive(Debug, Clone, Copy)]
pub struct Millis(pub u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 + 50) / 100;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// A quantity in thousandths (a rate in milli-payments per second, a ratio in thousandths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Milli(pub u64);

impl Milli {
    /// `count` events over `elapsed_us` microseconds, per second.
    pub fn rate(count: u64, elapsed_us: u64) -> Self {
        Self(
            u64::try_from(u128::from(count) * 1_000_000_000 / u128::from(elapsed_us.max(1)))
                .unwrap_or(u64::MAX),
        )
    }

    /// `self / other`.
    pub fn ratio(self, other: Self) -> Self {
        Self(u64::try_from(u128::from(self.0) * 1000 / u128::from(other.0.max(1))).unwrap_or(u64::MAX))
    }

    /// Shown with `decimals` decimals (0 to 3), rounded half up.
    pub fn show(self, decimals: u32) -> String {
        let decimals = decimals.min(3);
        let unit = 10u64.pow(3 - decimals);
        let scaled = (self.0 + unit / 2) / unit;
        if decimals == 0 {
            return scaled.to_string();
        }
        let div = 10u64.pow(decimals);
        format!("{}.{:0width$}", scaled / div, scaled % div, width = decimals as usize)
    }

    /// Parses a non-negative decimal such as `1234`, `1234.5` or `0.1` (at most 3 decimals).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("expected a non-negative decimal with at most 3 decimals, such as 0.1 (got {s:?})");
        let (int, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        if int.is_empty() && frac.is_empty() || frac.len() > 3 {
            return Err(bad());
        }
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !digits(frac) {
            return Err(bad());
        }
        let int: u64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
        let frac_val: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
        let frac_milli = frac_val * 10u64.pow(3 - u32::try_from(frac.len()).map_err(|_| bad())?);
        int.checked_mul(1000).and_then(|v| v.checked_add(frac_milli)).map(Self).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&v, 100), 100);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
        let mut s = Samples::default();
        for x in [5, 1, 4, 2, 3] {
            s.push(x * 1000);
        }
        let sum = s.summary().unwrap();
        assert_eq!((sum.p50_us, sum.p99_us, sum.max_us), (3000, 5000, 5000));
    }

    #[test]
    fn rates_ratios_and_decimals() {
        assert_eq!(Milli::rate(5000, 10_000_000).show(1), "500.0");
        assert_eq!(Milli::rate(1, 3_000_000).show(3), "0.333");
        assert_eq!(Milli(612_345).ratio(Milli(1_050_000)).show(2), "0.58");
        assert_eq!(Milli(1_234).show(0), "1");
        assert_eq!(Millis(12_345).to_string(), "12.3");
        assert_eq!(Millis(12_350).to_string(), "12.4");
        assert_eq!(Milli::parse("0.1"), Ok(Milli(100)));
        assert_eq!(Milli::parse("1050"), Ok(Milli(1_050_000)));
        assert_eq!(Milli::parse("12.25"), Ok(Milli(12_250)));
        assert!(Milli::parse("-1").is_err() && Milli::parse("0.0001").is_err() && Milli::parse("").is_err());
    }
}
