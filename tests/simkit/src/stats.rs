//! Run totals for `GET /admin/stats`: requests by operation and outcome, money movements,
//! notification deliveries.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// operation (e.g. `pay`, `query`, `close`, `refund`, `refund_query`, `auth`) → outcome (a
    /// return code, or `timeout`, `http_500`, `lost_response`) → count.
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Times money was taken.
    pub charges: u64,
    /// Charges declined.
    pub declines: u64,
    pub refunds: RefundStats,
    pub notifications: NotificationStats,
}

/// Refund totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundStats {
    pub created: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// Notification totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStats {
    pub created: u64,
    /// HTTP attempts made (every retry and duplicate counts).
    pub attempts: u64,
    /// Notifications acknowledged (first copy).
    pub delivered: u64,
    /// Notifications given up after the last retry.
    pub failed: u64,
    /// Notifications lost by a fault.
    pub dropped: u64,
    /// Duplicate deliveries started.
    pub duplicated: u64,
}

/// The counters behind [`Stats`].
#[derive(Debug, Default)]
pub struct StatsCounters {
    requests: BTreeMap<String, BTreeMap<String, u64>>,
    charges: u64,
    declines: u64,
    refunds_created: u64,
    refunds_succeeded: u64,
    refunds_failed: u64,
    notifications_created: u64,
    notification_attempts: u64,
    notifications_delivered: u64,
    notifications_failed: u64,
    notifications_dropped: u64,
    notifications_duplicated: u64,
}

/// A money or notification event worth counting.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    Charge,
    Decline,
    RefundCreated,
    RefundSucceeded,
    RefundFailed,
    NotificationCreated,
    NotificationAttempt,
    NotificationDelivered,
    NotificationGaveUp,
    NotificationDropped,
    NotificationDuplicated,
}

impl StatsCounters {
    /// Counts one request of `operation` that ended with `outcome` (a return code, or
    /// `timeout`, `http_500`, `lost_response`).
    pub fn request(&mut self, operation: &str, outcome: &str) {
        if let Some(count) = self.requests.get_mut(operation).and_then(|m| m.get_mut(outcome)) {
            *count += 1;
            return;
        }
        *self.requests.entry(operation.to_owned()).or_default().entry(outcome.to_owned()).or_default() += 1;
    }

    pub fn event(&mut self, event: Event) {
        let c = match event {
            Event::Charge => &mut self.charges,
            Event::Decline => &mut self.declines,
            Event::RefundCreated => &mut self.refunds_created,
            Event::RefundSucceeded => &mut self.refunds_succeeded,
            Event::RefundFailed => &mut self.refunds_failed,
            Event::NotificationCreated => &mut self.notifications_created,
            Event::NotificationAttempt => &mut self.notification_attempts,
            Event::NotificationDelivered => &mut self.notifications_delivered,
            Event::NotificationGaveUp => &mut self.notifications_failed,
            Event::NotificationDropped => &mut self.notifications_dropped,
            Event::NotificationDuplicated => &mut self.notifications_duplicated,
        };
        *c += 1;
    }

    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.clone(),
            charges: self.charges,
            declines: self.declines,
            refunds: RefundStats {
                created: self.refunds_created,
                succeeded: self.refunds_succeeded,
                failed: self.refunds_failed,
            },
            notifications: NotificationStats {
                created: self.notifications_created,
                attempts: self.notification_attempts,
                delivered: self.notifications_delivered,
                failed: self.notifications_failed,
                dropped: self.notifications_dropped,
                duplicated: self.notifications_duplicated,
            },
        }
    }
}
