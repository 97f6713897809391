//! The stuck schedule: how long a non-final order may go without an answer before the scheduler
//! asks its provider, and how the asking backs off. One default schedule and per-provider
//! overrides, from `STUCK_SCHEDULE`:
//!
//! ```text
//! STUCK_SCHEDULE="1m,5m,30m,2h,1d"                      # the default (this is the built-in one)
//! STUCK_SCHEDULE="1m,5m,30m,2h,1d;mockpay=10s,1m,5m"    # mockpay has its own
//! ```
//!
//! Entries are separated by `;`; an entry `provider=tiers` overrides the default for that
//! provider, an entry without `=` is the default. Tiers are waits with a unit (ms, s, m, h, d; any
//! duration paygate's settings take, `runtime::duration_setting`).
//! The first tier is the threshold: an order is not queried before it is that old. After the
//! scheduler's k-th query of an order, the next waits tier k (the last tier repeats, so a stuck
//! order is asked once a day for as long as it stays stuck).

use paygate::runtime::duration_setting::DurationSetting;
use std::collections::BTreeMap;
use std::time::Duration;

/// The built-in default schedule.
pub const DEFAULT: &str = "1m,5m,30m,2h,1d";

const FORM: &str = "expected `;`-separated entries, each `TIERS` (the default) or `PROVIDER=TIERS`, where TIERS \
                    are comma-separated waits with a unit of ms, s, m, h or d, such as 1m,5m,30m,2h,1d;mockpay=10s,1m";

/// The schedule for every provider; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckSchedule {
    default: Vec<Duration>,
    providers: BTreeMap<String, Vec<Duration>>,
}

impl Default for StuckSchedule {
    fn default() -> Self {
        Self::parse(DEFAULT).unwrap_or_else(|e| unreachable!("the built-in schedule parses: {e}"))
    }
}

impl StuckSchedule {
    /// Parses `STUCK_SCHEDULE` (see the module documentation). Without a default entry, the
    /// built-in default applies to the providers not named.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut default = None;
        let mut providers = BTreeMap::new();
        for entry in s.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.split_once('=') {
                Some((provider, tiers)) => {
                    let provider = provider.trim();
                    if provider.is_empty() {
                        return Err(format!("{FORM} (an entry has no provider before `=`: {entry:?})"));
                    }
                    if providers.insert(provider.to_owned(), tiers_of(tiers)?).is_some() {
                        return Err(format!("{FORM} (provider {provider:?} appears twice)"));
                    }
                }
                None => {
                    if default.replace(tiers_of(entry)?).is_some() {
                        return Err(format!("{FORM} (two default entries)"));
                    }
                }
            }
        }
        let default = match default {
            Some(d) => d,
            None if providers.is_empty() => return Err(format!("{FORM} (got {s:?})")),
            None => tiers_of(DEFAULT)?,
        };
        Ok(Self { default, providers })
    }

    fn tiers(&self, provider: &str) -> &[Duration] {
        self.providers.get(provider).unwrap_or(&self.default)
    }

    /// How long the longest schedule (the default or a provider's own) takes to go through all
    /// its tiers once: the threshold and every wait after it. A non-final order older than this
    /// has been queried at every tier (alert `PaygateStuckPaymentPastSchedule`).
    pub fn span(&self) -> Duration {
        std::iter::once(&self.default)
            .chain(self.providers.values())
            .map(|tiers| tiers.iter().sum::<Duration>())
            .max()
            .unwrap_or_default()
    }

    /// How old an order of `provider` must be before its first stuck query.
    pub fn threshold(&self, provider: &str) -> Duration {
        self.wait(provider, 0)
    }

    /// The wait after the scheduler's `checks`-th query of an order of `provider` (0: the
    /// threshold). The last tier repeats.
    pub fn wait(&self, provider: &str, checks: i32) -> Duration {
        let tiers = self.tiers(provider);
        let i = usize::try_from(checks).unwrap_or(0).min(tiers.len() - 1);
        tiers[i]
    }
}

fn tiers_of(s: &str) -> Result<Vec<Duration>, String> {
    let tiers = s.split(',').map(str::trim).map(wait_of).collect::<Result<Vec<_>, _>>()?;
    if tiers.is_empty() {
        return Err(format!("{FORM} (no tiers in {s:?})"));
    }
    Ok(tiers)
}

fn wait_of(item: &str) -> Result<Duration, String> {
    DurationSetting::ABOVE_ZERO.parse(item).map_err(|_| format!("{FORM} (got tier {item:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60;

    #[test]
    fn the_default_is_one_minute_then_backs_off_to_a_day_and_stays() {
        let s = StuckSchedule::default();
        let waits: Vec<u64> = (0..7).map(|k| s.wait("any", k).as_secs()).collect();
        assert_eq!(waits, [M, 5 * M, 30 * M, 2 * 3600, 86_400, 86_400, 86_400]);
        assert_eq!(s.threshold("any"), Duration::from_secs(M));
    }

    #[test]
    fn a_provider_can_have_its_own_schedule() {
        let s = StuckSchedule::parse("2m,1h;mockpay=10s,1m").unwrap();
        assert_eq!(s.wait("mockpay", 0), Duration::from_secs(10));
        assert_eq!(s.wait("mockpay", 5), Duration::from_secs(M));
        assert_eq!(s.wait("alipay", 0), Duration::from_secs(2 * M));
        let only_override = StuckSchedule::parse("mockpay=500ms").unwrap();
        assert_eq!(only_override.wait("mockpay", 0), Duration::from_millis(500));
        assert_eq!(only_override.wait("other", 0), Duration::from_secs(M), "the built-in default");
    }

    #[test]
    fn the_span_is_the_longest_schedule_summed() {
        assert_eq!(
            StuckSchedule::default().span(),
            Duration::from_secs(M + 5 * M + 30 * M + 2 * 3600 + 86_400)
        );
        let s = StuckSchedule::parse("1m,5m;mockpay=1d,2d;other=10s").unwrap();
        assert_eq!(s.span(), Duration::from_secs(3 * 86_400), "mockpay's is the longest");
        assert_eq!(StuckSchedule::parse("1h;x=1m").unwrap().span(), Duration::from_secs(3600));
    }

    #[test]
    fn malformed_schedules_say_what_is_expected() {
        for bad in ["", "1m,,5m", "0s", "5x", "=1m", "1m;2m", "a=1m;a=2m", "mockpay="] {
            let e = StuckSchedule::parse(bad).unwrap_err();
            assert!(e.starts_with("expected `;`-separated entries"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_negative_count_is_the_threshold() {
        assert_eq!(StuckSchedule::default().wait("x", -3), Duration::from_secs(M));
    }
}
