//! Sending a run's load as upstream would: pay commands at a steady rate, each payment then
//! followed through its path (a QR shown is paid by the customer at mockpay, or closed by
//! upstream), and its refunds sent once it succeeded, the concurrent ones at once.

use crate::plan::{Path, PlannedPayment};
use crate::upstream::{Upstream, progress};
use mockpay::AdminClient;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The merchant every payment of a run belongs to.
pub const MERCHANT: &str = "m-chaos";
/// How long a follow-up waits for the event it needs (a payment shown, a payment succeeded).
const FOLLOW_UP_WAIT: Duration = Duration::from_secs(240);
/// How long a QR payment may wait for its customer before paygate closes it as expired.
const QR_EXPIRY: chrono::TimeDelta = chrono::TimeDelta::seconds(120);
/// How long a command may take to be confirmed by the broker, restarts included.
const PUBLISH_WITHIN: Duration = Duration::from_secs(180);

/// What the load sent.
#[derive(Debug, Default)]
pub struct Sent {
    pub pays: AtomicU64,
    pub customer_paid: AtomicU64,
    pub closes: AtomicU64,
    pub refunds: AtomicU64,
    /// Follow-ups not sent because the payment did not reach the state they need (declined, say).
    pub follow_ups_skipped: AtomicU64,
    /// Follow-ups that waited past [`FOLLOW_UP_WAIT`] for their event.
    pub follow_ups_timed_out: AtomicU64,
    /// Commands never confirmed by the broker.
    pub publish_failures: AtomicU64,
    /// Refund commands still to send: the run stops at the number asked for (the plan has more).
    pub refund_budget: AtomicU64,
    /// The refund numbers whose commands the broker confirmed, with the commands' message ids.
    pub refund_nos: std::sync::Mutex<Vec<(String, uuid::Uuid)>>,
    /// Pay commands the broker never confirmed: upstream knows they were not taken.
    pub unconfirmed_pays: std::sync::Mutex<Vec<String>>,
}

impl Sent {
    /// What the load will send: `refunds` refund commands at most.
    pub fn new(refunds: u64) -> Self {
        Self { refund_budget: AtomicU64::new(refunds), ..Self::default() }
    }

    /// Takes `n` refunds from the budget: all of them, or none when fewer are left (a pattern's
    /// refunds go out together or not at).
    pub fn reserve_refunds(&self, n: u64) -> bool {
        self.refund_budget.fetch_update(Relaxed, Relaxed, |left| left.checked_sub(n)).is_ok()
    }
}

/// Yuan text of `minor` fen: 1234 → "12.34".
pub fn yuan(minor: i64) -> String {
    Decimal::new(minor, 2).to_string()
}

fn order_key(merchant_order_no: &str) -> String {
    format!("{MERCHANT}:{merchant_order_no}")
}

/// Sends every payment of `plan` at `rate` per second, each followed by its own task; returns
/// when every follow-up is done.
pub async fn drive(
    upstream: Arc<Upstream>,
    mockpay: AdminClient,
    plan: Vec<PlannedPayment>,
    rate: u64,
    sent: Arc<Sent>,
) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, payment) in plan.into_iter().enumerate() {
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        if i % 100 == 0 {
            progress(&format!("load: pay {i} due; {} confirmed so far", sent.pays.load(Relaxed)));
        }
        let (upstream, mockpay, sent) = (upstream.clone(), mockpay.clone(), sent.clone());
        tasks.spawn(async move { follow(&upstream, &mockpay, &payment, &sent).await });
    }
    while tasks.join_next().await.is_some() {}
}

