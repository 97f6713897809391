//! The run's verdict: paygate's database, the events upstream received and the dead-letter
//! queues, held against mockpay's books (the provider's truth). Every check the issue names is
//! one list of findings here; a finding is a violation unless it says otherwise.

use crate::load::MERCHANT;
use crate::plan::PlannedPayment;
use crate::upstream::Received;
use mockpay::AdminClient;
use mockpay::wire::admin::PaymentTruth;
use paygate::state_machine::{PaymentState, RefundState};
use paygate_test_support::split_credentials;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// A payment's story has ended: final, or refundable (once no refund is open). The state
/// machine's own rules.
fn settled_payment(state: &str) -> bool {
    state.parse::<PaymentState>().is_ok_and(|s| s.is_final() || s.is_refundable())
}

/// A refund is final, by the state machine's rules.
fn final_refund(state: &str) -> bool {
    state.parse::<RefundState>().is_ok_and(RefundState::is_final)
}

/// The final refund states, for SQL.
fn final_refund_states() -> Vec<&'static str> {
    RefundState::ALL.iter().filter(|s| s.is_final()).map(|s| s.as_str()).collect()
}

#[derive(Debug, sqlx::FromRow)]
struct PaymentRow {
    id: Uuid,
    merchant_order_no: String,
    state: String,
    amount_minor: i64,
    refunded_minor: i64,
    event_sequence: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct RefundRow {
    id: Uuid,
    payment_id: Uuid,
    refund_no: String,
    amount_minor: i64,
    state: String,
}

/// One dead letter, as the dead-letter queue holds it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub queue: String,
    pub reason: Option<String>,
    pub message_type: Option<String>,
    pub order_key: Option<String>,
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub payments_planned: usize,
    /// Pay commands the broker never confirmed and paygate has no row of (not lost: upstream
    /// knows they were not taken).
    pub never_taken: u64,
    pub payments_by_state: BTreeMap<String, u64>,
    pub refunds_by_state: BTreeMap<String, u64>,
    /// Planned payments paygate has no row of (with the rejection, if upstream got one).
    pub lost: Vec<String>,
    /// Payments or refunds not final, with the open needs-attention items that explain them;
    /// those without one are violations.
    pub unsettled_listed: Vec<String>,
    pub unsettled_unexplained: Vec<String>,
    pub double_charges: Vec<String>,
    pub over_refunds: Vec<String>,
    pub disagreements: Vec<String>,
    /// Refund commands sent that left no refund row and no rejection.
    pub refunds_lost: Vec<String>,
    /// Refund commands ingest refused (over the refundable amount, say), with a rejection.
    pub refunds_rejected_at_the_door: u64,
    pub event_gaps: Vec<String>,
    pub event_conflicts: Vec<String>,
    pub final_not_evented: Vec<String>,
    /// Events that arrived after a later event of their order (upstream orders by `sequence`;
    /// a figure, not a violation).
    pub arrived_out_of_order: u64,
    /// Copies of an event received more than once (same event id; a figure).
    pub duplicate_deliveries: u64,
    pub events_received: u64,
    pub dead_letters: Vec<DeadLetter>,
    pub dead_letters_without_reason: Vec<String>,
    /// mockpay's own counts.
    pub provider_charges: u64,
    pub provider_refunds_succeeded: u64,
}

impl Verdict {
    pub fn violations(&self) -> usize {
        self.lost.len()
            + self.unsettled_unexplained.len()
            + self.double_charges.len()
            + self.over_refunds.len()
            + self.disagreements.len()
            + self.refunds_lost.len()
            + self.event_gaps.len()
            + self.event_conflicts.len()
            + self.final_not_evented.len()
            + self.dead_letters_without_reason.len()
    }
}

