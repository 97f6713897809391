//! Fault injection: rates in parts per million, latency, and the decisions drawn from them.
//!
//! Every decision is drawn from its own seeded `StdRng`, whose seed is a SHA-256 of the run's
//! seed, the decision's subject (e.g. "transport, pay, m1, order-7") and how many times that
//! subject has been decided before. Decisions therefore depend only on the seed and on each
//! order's own history, not on how concurrent requests interleave: the same seed and the same
//! calls per order give the same faults. Scripted faults always win over rates.
//!
//! No floats: a rate `p` ppm fires when `random_range(0..1_000_000) < p`.

use crate::script::{Fault, FaultClass, Operation, ScriptBook, ScriptEntry};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// One million: a rate of `PPM` fires always.
pub const PPM: u32 = 1_000_000;

/// A point of a latency distribution: `ppm` of the requests take at most `ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPoint {
    /// Cumulative share of requests, in parts per million (ascending; the last must be 1 000 000).
    pub ppm: u32,
    /// Latency at that share, in milliseconds (non-decreasing).
    pub ms: u64,
}

/// Added latency: `fixedMs` + uniform `0..=jitterMs` + a sample of `percentiles` (interpolated
/// linearly between points, from 0 ms at 0 ppm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Latency {
    pub fixed_ms: u64,
    pub jitter_ms: u64,
    pub percentiles: Vec<LatencyPoint>,
}

impl Latency {
    fn sample(&self, rng: &mut StdRng) -> Duration {
        let mut ms = self.fixed_ms;
        if self.jitter_ms > 0 {
            ms += rng.random_range(0..=self.jitter_ms);
        }
        if !self.percentiles.is_empty() {
            let r = u64::from(rng.random_range(0..PPM));
            let (mut lo_ppm, mut lo_ms) = (0u64, 0u64);
            for p in &self.percentiles {
                let hi_ppm = u64::from(p.ppm);
                if r < hi_ppm {
                    let span = hi_ppm - lo_ppm;
                    ms += lo_ms + p.ms.saturating_sub(lo_ms) * (r - lo_ppm) / span.max(1);
                    break;
                }
                (lo_ppm, lo_ms) = (hi_ppm, p.ms);
            }
        }
        Duration::from_millis(ms)
    }

    fn validate(&self) -> Result<(), String> {
        let mut last = (0u32, 0u64);
        for (i, p) in self.percentiles.iter().enumerate() {
            if p.ppm <= last.0 && i > 0 || p.ppm == 0 || p.ppm > PPM {
                return Err("latency.percentiles: ppm must ascend within 1..=1000000".into());
            }
            if p.ms < last.1 {
                return Err("latency.percentiles: ms must not decrease".into());
            }
            last = (p.ppm, p.ms);
        }
        if !self.percentiles.is_empty() && last.0 != PPM {
            return Err("latency.percentiles: the last point must have ppm 1000000".into());
        }
        Ok(())
    }
}

/// Fault rates for a run (`PUT /admin/faults`). Every field has a default (no faults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Seed of every random decision.
    pub seed: u64,
    /// Added to every signed API request.
    pub latency: Latency,
    /// API requests held and dropped without being processed.
    pub timeout_ppm: u32,
    /// API requests answered HTTP 500 (or the provider's "system error") without being processed.
    pub http500_ppm: u32,
    /// API requests answered "in process, try again later" without being processed (the
    /// provider's own answer for it: Stripe's 429 rate limit, mockpay's "payment in process").
    pub in_process_ppm: u32,
    /// pay, refund, close and cancel requests processed, committed, then held and dropped.
    pub lost_response_ppm: u32,
    /// Charges declined (with the provider's "insufficient funds").
    pub decline_ppm: u32,
    /// Refunds that stay PROCESSING.
    pub refund_processing_forever_ppm: u32,
    /// Refunds that end FAILED.
    pub refund_fail_ppm: u32,
    /// Notifications never sent.
    pub notification_lost_ppm: u32,
    /// Notifications delivered twice.
    pub notification_duplicate_ppm: u32,
    /// Notifications whose first attempt waits `notificationLateMs` more.
    pub notification_late_ppm: u32,
    /// The extra wait of a late notification.
    pub notification_late_ms: u64,
    /// Notifications held back until the order's next notification has been tried (or
    /// `reorderMaxHoldMs`), so that the later one overtakes.
    pub notification_reorder_ppm: u32,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            seed: 0,
            latency: Latency::default(),
            timeout_ppm: 0,
            http500_ppm: 0,
            in_process_ppm: 0,
            lost_response_ppm: 0,
            decline_ppm: 0,
            refund_processing_forever_ppm: 0,
            refund_fail_ppm: 0,
            notification_lost_ppm: 0,
            notification_duplicate_ppm: 0,
            notification_late_ppm: 0,
            notification_late_ms: 3_000,
            notification_reorder_ppm: 0,
        }
    }
}

