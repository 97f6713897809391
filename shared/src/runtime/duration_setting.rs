//! How every setting that is a length of time is read: one parser, the `humantime` crate's, for
//! the services' settings (`RETRY_TIERS`, `STUCK_SCHEDULE`, `OUTBOX_RETENTION`, …), the
//! providers' (`PAYGATE_PROVIDER_<NAME>_TIMEOUT`, …) and payctl's.
//!
//! A duration is a number with a unit: `500ms`, `30s`, `5m`, `2h`, `7d` (also `us`, `w`, and the
//! long names `sec`, `min`, `hours`, `days`, …), several added up (`1h 30m`, `1h30m`), or a
//! fraction (`1.5s`). `m` is minutes (`M` is months). A setting whose name ends in its unit
//! (`…_MS`, `…_SECS`) still takes a plain whole number in that unit, as it always has: `3000` is
//! three seconds in `NOTIFY_CONFIRM_TIMEOUT_MS`, ten seconds is `10` in `SHUTDOWN_GRACE_SECS`.
//! Each setting has its range; a value outside it, or that is not a duration, is refused with a
//! message that names the form and the range.

use std::time::Duration;

/// The unit of a setting's plain whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainUnit {
    Millis,
    Seconds,
}

impl PlainUnit {
    fn name(self) -> &'static str {
        match self {
            Self::Millis => "milliseconds",
            Self::Seconds => "seconds",
        }
    }

    fn of(self, n: u64) -> Duration {
        match self {
            Self::Millis => Duration::from_millis(n),
            Self::Seconds => Duration::from_secs(n),
        }
    }

    /// `d` in this unit, for messages (the ranges are whole numbers of it).
    fn count(self, d: Duration) -> u128 {
        match self {
            Self::Millis => d.as_millis(),
            Self::Seconds => u128::from(d.as_secs()),
        }
    }
}

/// One setting's durations: its range, and whether it takes plain whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSetting {
    min: Duration,
    max: Option<Duration>,
    plain: Option<PlainUnit>,
}

const NANOSECOND: Duration = Duration::from_nanos(1);

impl DurationSetting {
    /// Any duration above zero, with a unit.
    pub const ABOVE_ZERO: Self = Self { min: NANOSECOND, max: None, plain: None };

    /// A duration from `min` to `max`, with a unit.
    pub const fn within(min: Duration, max: Duration) -> Self {
        Self { min, max: Some(max), plain: None }
    }

    /// The same, also taking plain whole numbers of `unit`.
    pub const fn or_plain(self, unit: PlainUnit) -> Self {
        Self { plain: Some(unit), ..self }
    }

    /// Reads `input` (spaces around it ignored), or says what is expected.
    pub fn parse(&self, input: &str) -> Result<Duration, String> {
        let s = input.trim();
        let plain = self.plain.and_then(|unit| s.parse::<u64>().ok().map(|n| unit.of(n)));
        plain
            .or_else(|| humantime::parse_duration(s).ok())
            .filter(|d| *d >= self.min && self.max.is_none_or(|max| *d <= max))
            .ok_or_else(|| format!("expected {} (got {input:?})", self.form()))
    }

    /// What the setting takes, for its error message.
    fn form(&self) -> String {
        const UNITS: &str = "a duration with a unit (ms, s, m, h, d), such as 500ms, 30s, 5m, 1h 30m or 7d";
        match (self.plain, self.max) {
            (Some(unit), Some(max)) => format!(
                "a whole number of {} from {} to {}, or {UNITS}",
                unit.name(),
                unit.count(self.min),
                unit.count(max)
            ),
            (Some(unit), None) => format!("a whole number of {} above 0, or {UNITS}", unit.name()),
            (None, Some(max)) => format!("{UNITS}, from {} to {}", short(self.min), short(max)),
            (None, None) => format!("{UNITS}, above 0"),
        }
    }
}

/// `d` in its largest whole unit (`1d`, `90s`, `100ms`), as ranges are written.
fn short(d: Duration) -> String {
    let millis = d.as_millis();
    let units = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];
    match units.into_iter().find(|(_, size)| millis >= *size && millis.is_multiple_of(*size)) {
        Some((unit, size)) => format!("{}{unit}", millis / size),
        None => format!("{millis}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_forms_paygate_always_took_still_parse() {
        let any = DurationSetting::ABOVE_ZERO;
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("5s", 5 * SECOND),
            ("2m", 120 * SECOND),
            ("1h", 3600 * SECOND),
            ("7d", 7 * DAY),
            (" 30s ", 30 * SECOND),
        ] {
            assert_eq!(any.parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn humantimes_forms_are_taken_too() {
        let any = DurationSetting::ABOVE_ZERO;
        assert_eq!(any.parse("1h 30m"), Ok(5400 * SECOND));
        assert_eq!(any.parse("1h30m"), Ok(5400 * SECOND));
        assert_eq!(any.parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(any.parse("2min"), Ok(120 * SECOND));
        assert_eq!(any.parse("1day"), Ok(DAY));
    }

    #[test]
    fn plain_numbers_are_taken_only_in_the_settings_unit() {
        let millis = DurationSetting::ABOVE_ZERO.or_plain(PlainUnit::Millis);
        assert_eq!(millis.parse("3000"), Ok(3 * SECOND));
        assert_eq!(millis.parse("3s"), Ok(3 * SECOND));
        let seconds = DurationSetting::within(Duration::ZERO, DAY).or_plain(PlainUnit::Seconds);
        assert_eq!(seconds.parse("10"), Ok(10 * SECOND));
        assert_eq!(seconds.parse("0"), Ok(Duration::ZERO));
        let err = DurationSetting::ABOVE_ZERO.parse("3000").unwrap_err();
        assert!(err.starts_with("expected a duration with a unit"), "{err}");
    }

    #[test]
    fn zero_and_values_out_of_range_are_refused_naming_the_range() {
        assert!(DurationSetting::ABOVE_ZERO.parse("0s").unwrap_err().ends_with("above 0 (got \"0s\")"));
        let within = DurationSetting::within(Duration::from_millis(100), 3600 * SECOND);
        assert!(within.parse("2h").unwrap_err().contains("from 100ms to 1h"));
        let wide = DurationSetting::within(SECOND, DAY * 3650);
        assert!(wide.parse("soon").unwrap_err().contains("from 1s to 3650d"));
        let poll =
            DurationSetting::within(Duration::from_millis(10), 3600 * SECOND).or_plain(PlainUnit::Millis);
        assert!(poll.parse("5").unwrap_err().contains("whole number of milliseconds from 10 to 3600000"));
        let grace = DurationSetting::within(Duration::ZERO, DAY).or_plain(PlainUnit::Seconds);
        assert!(grace.parse("1.5").unwrap_err().contains("whole number of seconds from 0 to 86400"));
        assert!(grace.parse("-1").is_err());
    }
}
