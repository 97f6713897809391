//! Provider-side identifiers: 19-digit numeric transaction ids (above 2^53, like LINE Pay's),
//! refund transaction ids, client secrets and notification ids.
//!
//! Transaction ids come from one counter per process, started from the clock, so they are
//! unique within a process (across several simulators, and across `POST /admin/reset`) and very
//! unlikely to repeat across runs. They are always handed out as strings: a JSON number this
//! large loses digits in a double.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// 2026-01-01 in Unix milliseconds; only used to spread the starting points of runs.
const EPOCH_MS: u64 = 1_767_225_600_000;

/// Where this process's ids start: 10^12 start points, 1000 ids apart per millisecond.
static START: LazyLock<u64> = LazyLock::new(|| {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    (now_ms.saturating_sub(EPOCH_MS) % 1_000_000_000_000) * 1_000
});
static NEXT_PAYMENT: AtomicU64 = AtomicU64::new(0);
static NEXT_REFUND: AtomicU64 = AtomicU64::new(0);

/// Hands out provider-side transaction ids.
pub(crate) struct IdGenerator;

impl IdGenerator {
    pub fn new() -> Self {
        IdGenerator
    }

    /// A new payment transaction id: 19 digits, starting with 2.
    pub fn transaction_id(&self) -> String {
        (2_000_000_000_000_000_000 + *START + NEXT_PAYMENT.fetch_add(1, Ordering::Relaxed)).to_string()
    }

    /// A new refund transaction id: 19 digits, starting with 3.
    pub fn refund_transaction_id(&self) -> String {
        (3_000_000_000_000_000_000 + *START + NEXT_REFUND.fetch_add(1, Ordering::Relaxed)).to_string()
    }
}

/// A client secret for the `client_secret` pay method.
pub(crate) fn client_secret(transaction_id: &str) -> String {
    format!("{transaction_id}_secret_{}", uuid::Uuid::new_v4().simple())
}

/// A notification id: stable across the retries and duplicates of one notification.
pub(crate) fn notification_id() -> String {
    format!("ntf_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_are_19_digits_above_2_pow_53_and_unique() {
        let g = IdGenerator::new();
        let a = g.transaction_id();
        let b = g.transaction_id();
        let r = g.refund_transaction_id();
        for id in [&a, &b, &r] {
            assert_eq!(id.len(), 19, "{id}");
            assert!(id.bytes().all(|c| c.is_ascii_digit()));
            assert!(id.parse::<u64>().unwrap() > 1u64 << 53);
        }
        assert_ne!(a, b);
    }
}