async fn follow(upstream: &Upstream, mockpay: &AdminClient, payment: &PlannedPayment, sent: &Sent) {
    let no = payment.merchant_order_no.as_str();
    let method = if payment.path == Path::Direct { "direct" } else { "qr" };
    let mut pay = json!({
        "merchant_id": MERCHANT, "merchant_order_no": no, "amount": yuan(payment.amount),
        "currency": "CNY", "provider": "mockpay", "pay_method": method, "order_type": "retail",
        "subject": "chaos order"
    });
    if payment.path != Path::Direct {
        // A QR code nobody ends up paying is closed by paygate's expiry scan, as in a shop.
        let expires_at = chrono::Utc::now() + QR_EXPIRY;
        pay["expires_at"] = json!(expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    if publish(upstream, "command.pay", no, pay, sent).await.is_some() {
        sent.pays.fetch_add(1, Relaxed);
    } else {
        sent.unconfirmed_pays.lock().unwrap().push(no.to_owned());
        return;
    }
    match payment.path {
        Path::Direct => {}
        Path::QrPaid | Path::QrClosed => {
            let Some(shown) = wait_for(upstream, no, &["payment.action_required"], sent).await else {
                return;
            };
            if shown.kind != "payment.action_required" {
                sent.follow_ups_skipped.fetch_add(1, Relaxed);
                return;
            }
            if payment.path == Path::QrPaid {
                let trade_no = paygate::providers::adapter::trade_no(shown.payment_id);
                match mockpay.pay(&trade_no).await {
                    Ok(_) => sent.customer_paid.fetch_add(1, Relaxed),
                    Err(e) => {
                        progress(&format!("the customer could not pay {no}: {e}"));
                        sent.follow_ups_skipped.fetch_add(1, Relaxed)
                    }
                };
            } else {
                let close = json!({"merchant_id": MERCHANT, "merchant_order_no": no});
                if publish(upstream, "command.close", no, close, sent).await.is_some() {
                    sent.closes.fetch_add(1, Relaxed);
                }
            }
        }
    }
    let Some(pattern) = payment.refunds else { return };
    let Some(paid) = wait_for(upstream, no, &["payment.succeeded"], sent).await else { return };
    if paid.kind != "payment.succeeded" {
        sent.follow_ups_skipped.fetch_add(1, Relaxed);
        return;
    }
    let amounts = pattern.amounts(payment.amount);
    if !sent.reserve_refunds(amounts.len() as u64) {
        return; // the run has sent the refunds asked for
    }
    // The refunds of one pattern go out at once: a pair races for the same refundable amount.
    let refunds = amounts.into_iter().enumerate().map(|(k, amount)| async move {
        let refund_no = format!("{no}-r{k}");
        let refund = json!({
            "merchant_id": MERCHANT, "refund_no": refund_no, "merchant_order_no": no,
            "amount": yuan(amount), "currency": "CNY", "requested_by": "chaos", "reason": "chaos run"
        });
        if let Some(message_id) = publish(upstream, "command.refund", no, refund, sent).await {
            sent.refunds.fetch_add(1, Relaxed);
            sent.refund_nos.lock().unwrap().push((refund_no, message_id));
        }
    });
    futures_util::future::join_all(refunds).await;
}

/// Publishes a command; its message id once the broker confirmed it.
async fn publish(
    upstream: &Upstream,
    kind: &str,
    no: &str,
    payload: serde_json::Value,
    sent: &Sent,
) -> Option<uuid::Uuid> {
    match upstream.command(kind, &order_key(no), payload, PUBLISH_WITHIN).await {
        Ok(message_id) => Some(message_id),
        Err(e) => {
            progress(&format!("{e:#}"));
            sent.publish_failures.fetch_add(1, Relaxed);
            None
        }
    }
}

/// The first event about `no` whose kind is one of `kinds`, or, once the payment is final
/// without one, its final event (so the caller sees the road was not taken).
async fn wait_for(
    upstream: &Upstream,
    no: &str,
    kinds: &[&str],
    sent: &Sent,
) -> Option<paygate::messages::events::OrderEvent> {
    const FINAL: [&str; 4] = ["payment.failed", "payment.closed", "payment.expired", "payment.refunded"];
    let deadline = Instant::now() + FOLLOW_UP_WAIT;
    loop {
        {
            let received = upstream.received.lock().unwrap();
            let events = received.of(no);
            if let Some(a) = events.iter().find(|a| kinds.contains(&a.event.kind.as_str())) {
                return Some(a.event.clone());
            }
            if let Some(a) = events.iter().find(|a| FINAL.contains(&a.event.kind.as_str())) {
                return Some(a.event.clone());
            }
        }
        if Instant::now() >= deadline {
            sent.follow_ups_timed_out.fetch_add(1, Relaxed);
            progress(&format!("{no}: no {kinds:?} within {FOLLOW_UP_WAIT:?}"));
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refund_budget_sends_whole_patterns_up_to_the_number_asked_for() {
        let sent = Sent::new(5);
        assert!(sent.reserve_refunds(2));
        assert!(sent.reserve_refunds(2));
        assert!(!sent.reserve_refunds(2), "a pair does not fit in the one refund left");
        assert!(sent.reserve_refunds(1));
        assert!(!sent.reserve_refunds(1));
    }
}
