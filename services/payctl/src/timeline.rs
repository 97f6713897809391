//! `payctl payment show`: one payment's whole story, in the order it happened: the payment (with
//! the trade number the provider knows it by, and each refund's; for a manual-capture payment when
//! it was authorised and what was captured), its refunds, every transition of either, every raw provider exchange (stored redacted), every
//! notification received about it, and anything raised for a person.

use crate::output::{self, at, or_dash};
use paygate::providers::adapter::trade_no;
use paygate::store::exchanges::{self, ExchangeRow};
use paygate::store::history::{self, HistoryRow};
use paygate::store::payments::Payment;
use paygate::store::refunds::{self, Refund};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// A notification as the timeline shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
struct NotificationRow {
    id: i64,
    provider_notification_id: String,
    status: String,
    reason: Option<String>,
    received_at: chrono::DateTime<chrono::Utc>,
    processed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct AttentionRow {
    id: i64,
    kind: String,
    refund_id: Option<Uuid>,
    detail: serde_json::Value,
    created_at: chrono::DateTime<chrono::Utc>,
    resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    resolved_by: Option<String>,
    resolution: Option<String>,
}

/// A refund with the trade number the provider knows it by.
#[derive(Debug, Serialize)]
struct RefundLine {
    #[serde(flatten)]
    refund: Refund,
    trade_no: String,
}

#[derive(Debug, Serialize)]
struct Story {
    payment: Payment,
    /// Our order number for the payment at its provider (`out_trade_no`, mockpay's `orderId`):
    /// what the provider's dashboard, bills and support know it by.
    trade_no: String,
    refunds: Vec<RefundLine>,
    transitions: Vec<HistoryRow>,
    exchanges: Vec<ExchangeRow>,
    notifications: Vec<NotificationRow>,
    attention: Vec<AttentionRow>,
}

pub async fn show(pool: &PgPool, reference: &str, merchant: Option<&str>, json: bool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let payment = crate::lookup::payment(&mut conn, reference, merchant).await?;
    let story = Story {
        trade_no: trade_no(payment.id),
        refunds: refunds::of_payment(&mut conn, payment.id)
            .await?
            .into_iter()
            .map(|refund| RefundLine { trade_no: trade_no(refund.id), refund })
            .collect(),
        transitions: history::of_payment(&mut conn, payment.id).await?,
        exchanges: exchanges::of_payment(&mut conn, payment.id).await?,
        notifications: sqlx::query_as(
            "SELECT id, provider_notification_id, status, reason, received_at, processed_at
               FROM notifications WHERE payment_id = $1 ORDER BY received_at, id",
        )
        .bind(payment.id)
        .fetch_all(&mut *conn)
        .await?,
        attention: sqlx::query_as(
            "SELECT id, kind, refund_id, detail, created_at, resolved_at, resolved_by, resolution
               FROM attention WHERE payment_id = $1 ORDER BY created_at, id",
        )
        .bind(payment.id)
        .fetch_all(&mut *conn)
        .await?,
        payment,
    };
    if json {
        return output::json(&story);
    }
    print(&story);
    Ok(())
}

fn print(s: &Story) {
    let p = &s.payment;
    println!(
        "payment {}  {} / {}  {} {}  {}  state {}  refunded {}  in flight {}",
        p.id,
        p.merchant_id,
        p.merchant_order_no,
        p.provider,
        p.pay_method,
        p.amount,
        p.state,
        p.refunded,
        p.refund_in_flight
    );
    println!(
        "trade no {}  provider txn {}  flags {}  created {}  updated {}",
        s.trade_no,
        or_dash(p.provider_txn_id.as_deref()),
        if p.flags.is_empty() { "-".to_owned() } else { p.flags.join(",") },
        at(p.created_at),
        at(p.updated_at)
    );
    if p.capture_mode.is_manual() {
        // Authorised, then captured (or voided): the transitions below show each step.
        println!(
            "capture manual  authorized {}  capture asked {}  captured {}",
            p.authorized_at.map_or_else(|| "-".to_owned(), at),
            p.capture_requested.map_or_else(|| "-".to_owned(), |m| m.to_string()),
            p.captured.map_or_else(|| "-".to_owned(), |m| m.to_string())
        );
    }

    if !s.refunds.is_empty() {
        println!("\nRefunds");
        let mut t = output::table(&[
            "refund no",
            "id",
            "amount",
            "state",
            "requested by",
            "approved by",
            "trade no",
            "provider id",
        ]);
        for RefundLine { refund: r, trade_no } in &s.refunds {
            t.add_row(vec![
                r.refund_no.clone(),
                r.id.to_string(),
                r.amount.to_string(),
                r.state.to_string(),
                r.requested_by.clone(),
                or_dash(r.approved_by.as_deref()),
                trade_no.clone(),
                or_dash(r.provider_refund_id.as_deref()),
            ]);
        }
        println!("{t}");
    }

    println!("\nTransitions");
    let mut t = output::table(&["at", "entity", "v", "from", "event", "to", "detail"]);
    for h in &s.transitions {
        let entity = match h.refund_id {
            Some(id) => format!("refund {}", short(id)),
            None => h.entity.clone(),
        };
        t.add_row(vec![
            at(h.occurred_at),
            entity,
            h.version.to_string(),
            or_dash(h.from_state.as_deref()),
            h.event.clone(),
            h.to_state.clone(),
            h.detail.to_string(),
        ]);
    }
    println!("{t}");

    println!("\nProvider exchanges (redacted)");
    let mut t = output::table(&["at", "operation", "request", "status", "outcome", "code", "ms", "response"]);
    for x in &s.exchanges {
        t.add_row(vec![
            at(x.started_at),
            x.operation.clone(),
            format!("{} {}\n{}", x.request_method, x.request_url, x.request_body.as_deref().unwrap_or("")),
            or_dash(x.response_status),
            x.outcome.clone(),
            or_dash(x.unified_code.as_deref()),
            format!("{}.{:03}", x.latency_us / 1000, x.latency_us % 1000),
            x.response_body.clone().or_else(|| x.error.clone()).unwrap_or_default(),
        ]);
    }
    println!("{t}");

    if !s.notifications.is_empty() {
        println!("\nNotifications");
        let mut t = output::table(&["received", "id", "status", "reason", "processed"]);
        for n in &s.notifications {
            t.add_row(vec![
                at(n.received_at),
                n.provider_notification_id.clone(),
                n.status.clone(),
                or_dash(n.reason.as_deref()),
                or_dash(n.processed_at.map(at)),
            ]);
        }
        println!("{t}");
    }

    if !s.attention.is_empty() {
        println!("\nNeeds attention");
        let mut t = output::table(&["id", "raised", "kind", "refund", "detail", "resolved"]);
        for a in &s.attention {
            let resolved = match (&a.resolved_at, &a.resolved_by) {
                (Some(when), by) => format!(
                    "{} by {}: {}",
                    at(*when),
                    or_dash(by.as_deref()),
                    or_dash(a.resolution.as_deref())
                ),
                (None, _) => "open".to_owned(),
            };
            t.add_row(vec![
                a.id.to_string(),
                at(a.created_at),
                a.kind.clone(),
                or_dash(a.refund_id.map(short)),
                a.detail.to_string(),
                resolved,
            ]);
        }
        println!("{t}");
    }
}

/// The first 8 hex digits of an id, enough to tell refunds of one payment apart.
fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}