impl FaultSettings {
    /// Checks the rates and the latency distribution.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("timeoutPpm", self.timeout_ppm),
            ("http500Ppm", self.http500_ppm),
            ("inProcessPpm", self.in_process_ppm),
            ("lostResponsePpm", self.lost_response_ppm),
            ("declinePpm", self.decline_ppm),
            ("refundProcessingForeverPpm", self.refund_processing_forever_ppm),
            ("refundFailPpm", self.refund_fail_ppm),
            ("notificationLostPpm", self.notification_lost_ppm),
            ("notificationDuplicatePpm", self.notification_duplicate_ppm),
            ("notificationLatePpm", self.notification_late_ppm),
            ("notificationReorderPpm", self.notification_reorder_ppm),
        ];
        for (name, v) in rates {
            if v > PPM {
                return Err(format!("{name} must be at most 1000000, got {v}"));
            }
        }
        self.latency.validate()
    }

    /// Sets one rate by its short name (`timeout`, `http500`, `in_process`, `lost_response`, `decline`,
    /// `refund_processing_forever`, `refund_fail`, `notification_lost`,
    /// `notification_duplicate`, `notification_late`, `notification_reorder`).
    pub fn set_rate(&mut self, name: &str, ppm: u32) -> Result<(), String> {
        let slot = match name {
            "timeout" => &mut self.timeout_ppm,
            "http500" | "http_500" => &mut self.http500_ppm,
            "in_process" => &mut self.in_process_ppm,
            "lost_response" => &mut self.lost_response_ppm,
            "decline" => &mut self.decline_ppm,
            "refund_processing_forever" => &mut self.refund_processing_forever_ppm,
            "refund_fail" => &mut self.refund_fail_ppm,
            "notification_lost" => &mut self.notification_lost_ppm,
            "notification_duplicate" => &mut self.notification_duplicate_ppm,
            "notification_late" => &mut self.notification_late_ppm,
            "notification_reorder" => &mut self.notification_reorder_ppm,
            _ => return Err(format!("unknown fault rate {name:?}")),
        };
        if ppm > PPM {
            return Err(format!("{name}: at most 1000000 ppm, got {ppm}"));
        }
        *slot = ppm;
        Ok(())
    }
}

/// How many decision subjects are remembered before the counters start over.
const MAX_COUNTERS: usize = 1_000_000;

/// A fault on the transport of an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFault {
    Timeout,
    Http500,
    HeaderError,
    NotFound,
    InProcess,
    LostResponse,
}

/// What happens to one API call on the wire.
#[derive(Debug, Clone, Copy)]
pub struct TransportDecision {
    pub latency: Duration,
    pub fault: Option<TransportFault>,
}

/// What happens to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFault {
    Drop,
    Duplicate,
    Delay(u64),
    Reorder,
}

impl NotificationFault {
    pub fn label(self) -> String {
        match self {
            NotificationFault::Drop => "drop".into(),
            NotificationFault::Duplicate => "duplicate".into(),
            NotificationFault::Delay(ms) => format!("delay {ms}ms"),
            NotificationFault::Reorder => "reorder".into(),
        }
    }
}

/// The fault state of a run: rates, scripted faults and the per-subject decision counters.
pub struct FaultState {
    pub settings: FaultSettings,
    pub script: ScriptBook,
    counters: HashMap<String, u64>,
}

impl FaultState {
    pub fn new(settings: FaultSettings) -> Self {
        FaultState { settings, script: ScriptBook::default(), counters: HashMap::new() }
    }

    /// Replaces the rates and restarts the random sequences.
    pub fn set(&mut self, settings: FaultSettings) {
        self.settings = settings;
        self.counters.clear();
    }

    /// Back to the given rates with no scripted faults.
    pub fn reset(&mut self, settings: FaultSettings) {
        self.set(settings);
        self.script.clear();
    }