/// How far the run is from settled: planned payments without a row, payments or refunds not
/// final, outbox rows unpublished, and events written but not yet received. All zero: settled.
pub async fn unsettled(
    pool: &PgPool,
    plan: &[PlannedPayment],
    received: &Received,
    unconfirmed_pays: &[String],
) -> anyhow::Result<[u64; 4]> {
    let rows: Vec<PaymentRow> = sqlx::query_as(
        "SELECT id, merchant_order_no, state, amount_minor, refunded_minor, event_sequence
         FROM payments WHERE merchant_id = $1",
    )
    .bind(MERCHANT)
    .fetch_all(pool)
    .await?;
    let open_refunds: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refunds WHERE merchant_id = $1 AND NOT (state = ANY($2))")
            .bind(MERCHANT)
            .bind(final_refund_states())
            .fetch_one(pool)
            .await?;
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetch_one(pool).await?;
    let mut missing_rows = 0u64;
    let mut not_final = open_refunds as u64;
    let mut events_missing = 0u64;
    let by_no: HashMap<&str, &PaymentRow> = rows.iter().map(|r| (r.merchant_order_no.as_str(), r)).collect();
    for p in plan {
        let Some(row) = by_no.get(p.merchant_order_no.as_str()) else {
            // A pay the broker never confirmed may have no row: it was not taken.
            if !unconfirmed_pays.contains(&p.merchant_order_no) {
                missing_rows += 1;
            }
            continue;
        };
        if !settled_payment(&row.state) {
            not_final += 1;
        }
        let seen: HashSet<i64> = received.of(&p.merchant_order_no).iter().map(|a| a.event.sequence).collect();
        events_missing += (1..=row.event_sequence).filter(|s| !seen.contains(s)).count() as u64;
    }
    Ok([missing_rows, not_final, unpublished as u64, events_missing])
}

/// Checks everything; `refund_nos_sent` are the refund numbers whose commands were confirmed.
pub async fn judge(
    pool: &PgPool,
    mockpay: &AdminClient,
    management: &str,
    plan: &[PlannedPayment],
    received: &Received,
    refund_nos_sent: &[(String, Uuid)],
    unconfirmed_pays: &[String],
) -> anyhow::Result<Verdict> {
    let mut v = Verdict { payments_planned: plan.len(), ..Verdict::default() };
    let payments: Vec<PaymentRow> = sqlx::query_as(
        "SELECT id, merchant_order_no, state, amount_minor, refunded_minor, event_sequence
         FROM payments WHERE merchant_id = $1",
    )
    .bind(MERCHANT)
    .fetch_all(pool)
    .await?;
    let refunds: Vec<RefundRow> = sqlx::query_as(
        "SELECT id, payment_id, refund_no, amount_minor, state FROM refunds WHERE merchant_id = $1",
    )
    .bind(MERCHANT)
    .fetch_all(pool)
    .await?;
    let attention: Vec<(Option<Uuid>, Option<Uuid>, String)> =
        sqlx::query_as("SELECT payment_id, refund_id, kind FROM attention WHERE resolved_at IS NULL")
            .fetch_all(pool)
            .await?;
    let mut refunds_of: HashMap<Uuid, Vec<&RefundRow>> = HashMap::new();
    for r in &refunds {
        refunds_of.entry(r.payment_id).or_default().push(r);
        *v.refunds_by_state.entry(r.state.clone()).or_default() += 1;
    }
    let by_no: HashMap<&str, &PaymentRow> =
        payments.iter().map(|r| (r.merchant_order_no.as_str(), r)).collect();
    // What waits for a person, by payment: open needs-attention items, and dead letters (order
    // work is keyed by its payment id), each with its reason.
    v.dead_letters = dead_letters(management).await?;
    let mut waiting: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (payment, _, kind) in &attention {
        if let Some(payment) = payment {
            waiting.entry(*payment).or_default().push(format!("attention: {kind}"));
        }
    }
    for d in &v.dead_letters {
        if let Some(payment) = d.order_key.as_deref().and_then(|k| k.parse::<Uuid>().ok()) {
            let what = d.message_type.as_deref().unwrap_or("?");
            let reason = d.reason.as_deref().unwrap_or("no reason");
            waiting.entry(payment).or_default().push(format!("dead letter {what}: {reason}"));
        }
    }
    let why = |payment: Uuid| -> Vec<String> { waiting.get(&payment).cloned().unwrap_or_default() };

    for p in plan {
        let no = p.merchant_order_no.as_str();
        let Some(row) = by_no.get(no) else {
            if unconfirmed_pays.iter().any(|u| u == no) {
                // The broker never confirmed it: upstream knows it was not taken.
                v.never_taken += 1;
                continue;
            }
            let rejection = received
                .rejected
                .iter()
                .find(|(key, _)| key.ends_with(&format!(":{no}")))
                .map(|(_, payload)| payload.to_string())
                .unwrap_or_else(|| "no row and no rejection".into());
            v.lost.push(format!("{no}: {rejection}"));
            continue;
        };
        *v.payments_by_state.entry(row.state.clone()).or_default() += 1;
        let own_refunds = refunds_of.get(&row.id).cloned().unwrap_or_default();

        // Settled, or listed with why not.
        let open: Vec<String> = own_refunds
            .iter()
            .filter(|r| !final_refund(&r.state))
            .map(|r| format!("refund {} {}", r.refund_no, r.state))
            .collect();
        if !settled_payment(&row.state) || !open.is_empty() {
            let reasons = why(row.id);
            let line = format!(
                "{no}: payment {}, {} open: {open:?}; waiting for a person: {reasons:?}",
                row.state,
                open.len()
            );
            if reasons.is_empty() {
                v.unsettled_unexplained.push(line)
            } else {
                v.unsettled_listed.push(line)
            }
        }

        // Against the provider's books.
        let trade_no = paygate::providers::adapter::trade_no(row.id);
        let truth = mockpay.payment(&trade_no).await.map_err(|e| anyhow::anyhow!("mockpay admin: {e}"))?;
        check_payment(&mut v, row, &own_refunds, truth.as_ref());

        // The events upstream received.
        check_events(&mut v, row, &own_refunds, received);
    }

    // Refund commands that left nothing behind.
    let refund_nos: HashSet<&str> = refunds.iter().map(|r| r.refund_no.as_str()).collect();
    // A rejection names the refused command by its message id (ingest refuses a refund over the
    // refundable amount at the door, before any row).
    let rejected: HashSet<Uuid> = received
        .rejected
        .iter()
        .filter_map(|(_, payload)| payload["command_message_id"].as_str()?.parse().ok())
        .collect();
    v.refunds_rejected_at_the_door =
        refund_nos_sent.iter().filter(|(_, id)| rejected.contains(id)).count() as u64;
    for (no, message_id) in refund_nos_sent {
        if !refund_nos.contains(no.as_str()) && !rejected.contains(message_id) {
            v.refunds_lost.push(no.clone());
        }
    }

    let stats = mockpay.stats().await.map_err(|e| anyhow::anyhow!("mockpay admin: {e}"))?;
    v.provider_charges = stats.charges;
    v.provider_refunds_succeeded = stats.refunds.succeeded;
    v.dead_letters_without_reason = v
        .dead_letters
        .iter()
        .filter(|d| d.reason.is_none())
        .map(|d| format!("{}: {:?} {:?}", d.queue, d.message_type, d.order_key))
        .collect();
    Ok(v)
}

