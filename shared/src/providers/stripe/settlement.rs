//! Stripe's settlement: the payouts that arrived on a day and the balance transactions each one
//! pays out (`GET /v1/payouts?arrival_date[gte]=…&arrival_date[lt]=…`, then
//! `GET /v1/balance_transactions?payout=po_…&expand[]=data.source&expand[]=data.source.payment_intent`,
//! paged). Stripe has no trade bill; this is what reconciliation reads.
//!
//! Each `charge` (or `payment`) transaction is a payment line: its amount, its `fee`, our trade
//! number from the charge's `metadata.trade_no` or, failing that, its PaymentIntent's. Each
//! `refund` (or `payment_refund`) transaction is a refund line: the refund's `metadata.refund_no`
//! and `metadata.trade_no` (paygate sets both), the amount as a positive number. The payout's own
//! `payout` transaction is skipped. Every other type (adjustments, disputes, Stripe fees,
//! `refund_failure`, …) stops the download with an error naming it: it is not reconciled yet.
//!
//! Checks: a payout's `amount` equals the sum of the `net` of what it lists ("payout = Σ net"),
//! and each transaction's `net` is its `amount - fee`. The totals per currency are the lines'
//! sums: `net + fees == gross - refunds` by construction.
//!
//! **Not confirmed**: whether a Charge made by a PaymentIntent carries the PaymentIntent's
//! metadata (the PaymentIntent is expanded as well, so either works); Stripe lists up to 100
//! transactions a page (paged with `starting_after`).

use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind, SettlementTotal};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A payout, as far as we read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Payout {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub status: String,
}

/// A balance transaction, as far as we read it.
#[derive(Debug, Clone, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    #[serde(default)]
    pub status: String,
    /// The charge or refund (expanded), or its id.
    #[serde(default)]
    pub source: Value,
}

fn err(line: u64, field: &'static str, rule: impl Into<String>) -> BillError {
    BillError::Line { line, field, rule: rule.into() }
}

