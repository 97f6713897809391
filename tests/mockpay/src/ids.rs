//! Provider-side identifiers: 19-digit numeric transaction ids (above 2^53, like LINE Pay's),
//! refund transaction ids, client secrets and notification ids.
//!
//! Transaction ids are a counter started from the clock, so they are unique within a process
//! (also across `POST /admin/reset`) and very unlikely to repeat across runs. They are always
//! handed out as strings: a JSON number this large loses digits in a double.

use std::sync::atomic::{AtomicU64, Ordering};

/// 2026-01-01 in Unix milliseconds; only used to spread the starting points of runs.
const EPOCH_MS: u64 = 1_767_225_600_000;

pub(crate) struct IdGenerator {
    next_payment: AtomicU64,
    next_refund: AtomicU64,
}

impl IdGenerator {
    pub fn new() -> Self {
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        // 10^15 slots of start points × 1000 ids per millisecond of wall time elapsed.
        let start = (now_ms.saturating_sub(EPOCH_MS) % 1_000_000_000_000) * 1_000;
        IdGenerator {
            next_payment: AtomicU64::new(2_000_000_000_000_000_000 + start),
            next_refund: AtomicU64::new(3_000_000_000_000_000_000 + start),
        }
    }

    /// A new payment transaction id: 19 digits, starting with 2.
    pub fn transaction_id(&self) -> String {
        self.next_payment.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// A new refund transaction id: 19 digits, starting with 3.
    pub fn refund_transaction_id(&self) -> String {
        self.next_refund.fetch_add(1, Ordering::Relaxed).to_string()
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
