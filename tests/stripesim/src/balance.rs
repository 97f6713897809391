//! Balance transactions and payouts, as Stripe's reference describes them: every charge adds a
//! `charge` transaction (`amount`, `fee`, `net = amount - fee`), every refund a `refund` one
//! (negative `amount`, no fee); a payout pays out the net of its transactions and lists them with
//! `GET /v1/balance_transactions?payout=po_…` (with the payout's own `payout` transaction).
//!
//! Simplified: one payout per UTC day and currency, arriving the same day (`arrival_date` = the
//! day's 00:00 UTC; Stripe's schedule is T+2 or more), computed when asked from the books, with
//! the planted bill faults applied (simkit's `amount`, `drop_line`, `fee`; others refused), so a
//! payout always equals the net of what it lists. A refund that failed or was cancelled is left
//! out (Stripe adds a `refund_failure` transaction instead). `expand[]=data.source` embeds the
//! charge (with the PaymentIntent's metadata) or the refund; `expand[]=data.source.payment_intent`
//! embeds the PaymentIntent too.

use crate::app::App;
use crate::model::{PaymentIntent, RefundStatus};
use crate::wire::{self, Answer, respond};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use simkit::{BillFault, BillFaultKind};

pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v1/payouts", get(payouts)).route("/v1/balance_transactions", get(transactions))
}

/// One balance transaction before it is written out.
struct Txn {
    id: String,
    kind: &'static str,
    amount: i64,
    fee: i64,
    currency: String,
    created: i64,
    day: NaiveDate,
    source: Value,
}

fn day_of(t: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().date_naive()
}

fn charge_json(pi: &PaymentIntent, expand_pi: bool) -> Value {
    json!({
        "id": format!("ch_{}", &pi.id[3..]),
        "object": "charge",
        "amount": pi.amount,
        "currency": pi.currency,
        "metadata": pi.metadata,
        "payment_intent": if expand_pi { pi.json() } else { json!(pi.id) },
        "status": "succeeded",
    })
}