/// `metadata.<key>` of the source, or of its expanded PaymentIntent.
fn meta(source: &Value, key: &str) -> Option<String> {
    let direct = source["metadata"][key].as_str();
    let via_pi = source["payment_intent"]["metadata"][key].as_str();
    direct.or(via_pi).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The PaymentIntent's id of the source (a string or an expanded object).
fn payment_intent(source: &Value) -> String {
    source["payment_intent"]
        .as_str()
        .or(source["payment_intent"]["id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The lines of one payout's transactions (numbered from `first_line`), checked against it.
pub fn lines(
    payout: &Payout,
    txns: &[BalanceTransaction],
    first_line: u64,
) -> Result<Vec<BillLine>, BillError> {
    let mut out = Vec::new();
    let mut net = 0i64;
    for (i, t) in txns.iter().enumerate() {
        let line = first_line + u64::try_from(i).unwrap_or(u64::MAX);
        if t.kind == "payout" {
            continue;
        }
        if t.amount - t.fee != t.net {
            return Err(err(
                line,
                "net",
                format!("{}: net {} must be amount {} - fee {}", t.id, t.net, t.amount, t.fee),
            ));
        }
        if !t.currency.eq_ignore_ascii_case(&payout.currency) {
            return Err(err(
                line,
                "currency",
                format!("{}: {} is not the payout's {}", t.id, t.currency, payout.currency),
            ));
        }
        net += t.net;
        let completed_at = DateTime::<Utc>::from_timestamp(t.created, 0)
            .ok_or_else(|| err(line, "created", format!("{}: not Unix seconds", t.id)))?;
        let currency = t.currency.to_ascii_uppercase();
        let status = if t.status.is_empty() { "available".to_owned() } else { t.status.clone() };
        let trade_no = meta(&t.source, "trade_no").ok_or_else(|| {
            err(
                line,
                "source.metadata.trade_no",
                format!("{}: the source must carry our trade number (expanded)", t.id),
            )
        });
        match t.kind.as_str() {
            "charge" | "payment" => out.push(BillLine {
                kind: BillLineKind::Payment,
                trade_no: trade_no?,
                refund_trade_no: None,
                provider_txn_id: payment_intent(&t.source),
                provider_refund_id: None,
                amount_minor: t.amount,
                fee_minor: t.fee,
                currency,
                status,
                succeeded: true,
                completed_at,
            }),
            "refund" | "payment_refund" => out.push(BillLine {
                kind: BillLineKind::Refund,
                trade_no: trade_no?,
                refund_trade_no: Some(meta(&t.source, "refund_no").ok_or_else(|| {
                    err(
                        line,
                        "source.metadata.refund_no",
                        format!("{}: the refund must carry our refund number", t.id),
                    )
                })?),
                provider_txn_id: payment_intent(&t.source),
                provider_refund_id: t.source["id"].as_str().or(t.source.as_str()).map(str::to_owned),
                amount_minor: -t.amount,
                fee_minor: t.fee,
                currency,
                status,
                succeeded: true,
                completed_at,
            }),
            other => {
                return Err(err(
                    line,
                    "type",
                    format!("{}: balance transactions of type {other:?} are not reconciled yet", t.id),
                ));
            }
        }
    }
    if net != payout.amount {
        return Err(err(
            first_line,
            "payout.amount",
            format!("payout {} is {} but the net of its transactions is {net}", payout.id, payout.amount),
        ));
    }
    Ok(out)
}

/// The lines, then one total per currency (in the order the currencies first appear).
pub fn items(lines: Vec<BillLine>) -> Vec<BillItem> {
    let mut totals: BTreeMap<String, SettlementTotal> = BTreeMap::new();
    for l in &lines {
        let t = totals.entry(l.currency.clone()).or_insert_with(|| SettlementTotal {
            currency: l.currency.clone(),
            gross_minor: 0,
            refunds_minor: 0,
            fees_minor: 0,
            net_minor: 0,
            count: 0,
        });
        match l.kind {
            BillLineKind::Payment => {
                t.gross_minor += l.amount_minor;
                t.net_minor += l.amount_minor - l.fee_minor;
            }
            _ => {
                t.refunds_minor += l.amount_minor;
                t.net_minor -= l.amount_minor + l.fee_minor;
            }
        }
        t.fees_minor += l.fee_minor;
        t.count += 1;
    }
    let mut items: Vec<BillItem> = lines.into_iter().map(BillItem::Line).collect();
    items.extend(totals.into_values().map(BillItem::Total));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn txn(id: &str, kind: &str, amount: i64, fee: i64, source: Value) -> BalanceTransaction {
        BalanceTransaction {
            id: id.into(),
            amount,
            fee,
            net: amount - fee,
            currency: "usd".into(),
            kind: kind.into(),
            created: 1_767_225_600,
            status: "available".into(),
            source,
        }
    }

    fn payout(amount: i64) -> Payout {
        Payout { id: "po_1".into(), amount, currency: "usd".into(), status: "paid".into() }
    }

    #[test]
    fn a_payout_is_the_net_of_its_transactions_each_matched_to_ours() {
        let charge = json!({"id": "ch_1", "payment_intent": {"id": "pi_1", "metadata": {"trade_no": "t1"}}, "metadata": {}});
        let refund = json!({"id": "re_1", "payment_intent": "pi_1", "metadata": {"trade_no": "t1", "refund_no": "r1"}});
        let txns = vec![
            txn("txn_1", "charge", 1_000, 59, charge),
            txn("txn_2", "refund", -300, 0, refund),
            txn("txn_3", "payout", -641, 0, json!("po_1")),
        ];
        let lines = lines(&payout(641), &txns, 1).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].trade_no.as_str(), lines[0].provider_txn_id.as_str(), lines[0].fee_minor),
            ("t1", "pi_1", 59)
        );
        assert_eq!((lines[1].amount_minor, lines[1].refund_trade_no.as_deref()), (300, Some("r1")));
        let items = items(lines);
        let Some(BillItem::Total(t)) = items.last() else { panic!("{items:?}") };
        assert_eq!(
            (t.gross_minor, t.refunds_minor, t.fees_minor, t.net_minor, t.count),
            (1_000, 300, 59, 641, 2)
        );
        assert_eq!(t.net_minor + t.fees_minor, t.gross_minor - t.refunds_minor);
    }

    #[test]
    fn what_does_not_add_up_or_match_is_an_error_naming_the_field() {
        let charge = json!({"id": "ch_1", "payment_intent": "pi_1", "metadata": {"trade_no": "t1"}});
        let e = lines(&payout(900), &[txn("txn_1", "charge", 1_000, 59, charge.clone())], 1).unwrap_err();
        assert!(e.to_string().contains("payout.amount"), "{e}");
        let e = lines(&payout(941), &[txn("txn_1", "adjustment", 1_000, 59, charge)], 1).unwrap_err();
        assert!(e.to_string().contains("type") && e.to_string().contains("adjustment"), "{e}");
        let e = lines(&payout(941), &[txn("txn_1", "charge", 1_000, 59, json!("ch_1"))], 1).unwrap_err();
        assert!(e.to_string().contains("source.metadata.trade_no"), "{e}");
        let mut bad = txn("txn_1", "charge", 1_000, 59, json!({}));
        bad.net = 1;
        assert!(lines(&payout(1), &[bad], 1).unwrap_err().to_string().contains("net"));
    }
}