    fn rng(&mut self, subject: &str) -> StdRng {
        // Bounded memory for long benchmark runs; a sequential run still clears at the same point.
        if self.counters.len() >= MAX_COUNTERS {
            self.counters.clear();
        }
        let n = self.counters.entry(subject.to_owned()).or_insert(0);
        let count = *n;
        *n += 1;
        let mut h = Sha256::new();
        h.update(self.settings.seed.to_le_bytes());
        h.update(subject.as_bytes());
        h.update(count.to_le_bytes());
        let digest = h.finalize();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        StdRng::seed_from_u64(u64::from_le_bytes(seed))
    }

    fn hit(rng: &mut StdRng, ppm: u32) -> bool {
        ppm > 0 && rng.random_range(0..PPM) < ppm
    }

    /// The transport fate of an API call. `order_id` is the order the call is about, when known.
    pub fn transport(
        &mut self,
        op: Operation,
        merchant_id: &str,
        order_id: Option<&str>,
    ) -> TransportDecision {
        let s = &self.settings;
        let lossy = matches!(
            op,
            Operation::Pay
                | Operation::Refund
                | Operation::Close
                | Operation::Cancel
                | Operation::Capture
                | Operation::Void
        );
        let active = s.latency != Latency::default()
            || s.timeout_ppm > 0
            || s.http500_ppm > 0
            || s.in_process_ppm > 0
            || (lossy && s.lost_response_ppm > 0);
        let (mut latency, mut timeout, mut http500, mut lost, mut in_process) =
            (Duration::ZERO, false, false, false, false);
        if active {
            let subject = format!("transport/{}/{merchant_id}/{}", op.as_str(), order_id.unwrap_or(""));
            let mut rng = self.rng(&subject);
            let s = &self.settings;
            latency = s.latency.sample(&mut rng);
            // Draw every rate, always in the same order, so one rate does not shift another's sequence.
            timeout = Self::hit(&mut rng, s.timeout_ppm);
            http500 = Self::hit(&mut rng, s.http500_ppm);
            lost = lossy && Self::hit(&mut rng, s.lost_response_ppm);
            // Drawn last and only when set, so the other rates' sequences are as before.
            in_process = s.in_process_ppm > 0 && Self::hit(&mut rng, s.in_process_ppm);
        }
        let scripted =
            order_id.and_then(|o| self.script.take(o, op, FaultClass::Transport)).map(|e| match e.fault {
                Fault::Timeout => TransportFault::Timeout,
                Fault::Http500 => TransportFault::Http500,
                Fault::HeaderError => TransportFault::HeaderError,
                Fault::NotFound => TransportFault::NotFound,
                Fault::InProcess => TransportFault::InProcess,
                _ => TransportFault::LostResponse,
            });
        let fault = scripted.or(if timeout {
            Some(TransportFault::Timeout)
        } else if http500 {
            Some(TransportFault::Http500)
        } else if lost {
            Some(TransportFault::LostResponse)
        } else if in_process {
            Some(TransportFault::InProcess)
        } else {
            None
        });
        TransportDecision { latency, fault }
    }

    /// Whether a charge is declined, and with which scripted code (`None`: the provider's
    /// default decline, "insufficient funds").
    pub fn charge(&mut self, merchant_id: &str, order_id: &str) -> Option<Decline> {
        let ppm = self.settings.decline_ppm;
        let rate = ppm > 0 && Self::hit(&mut self.rng(&format!("charge/{merchant_id}/{order_id}")), ppm);
        if let Some(e) = self.script.take(order_id, Operation::Pay, FaultClass::Charge) {
            return Some(Decline { code: e.decline_code });
        }
        rate.then_some(Decline { code: None })
    }

    /// What becomes of a new refund.
    pub fn refund_fate(&mut self, merchant_id: &str, order_id: &str, refund_id: &str) -> RefundFate {
        let (forever_ppm, fail_ppm) =
            (self.settings.refund_processing_forever_ppm, self.settings.refund_fail_ppm);
        let (mut forever, mut fail) = (false, false);
        if forever_ppm > 0 || fail_ppm > 0 {
            let mut rng = self.rng(&format!("refund/{merchant_id}/{refund_id}"));
            forever = Self::hit(&mut rng, forever_ppm);
            fail = Self::hit(&mut rng, fail_ppm);
        }
        if let Some(e) = self.script.take(order_id, Operation::Refund, FaultClass::RefundFate) {
            return if e.fault == Fault::RefundFail {
                RefundFate::Fail
            } else {
                RefundFate::ProcessingForever
            };
        }
        if forever {
            RefundFate::ProcessingForever
        } else if fail {
            RefundFate::Fail
        } else {
            RefundFate::Succeed
        }
    }