/// Every transaction in the books, faults applied, oldest first.
fn all(app: &App, expand_source: bool, expand_pi: bool) -> Vec<Txn> {
    let faults = app.kit.bill_faults().clone();
    let fee_ppm = app.settings().fee_ppm;
    let ledger = app.ledger();
    let find = |kind, order: Option<&str>, refund: Option<&str>| -> Option<BillFault> {
        simkit::bill::find(&faults, kind, order, refund).cloned()
    };
    let mut out = Vec::new();
    for pi in ledger.intents.values() {
        let Some(at) = pi.charged_at else { continue };
        let order = Some(pi.trade_no());
        if find(BillFaultKind::DropLine, order, None).is_some() {
            continue;
        }
        let amount =
            find(BillFaultKind::Amount, order, None).and_then(|f| f.amount).unwrap_or(pi.amount_received);
        let fee = find(BillFaultKind::Fee, order, None)
            .and_then(|f| f.fee)
            .unwrap_or(simkit::bill::fee(amount, fee_ppm));
        out.push(Txn {
            id: format!("txn_{}", &pi.id[3..]),
            kind: "charge",
            amount,
            fee,
            currency: pi.currency.clone(),
            created: at,
            day: day_of(at),
            source: if expand_source {
                charge_json(pi, expand_pi)
            } else {
                json!(format!("ch_{}", &pi.id[3..]))
            },
        });
    }
    for r in ledger.refunds.values() {
        if matches!(r.status, RefundStatus::Failed | RefundStatus::Canceled) {
            continue;
        }
        let refund = Some(r.refund_no());
        if find(BillFaultKind::DropLine, None, refund).is_some() {
            continue;
        }
        let amount = find(BillFaultKind::Amount, None, refund).and_then(|f| f.amount).unwrap_or(r.amount);
        let source = if expand_source {
            let mut j = r.json();
            if expand_pi && let Some(pi) = ledger.intents.get(&r.payment_intent) {
                j["payment_intent"] = pi.json();
            }
            j
        } else {
            json!(r.id)
        };
        out.push(Txn {
            id: format!("txn_{}", &r.id[3..]),
            kind: "refund",
            amount: -amount,
            fee: 0,
            currency: r.currency.clone(),
            created: r.created,
            day: day_of(r.created),
            source,
        });
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    out
}

fn payout_id(day: NaiveDate, currency: &str) -> String {
    format!("po_sim{}{currency}", day.format("%Y%m%d"))
}

/// The payouts: one per day and currency that has transactions.
fn payout_list(app: &App) -> Vec<Value> {
    let mut sums: std::collections::BTreeMap<(NaiveDate, String), i64> = Default::default();
    for t in all(app, false, false) {
        *sums.entry((t.day, t.currency.clone())).or_default() += t.amount - t.fee;
    }
    sums.into_iter()
        .map(|((day, currency), net)| {
            let arrival = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp();
            json!({
                "id": payout_id(day, &currency), "object": "payout", "amount": net, "currency": currency,
                "arrival_date": arrival, "created": arrival, "status": "paid", "automatic": true, "method": "standard",
            })
        })
        .collect()
}

/// The 401 answer unless the request carries the secret key.
fn refused(app: &App, headers: &HeaderMap) -> Option<Response> {
    let key = wire::bearer(headers);
    (key.as_deref() != Some(app.secret_key.as_str())).then(|| respond(wire::bad_key(key.as_deref())))
}

fn int(params: &[(String, String)], key: &str) -> Option<i64> {
    wire::get(params, key).and_then(|v| v.parse().ok())
}

async fn payouts(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = refused(&app, &headers) {
        return r;
    }
    let p = wire::pairs(q.as_deref().unwrap_or(""));
    let (gte, lt) = (int(&p, "arrival_date[gte]"), int(&p, "arrival_date[lt]"));
    let limit = int(&p, "limit").unwrap_or(10).clamp(1, 100) as usize;
    let mut list: Vec<Value> = payout_list(&app)
        .into_iter()
        .filter(|po| {
            let a = po["arrival_date"].as_i64().unwrap_or_default();
            gte.is_none_or(|g| a >= g) && lt.is_none_or(|l| a < l)
        })
        .collect();
    list.reverse();
    let has_more = list.len() > limit;
    list.truncate(limit);
    respond(Answer::ok(json!({ "object": "list", "url": "/v1/payouts", "has_more": has_more, "data": list })))
}

async fn transactions(State(app): State<App>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = refused(&app, &headers) {
        return r;
    }
    let p = wire::pairs(q.as_deref().unwrap_or(""));
    let expands: Vec<&str> = p.iter().filter(|(k, _)| k == "expand[]").map(|(_, v)| v.as_str()).collect();
    let (expand_source, expand_pi) =
        (expands.contains(&"data.source"), expands.contains(&"data.source.payment_intent"));
    let Some(payout) = wire::get(&p, "payout").map(str::to_owned) else {
        return respond(Answer::invalid(
            None,
            "stripesim lists balance transactions by payout only",
            Some("payout"),
        ));
    };
    let Some(po) = payout_list(&app).into_iter().find(|po| po["id"] == payout.as_str()) else {
        return respond(Answer::missing("payout", &payout, "payout"));
    };
    let limit = int(&p, "limit").unwrap_or(10).clamp(1, 100) as usize;
    let mut rows: Vec<Value> = all(&app, expand_source, expand_pi)
        .into_iter()
        .filter(|t| payout_id(t.day, &t.currency) == payout)
        .map(|t| {
            json!({
                "id": t.id, "object": "balance_transaction", "amount": t.amount, "fee": t.fee,
                "net": t.amount - t.fee, "currency": t.currency, "type": t.kind, "created": t.created,
                "available_on": po["arrival_date"], "status": "available", "source": t.source,
            })
        })
        .collect();
    let po_amount = po["amount"].as_i64().unwrap_or_default();
    rows.push(json!({
        "id": format!("txn_{}", &payout[3..]), "object": "balance_transaction", "amount": -po_amount, "fee": 0,
        "net": -po_amount, "currency": po["currency"], "type": "payout", "created": po["created"],
        "available_on": po["arrival_date"], "status": "available", "source": payout,
    }));
    if let Some(after) = wire::get(&p, "starting_after") {
        match rows.iter().position(|r| r["id"] == after) {
            Some(i) => {
                rows.drain(..=i);
            }
            None => return respond(Answer::missing("balance_transaction", after, "starting_after")),
        }
    }
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    respond(Answer::ok(
        json!({ "object": "list", "url": "/v1/balance_transactions", "has_more": has_more, "data": rows }),
    ))
}

/// Plants a bill fault; only the kinds a payout's transactions can show.
pub(crate) fn register_fault(app: &App, f: BillFault) -> Result<BillFault, String> {
    f.validate()?;
    if !matches!(f.kind, BillFaultKind::Amount | BillFaultKind::DropLine | BillFaultKind::Fee) {
        return Err(format!("kind: stripesim plants amount, drop_line and fee only (got {:?})", f.kind));
    }
    app.kit.bill_faults().push(f.clone());
    Ok(f)
}