fn check_payment(v: &mut Verdict, row: &PaymentRow, refunds: &[&RefundRow], truth: Option<&PaymentTruth>) {
    let no = &row.merchant_order_no;
    let charges = truth.map_or(0, |t| t.charges);
    let provider_refunded = truth.map_or(0, |t| t.refunded_amount);
    if charges > 1 {
        v.double_charges.push(format!("{no}: mockpay charged {charges} times"));
    }
    let ours_succeeded: i64 = refunds.iter().filter(|r| r.state == "succeeded").map(|r| r.amount_minor).sum();
    if provider_refunded > row.amount_minor
        || row.refunded_minor > row.amount_minor
        || ours_succeeded > row.amount_minor
    {
        v.over_refunds.push(format!(
            "{no}: amount {}, refunded at mockpay {provider_refunded}, by our books {} (refund rows {ours_succeeded})",
            row.amount_minor, row.refunded_minor
        ));
    }
    // While a refund is open the refunded amounts may differ (it is judged as unsettled).
    let refunds_settled = refunds.iter().all(|r| final_refund(&r.state));
    let agrees = match row.state.as_str() {
        "succeeded" | "partially_refunded" | "refunded" => {
            charges == 1
                && truth.is_some_and(|t| t.status == "SUCCEEDED")
                && (!refunds_settled
                    || (provider_refunded == row.refunded_minor && ours_succeeded == row.refunded_minor))
        }
        // Not charged; or charged after we closed and refunded whole (paid after close).
        "failed" | "closed" | "expired" => charges == 0 || provider_refunded == row.amount_minor,
        // Not final: judged as unsettled above.
        _ => true,
    };
    if !agrees {
        v.disagreements.push(format!(
            "{no}: ours {} (refunded {}), mockpay {:?} charges {charges} refunded {provider_refunded}",
            row.state,
            row.refunded_minor,
            truth.map(|t| t.status.as_str())
        ));
    }
    // Each refund against its provider twin, and every provider refund known to us.
    let theirs: HashMap<String, &mockpay::wire::admin::RefundTruth> =
        truth.map(|t| t.refunds.iter().map(|r| (r.refund_id.clone(), r)).collect()).unwrap_or_default();
    for r in refunds {
        let twin = theirs.get(&paygate::providers::adapter::trade_no(r.id));
        let ok = match r.state.as_str() {
            "succeeded" => twin.is_some_and(|t| t.status == "SUCCEEDED" && t.amount == r.amount_minor),
            "failed" => twin.is_none_or(|t| t.status == "FAILED"),
            "rejected" => twin.is_none(),
            _ => true,
        };
        if !ok {
            v.disagreements.push(format!(
                "{no}: refund {} ours {} {}, mockpay {:?}",
                r.refund_no,
                r.state,
                r.amount_minor,
                twin.map(|t| (&t.status, t.amount))
            ));
        }
    }
    let ours: HashSet<String> = refunds.iter().map(|r| paygate::providers::adapter::trade_no(r.id)).collect();
    for (id, t) in &theirs {
        if t.status == "SUCCEEDED" && !ours.contains(id) {
            v.disagreements
                .push(format!("{no}: mockpay refunded {} under {id}, which we have no refund of", t.amount));
        }
    }
}