    /// What happens to a new notification about an order.
    pub fn notification(&mut self, merchant_id: &str, order_id: &str) -> Option<NotificationFault> {
        let s = &self.settings;
        let rates = [
            (s.notification_lost_ppm, NotificationFault::Drop),
            (s.notification_duplicate_ppm, NotificationFault::Duplicate),
            (s.notification_late_ppm, NotificationFault::Delay(s.notification_late_ms)),
            (s.notification_reorder_ppm, NotificationFault::Reorder),
        ];
        let mut drawn = None;
        if rates.iter().any(|(ppm, _)| *ppm > 0) {
            let mut rng = self.rng(&format!("notify/{merchant_id}/{order_id}"));
            // Draw every rate, always in the same order; the first hit wins.
            for (ppm, fault) in rates {
                if Self::hit(&mut rng, ppm) && drawn.is_none() {
                    drawn = Some(fault);
                }
            }
        }
        if let Some(e) = self.script.take(order_id, Operation::Notify, FaultClass::Notification) {
            return Some(match e.fault {
                Fault::DropNotification => NotificationFault::Drop,
                Fault::DuplicateNotification => NotificationFault::Duplicate,
                Fault::DelayNotificationMs(ms) => NotificationFault::Delay(ms),
                _ => NotificationFault::Drop,
            });
        }
        drawn
    }

    pub fn add_script(&mut self, entry: ScriptEntry) {
        self.script.push(entry);
    }
}

/// A declined charge: the scripted decline code, if the script named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    pub code: Option<String>,
}

/// What will become of a refund, decided when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundFate {
    Succeed,
    Fail,
    /// Stays processing until completed through the admin API.
    ProcessingForever,
}

impl RefundFate {
    /// `succeed`, `fail` or `processing_forever` (the admin API's name).
    pub fn as_str(self) -> &'static str {
        match self {
            RefundFate::Succeed => "succeed",
            RefundFate::Fail => "fail",
            RefundFate::ProcessingForever => "processing_forever",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declines(seed: u64, orders: &[&str]) -> Vec<bool> {
        let mut f = FaultState::new(FaultSettings { seed, decline_ppm: 500_000, ..FaultSettings::default() });
        orders.iter().map(|o| f.charge("m", o).is_some()).collect()
    }

    #[test]
    fn decisions_depend_on_seed_and_subject_not_on_interleaving() {
        let a = declines(7, &["a", "b", "c", "d", "e", "f", "g", "h"]);
        let b = declines(7, &["h", "g", "f", "e", "d", "c", "b", "a"]);
        let mut b_rev = b.clone();
        b_rev.reverse();
        assert_eq!(a, b_rev);
        assert_ne!(declines(7, &["x"; 32]), declines(8, &["x"; 32]));
    }

    #[test]
    fn zero_and_full_rates() {
        let mut f = FaultState::new(FaultSettings { timeout_ppm: PPM, ..FaultSettings::default() });
        for _ in 0..20 {
            assert_eq!(f.transport(Operation::Query, "m", Some("o")).fault, Some(TransportFault::Timeout));
            assert_eq!(f.charge("m", "o"), None);
        }
    }

    #[test]
    fn latency_percentiles_interpolate_without_floats() {
        let l = Latency {
            fixed_ms: 1,
            jitter_ms: 0,
            percentiles: vec![LatencyPoint { ppm: 500_000, ms: 10 }, LatencyPoint { ppm: PPM, ms: 100 }],
        };
        assert!(l.validate().is_ok());
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let d = l.sample(&mut rng).as_millis();
            assert!((1..=101).contains(&d), "{d}");
        }
        let bad = Latency { percentiles: vec![LatencyPoint { ppm: 10, ms: 5 }], ..Latency::default() };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn scripted_faults_win() {
        let mut f = FaultState::new(FaultSettings::default());
        f.add_script(ScriptEntry {
            decline_code: Some("1102".into()),
            ..ScriptEntry::new("o", Operation::Pay, Fault::Decline)
        });
        assert_eq!(f.charge("m", "o"), Some(Decline { code: Some("1102".into()) }));
        assert_eq!(f.charge("m", "o"), None);
    }
}
