//! A provider's day: the time zone its bills and settlements count days in, and where such a day
//! starts. mockpay's days are UTC days; Alipay's and WeChat Pay's are days of China Standard Time
//! (UTC+8), the zone of every time they write. Reconciliation judges our payments of a day by the
//! provider's day (`recon::matching`), so that a payment made at 20:00 UTC, which is the next
//! morning in Beijing, is looked for in the next day's bill.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// UTC, the default zone of a provider's day.
pub fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("+00:00 is a valid offset")
}

/// China Standard Time (Beijing time, UTC+8): Alipay's and WeChat Pay's zone.
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The instant `day` starts in the zone `offset`.
pub fn starts_at(day: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
    (midnight - chrono::Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beijing_day_starts_at_16_00_utc_the_day_before() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(starts_at(day, china_standard_time()).to_rfc3339(), "2026-12-06T16:00:00+00:00");
        assert_eq!(starts_at(day, utc()).to_rfc3339(), "2026-12-07T00:00:00+00:00");
    }
}