fn check_events(v: &mut Verdict, row: &PaymentRow, refunds: &[&RefundRow], received: &Received) {
    let no = &row.merchant_order_no;
    let arrived = received.of(no);
    v.events_received += arrived.len() as u64;
    let mut by_sequence: HashMap<i64, Uuid> = HashMap::new();
    let mut highest = 0i64;
    for a in arrived {
        match by_sequence.get(&a.event.sequence) {
            Some(id) if *id != a.event.event_id => v.event_conflicts.push(format!(
                "{no}: sequence {} came as events {id} and {}",
                a.event.sequence, a.event.event_id
            )),
            Some(_) => v.duplicate_deliveries += 1,
            None => {
                by_sequence.insert(a.event.sequence, a.event.event_id);
            }
        }
        if a.event.sequence < highest {
            v.arrived_out_of_order += 1;
        }
        highest = highest.max(a.event.sequence);
    }
    let missing: Vec<i64> = (1..=row.event_sequence).filter(|s| !by_sequence.contains_key(s)).collect();
    if !missing.is_empty() {
        v.event_gaps.push(format!("{no}: events {missing:?} of 1..={} never arrived", row.event_sequence));
    }
    let last = arrived.iter().filter(|a| a.event.sequence == row.event_sequence).map(|a| &a.event).next();
    if settled_payment(&row.state) && last.is_none_or(|e| e.state != row.state) {
        v.final_not_evented.push(format!(
            "{no}: ours {}, the last event upstream got says {:?}",
            row.state,
            last.map(|e| &e.state)
        ));
    }
    for r in refunds.iter().filter(|r| final_refund(&r.state)) {
        let told = arrived
            .iter()
            .any(|a| a.event.refund.as_ref().is_some_and(|s| s.refund_id == r.id && s.state == r.state));
        if !told {
            v.final_not_evented
                .push(format!("{no}: refund {} is {} but no event said so", r.refund_no, r.state));
        }
    }
}

/// Every message in a `.dlq` queue, read through the management API without removing it.
async fn dead_letters(management: &str) -> anyhow::Result<Vec<DeadLetter>> {
    let (base, user, pass) = split_credentials(management);
    let http = reqwest::Client::builder().no_proxy().build()?;
    let queues: Vec<Value> = http
        .get(format!("{base}/api/queues/%2f"))
        .basic_auth(&user, Some(&pass))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut out = Vec::new();
    for q in queues {
        let name = q["name"].as_str().unwrap_or_default().to_owned();
        let depth = q["messages"].as_u64().unwrap_or(0);
        if !name.ends_with(paygate::broker::topology::DLQ_SUFFIX) || depth == 0 {
            continue;
        }
        let body = serde_json::json!({"count": depth, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 100000});
        let messages: Vec<Value> = http
            .post(format!("{base}/api/queues/%2f/{name}/get"))
            .basic_auth(&user, Some(&pass))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for m in messages {
            let headers = &m["properties"]["headers"];
            let envelope: Value =
                m["payload"].as_str().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
            out.push(DeadLetter {
                queue: name.clone(),
                reason: reason_of(headers),
                message_type: envelope["message_type"].as_str().map(str::to_owned),
                order_key: envelope["order_key"].as_str().map(str::to_owned),
            });
        }
    }
    Ok(out)
}

