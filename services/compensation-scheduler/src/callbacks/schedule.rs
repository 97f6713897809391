//! The callback retry schedule (`CALLBACK_SCHEDULE`): the waits between a delivery's attempts
//! after a failure. A delivery is sent once when its event arrives, then again after each wait
//! in turn until an endpoint answers 2xx; after the last wait's attempt fails it is `exhausted`
//! (listed by `payctl callback failed`, re-sent by `payctl callback resend`).
//!
//! ```text
//! CALLBACK_SCHEDULE="15s,1m,5m,30m,2h,6h,24h"   # the default: 8 attempts over about 33 hours
//! ```

use paygate::runtime::duration_setting::DurationSetting;
use std::time::Duration;

/// The published default (docs/callbacks.md).
pub const DEFAULT: &str = "15s,1m,5m,30m,2h,6h,24h";

/// Each wait: from 100 ms (for tests) to 7 days.
const WAIT: DurationSetting =
    DurationSetting::within(Duration::from_millis(100), Duration::from_secs(7 * 86_400));

/// The waits, in order; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackSchedule {
    waits: Vec<Duration>,
}

impl Default for CallbackSchedule {
    fn default() -> Self {
        Self::parse(DEFAULT).unwrap_or_else(|e| unreachable!("the built-in schedule parses: {e}"))
    }
}

impl CallbackSchedule {
    /// Comma-separated waits with a unit (`15s,1m,5m`), at least one, each from 100ms to 7d.
    pub fn parse(input: &str) -> Result<Self, String> {
        let waits = input
            .split(',')
            .map(|part| {
                WAIT.parse(part.trim()).map_err(|e| {
                    format!("{e}; expected comma-separated waits with a unit, such as {DEFAULT}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { waits })
    }

    /// The wait after the failure of attempt `step + 1` of a round; `None` once the schedule is
    /// used up (the delivery is exhausted).
    pub fn wait_after(&self, step: usize) -> Option<Duration> {
        self.waits.get(step).copied()
    }

    /// How many attempts a round makes at most: the first and one after each wait.
    pub fn attempts(&self) -> usize {
        self.waits.len() + 1
    }

    pub fn waits(&self) -> &[Duration] {
        &self.waits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_published_schedule() {
        let s = CallbackSchedule::default();
        let secs: Vec<u64> = s.waits().iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [15, 60, 300, 1800, 7200, 21_600, 86_400]);
        assert_eq!(s.attempts(), 8);
        assert_eq!(s.wait_after(0), Some(Duration::from_secs(15)));
        assert_eq!(s.wait_after(7), None, "after the eighth attempt: exhausted");
    }

    #[test]
    fn bad_schedules_are_refused_with_the_form() {
        for bad in ["", "15s,,1m", "0s", "8d", "soon"] {
            let e = CallbackSchedule::parse(bad).expect_err(bad);
            assert!(e.contains("comma-separated waits"), "{bad}: {e}");
        }
        assert_eq!(CallbackSchedule::parse("200ms, 1s").unwrap().attempts(), 3);
    }
}