/// Why a message was dead-lettered: paygate's own kind and reason when a consumer rejected it,
/// else the broker's (`rejected`, `expired`, `delivery_limit`).
fn reason_of(headers: &Value) -> Option<String> {
    use paygate::broker::envelope::headers::{DEAD_LETTER_KIND, REJECT_REASON};
    let broker = headers["x-first-death-reason"].as_str();
    match (headers[DEAD_LETTER_KIND].as_str(), headers[REJECT_REASON].as_str()) {
        (Some(kind), Some(reason)) => Some(format!("{kind}: {reason}")),
        (Some(kind), None) => Some(kind.to_owned()),
        (None, Some(reason)) => Some(reason.to_owned()),
        (None, None) => broker.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    //! Each check fires on the books it exists to catch, and stays quiet on agreeing books.
    use super::*;
    use crate::upstream::Arrived;
    use mockpay::wire::admin::RefundTruth;
    use paygate::domain::Money;
    use paygate::messages::events::{OrderEvent, RefundSummary};

    fn payment(state: &str, amount: i64, refunded: i64, sequence: i64) -> PaymentRow {
        PaymentRow {
            id: Uuid::now_v7(),
            merchant_order_no: "o-1".into(),
            state: state.into(),
            amount_minor: amount,
            refunded_minor: refunded,
            event_sequence: sequence,
        }
    }

    fn refund(p: &PaymentRow, state: &str, amount: i64) -> RefundRow {
        RefundRow {
            id: Uuid::now_v7(),
            payment_id: p.id,
            refund_no: "o-1-r0".into(),
            amount_minor: amount,
            state: state.into(),
        }
    }

    fn truth(status: &str, amount: i64, charges: u32, refunds: &[(&RefundRow, &str)]) -> PaymentTruth {
        PaymentTruth {
            merchant_id: "paygate".into(),
            order_id: "x".into(),
            transaction_id: "2000000000000000001".into(),
            amount,
            currency: "CNY".into(),
            description: "d".into(),
            pay_method: "direct".into(),
            status: status.into(),
            created_at: String::new(),
            expires_at: None,
            paid_at: None,
            closed_at: None,
            decline_code: None,
            charges,
            refunded_amount: refunds
                .iter()
                .filter(|(_, s)| *s == "SUCCEEDED")
                .map(|(r, _)| r.amount_minor)
                .sum(),
            refundable_amount: 0,
            captured_amount: None,
            notify_url: None,
            refunds: refunds
                .iter()
                .map(|(r, status)| RefundTruth {
                    refund_id: paygate::providers::adapter::trade_no(r.id),
                    refund_transaction_id: "3000000000000000001".into(),
                    amount: r.amount_minor,
                    status: (*status).into(),
                    reason: None,
                    fate: "succeed".into(),
                    created_at: String::new(),
                    completed_at: None,
                })
                .collect(),
            notifications: Vec::new(),
        }
    }

    fn event(p: &PaymentRow, sequence: i64, state: &str, refund: Option<&RefundRow>) -> Arrived {
        let cny = |minor| Money::from_minor(minor, "CNY".parse().unwrap()).unwrap();
        Arrived {
            message_id: Uuid::now_v7(),
            event: OrderEvent {
                event_id: Uuid::new_v5(&p.id, &sequence.to_be_bytes()),
                sequence,
                kind: format!("payment.{state}"),
                payment_id: p.id,
                merchant_id: MERCHANT.into(),
                merchant_order_no: p.merchant_order_no.clone(),
                order_type: "retail".into(),
                provider: "mockpay".into(),
                state: state.into(),
                amount: cny(p.amount_minor),
                captured: None,
                refunded: cny(p.refunded_minor),
                provider_txn_id: None,
                action: None,
                refund: refund.map(|r| RefundSummary {
                    refund_id: r.id,
                    refund_no: r.refund_no.clone(),
                    state: r.state.clone(),
                    amount: cny(r.amount_minor),
                }),
                flags: Vec::new(),
                reason: None,
                occurred_at: chrono::Utc::now(),
            },
        }
    }

    fn received(events: Vec<Arrived>) -> Received {
        let mut r = Received::default();
        for a in events {
            r.push_for_tests(a);
        }
        r
    }

    #[test]
    fn agreeing_books_have_no_finding() {
        let p = payment("partially_refunded", 1000, 400, 3);
        let r = refund(&p, "succeeded", 400);
        let mut v = Verdict::default();
        check_payment(&mut v, &p, &[&r], Some(&truth("SUCCEEDED", 1000, 1, &[(&r, "SUCCEEDED")])));
        let events = received(vec![
            event(&p, 1, "succeeded", None),
            event(&p, 3, "partially_refunded", Some(&r)),
            event(&p, 2, "succeeded", None),
            event(&p, 3, "partially_refunded", Some(&r)),
        ]);
        check_events(&mut v, &p, &[&r], &events);
        assert_eq!(v.violations(), 0, "{v:?}");
        assert_eq!((v.duplicate_deliveries, v.arrived_out_of_order), (1, 1));
    }

    #[test]
    fn a_second_charge_is_a_double_charge() {
        let p = payment("succeeded", 1000, 0, 1);
        let mut v = Verdict::default();
        check_payment(&mut v, &p, &[], Some(&truth("SUCCEEDED", 1000, 2, &[])));
        assert_eq!(v.double_charges.len(), 1, "{v:?}");
    }

    #[test]
    fn refunds_past_the_amount_are_over_refunds() {
        let p = payment("refunded", 1000, 1000, 1);
        let (a, b) = (refund(&p, "succeeded", 600), refund(&p, "succeeded", 600));
        let mut v = Verdict::default();
        check_payment(
            &mut v,
            &p,
            &[&a, &b],
            Some(&truth("SUCCEEDED", 1000, 1, &[(&a, "SUCCEEDED"), (&b, "SUCCEEDED")])),
        );
        assert_eq!(v.over_refunds.len(), 1, "{v:?}");
    }

    #[test]
    fn a_payment_we_failed_that_mockpay_charged_disagrees() {
        let p = payment("failed", 1000, 0, 1);
        let mut v = Verdict::default();
        check_payment(&mut v, &p, &[], Some(&truth("SUCCEEDED", 1000, 1, &[])));
        assert_eq!(v.disagreements.len(), 1, "{v:?}");
        // Closed, then paid and refunded whole (paid after close): the money went back.
        let closed = payment("closed", 1000, 0, 1);
        let back = refund(&closed, "succeeded", 1000);
        let mut v = Verdict::default();
        check_payment(&mut v, &closed, &[&back], Some(&truth("SUCCEEDED", 1000, 1, &[(&back, "SUCCEEDED")])));
        assert_eq!(v.disagreements.len(), 0, "{v:?}");
    }

    #[test]
    fn a_refund_mockpay_made_that_we_do_not_know_disagrees() {
        let p = payment("succeeded", 1000, 0, 1);
        let stray = refund(&p, "succeeded", 300);
        let mut v = Verdict::default();
        check_payment(&mut v, &p, &[], Some(&truth("SUCCEEDED", 1000, 1, &[(&stray, "SUCCEEDED")])));
        assert!(!v.disagreements.is_empty(), "{v:?}");
        // And a refund we call failed that mockpay paid out.
        let failed = refund(&p, "failed", 300);
        let mut v = Verdict::default();
        check_payment(&mut v, &p, &[&failed], Some(&truth("SUCCEEDED", 1000, 1, &[(&failed, "SUCCEEDED")])));
        assert!(!v.disagreements.is_empty(), "{v:?}");
    }

    #[test]
    fn a_missing_event_a_conflicting_copy_and_an_untold_final_state_are_found() {
        let p = payment("refunded", 1000, 1000, 3);
        let r = refund(&p, "succeeded", 1000);
        let mut v = Verdict::default();
        let mut conflicting = event(&p, 1, "succeeded", None);
        conflicting.event.event_id = Uuid::now_v7();
        let events =
            received(vec![event(&p, 1, "succeeded", None), conflicting, event(&p, 2, "succeeded", None)]);
        check_events(&mut v, &p, &[&r], &events);
        assert_eq!(v.event_gaps.len(), 1, "sequence 3 never arrived: {v:?}");
        assert_eq!(v.event_conflicts.len(), 1, "{v:?}");
        // Neither the payment's final state nor the refund's reached upstream.
        assert_eq!(v.final_not_evented.len(), 2, "{v:?}");
    }
}
