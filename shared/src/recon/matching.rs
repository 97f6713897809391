//! Matching a batch's loaded lines against our payments and refunds, in SQL.
//!
//! Each kind of discrepancy is one `INSERT … SELECT … ON CONFLICT (batch_id, kind, subject) DO
//! NOTHING` over `recon_lines` joined to `payments` / `refunds`: on our id behind the trade
//! number first, then on the provider's transaction id for lines whose trade number is not ours.
//! PostgreSQL streams the join (hash or merge join for a big bill), so a million lines never
//! pass through this process. Parameters everywhere: `$1` batch, `$2` provider, `$3` the instant
//! the provider's day starts (its own zone's midnight, `providers::provider_day`), `$4` window in
//! days, `$5` the fee rate in ppm.
//!
//! | kind | when |
//! |---|---|
//! | `duplicate_payment` | a payment line whose transaction id is not the one our payment recorded |
//! | `missing_locally` | a succeeded line for a payment we still have unsettled (a lost notification: provable by a query), or for an order we never sent (forged or foreign) |
//! | `status_mismatch` | a succeeded line for a payment we say failed, closed or expired; a line whose status is not a success for a payment we say succeeded |
//! | `amount_mismatch` | the line's amount or currency is not our payment's |
//! | `fee_mismatch` | the line's fee is not the agreed rate of its amount (integer ppm, rounded half up) |
//! | `refund_mismatch` | a refund line for a refund we have unsettled (provable), failed, of another amount or order (a line that names no order, such as WeChat Pay's fund-flow refund lines, is not checked for it); one we never asked for; one of ours that no bill lists within the window |
//! | `bank_refund` | a settlement line for a refund the customer's bank made |
//! | `missing_at_provider` | our succeeded payment that no bill lists within the window |
//! | `settlement_mismatch` | the settlement's net plus fees is not our payments minus refunds of the day ([`settlement_totals`]) |
//!
//! A query sweep's batch ([`Kind::Sweep`], `super::sweep`) is matched the same way, except that its
//! lines state no fee (none is checked) and that it lists every row of ours it covers (no window:
//! what the provider said of a row is on its line).

use super::Kind;
use crate::providers::bill::SettlementTotal;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use std::collections::BTreeMap;

const MONEY_TAKEN: &str = "('succeeded', 'partially_refunded', 'refunded')";
/// Not settled here: a pay, capture or void may still be on its way, or an authorisation is held
/// (a bill line that says the money was taken proves a lost capture notification as it does a
/// lost payment notification).
const UNSETTLED: &str =
    "('created', 'pending', 'action_required', 'unknown', 'authorized', 'capturing', 'voiding')";
const NOT_PAID: &str = "('failed', 'closed', 'expired', 'voided')";
/// The money we say was taken: a manual-capture payment's captured amount, any other's amount.
const TAKEN: &str = "COALESCE(p.captured_minor, p.amount_minor)";
const REFUND_UNSETTLED: &str = "('requested', 'awaiting_approval', 'submitted', 'processing', 'unknown')";

const THEIRS: &str = "jsonb_build_object('line_no', l.line_no, 'type', l.kind, 'status', l.status, \
    'amount_minor', l.amount_minor, 'fee_minor', l.fee_minor, 'currency', l.currency, \
    'provider_txn_id', l.provider_txn_id, 'provider_refund_id', l.provider_refund_id, \
    'refund_trade_no', l.refund_trade_no, 'completed_at', l.completed_at)";

/// `lines`: the payment lines to look at (a table expression aliased `l`); `join`: how they find
/// our payment `p`; `fees`: whether the lines state the provider's fee ([`Kind::states_fees`]).
/// A line that names no transaction (a sweep's answer that stated none, when we have none
/// either) is about its order.
fn payment_lines(lines: &str, join: &str, fees: bool) -> String {
    let fee_checked = if fees { "l.fee_minor <> ef.fee" } else { "false" };
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, trade_no, provider_txn_id, ours, theirs, detail, provable)
         SELECT $1, k.kind, coalesce('txn:' || nullif(l.provider_txn_id, ''), 'order:' || l.trade_no), p.id,
                l.trade_no, l.provider_txn_id,
                jsonb_build_object('state', p.state, 'amount_minor', {TAKEN}, 'currency', p.currency,
                                   'provider_txn_id', p.provider_txn_id, 'succeeded_at', p.succeeded_at,
                                   'expected_fee_minor', ef.fee),
                {THEIRS}, k.detail, k.provable
         FROM {lines}
         JOIN payments p ON {join}
         CROSS JOIN LATERAL (SELECT div(l.amount_minor::numeric * $5 + 500000, 1000000)::bigint AS fee) ef
         CROSS JOIN LATERAL (SELECT p.provider_txn_id IS NOT NULL AND l.provider_txn_id <> ''
                                    AND p.provider_txn_id <> l.provider_txn_id AS dup) d
         CROSS JOIN LATERAL (VALUES
             ('duplicate_payment', d.dup,
              'a second provider transaction for one order: ours is ' || coalesce(p.provider_txn_id, '-'), false),
             ('missing_locally', NOT d.dup AND l.succeeded AND p.state IN {UNSETTLED},
              'the provider took the money; our record is still ' || p.state || ' (a lost notification)', true),
             ('status_mismatch', NOT d.dup AND ((l.succeeded AND p.state IN {NOT_PAID})
                                              OR (NOT l.succeeded AND p.state IN {MONEY_TAKEN})),
              'the provider says ' || l.status || ', we say ' || p.state, false),
             ('amount_mismatch', NOT d.dup AND (l.amount_minor <> {TAKEN} OR l.currency <> p.currency),
              'the provider says ' || l.amount_minor || ' ' || l.currency || ', we say ' || {TAKEN} || ' ' || p.currency,
              false),
             ('fee_mismatch', {fee_checked},
              'the provider charged a fee of ' || l.fee_minor || '; the agreed rate gives ' || ef.fee, false)
         ) k(kind, hit, detail, provable)
         WHERE k.hit
         ON CONFLICT (batch_id, kind, subject) DO NOTHING"
    )
}

fn unknown_payment_lines() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, trade_no, provider_txn_id, theirs, detail, provable)
         SELECT $1, 'missing_locally', 'txn:' || l.provider_txn_id, l.trade_no, l.provider_txn_id, {THEIRS},
                'we have no order ' || l.trade_no || ': a transaction we never sent (forged, or another merchant''s)',
                false
         FROM recon_lines l
         WHERE l.batch_id = $1 AND l.kind = 'payment'
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = l.payment_id AND p.provider = $2)
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.provider = $2 AND p.provider_txn_id = l.provider_txn_id)
         ON CONFLICT (batch_id, kind, subject) DO NOTHING"
    )
}

fn refund_lines() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, refund_id, trade_no, provider_txn_id, ours, theirs, detail, provable)
         SELECT $1, 'refund_mismatch', 'refund:' || coalesce(l.provider_refund_id, l.line_no::text) || ':' || k.aspect,
                r.payment_id, r.id, l.trade_no, l.provider_txn_id,
                jsonb_build_object('state', r.state, 'amount_minor', r.amount_minor, 'currency', r.currency,
                                   'provider_refund_id', r.provider_refund_id, 'payment_id', r.payment_id),
                {THEIRS}, k.detail, k.provable
         FROM recon_lines l
         JOIN refunds r ON r.id = l.refund_id
         JOIN payments p ON p.id = r.payment_id AND p.provider = $2
         CROSS JOIN LATERAL (VALUES
             ('unsettled', l.succeeded AND r.state IN {REFUND_UNSETTLED},
              'the provider refunded; our refund is still ' || r.state || ' (a lost notification)', true),
             ('status', (l.succeeded AND r.state IN ('failed', 'rejected')) OR (NOT l.succeeded AND r.state = 'succeeded'),
              'the provider says the refund is ' || l.status || ', we say ' || r.state, false),
             ('amount', l.amount_minor <> r.amount_minor OR l.currency <> r.currency,
              'the provider refunded ' || l.amount_minor || ' ' || l.currency || ', we asked for ' || r.amount_minor || ' ' || r.currency,
              false),
             ('order', l.trade_no <> '' AND l.payment_id IS DISTINCT FROM r.payment_id,
              'the line puts our refund under order ' || l.trade_no || ', which is not its payment', false)
         ) k(aspect, hit, detail, provable)
         WHERE l.batch_id = $1 AND l.kind = 'refund' AND k.hit
         ON CONFLICT (batch_id, kind, subject) DO NOTHING"
    )
}

fn unknown_refund_lines() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, trade_no, provider_txn_id, theirs, detail, provable)
         SELECT $1, 'refund_mismatch', 'refund:' || coalesce(l.provider_refund_id, l.line_no::text) || ':unknown',
                p.id, l.trade_no, l.provider_txn_id, {THEIRS},
                'a refund we never asked for (' || coalesce(l.refund_trade_no, 'no refund number') || ')', false
         FROM recon_lines l
         LEFT JOIN payments p ON p.id = l.payment_id AND p.provider = $2
         WHERE l.batch_id = $1 AND l.kind = 'refund'
           AND NOT EXISTS (SELECT 1 FROM refunds r JOIN payments q ON q.id = r.payment_id AND q.provider = $2
                           WHERE r.id = l.refund_id)
         ON CONFLICT (batch_id, kind, subject) DO NOTHING"
    )
}

fn bank_refund_lines() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, trade_no, provider_txn_id, theirs, detail, provable)
         SELECT $1, 'bank_refund', 'refund:' || coalesce(l.provider_refund_id, l.line_no::text),
                p.id, l.trade_no, l.provider_txn_id, {THEIRS},
                'the customer''s bank refunded ' || l.amount_minor || ' ' || l.currency || ' of order ' || l.trade_no
                || '; nobody here asked for it', false
         FROM recon_lines l
         LEFT JOIN payments p ON p.id = l.payment_id AND p.provider = $2
         WHERE l.batch_id = $1 AND l.kind = 'bank_refund'
         ON CONFLICT (batch_id, kind, subject) DO NOTHING"
    )
}

/// The instant the provider's day (minus `$4` days, plus `offset`) starts at.
fn day_start(offset: i32) -> String {
    format!("($3::timestamptz + ({offset} - $4::int) * interval '1 day')")
}

fn local_payments_missing() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, trade_no, provider_txn_id, ours, detail, provable)
         SELECT $1, 'missing_at_provider', 'payment:' || p.id, p.id, replace(p.id::text, '-', ''), p.provider_txn_id,
                jsonb_build_object('state', p.state, 'amount_minor', {TAKEN}, 'currency', p.currency,
                                   'provider_txn_id', p.provider_txn_id, 'succeeded_at', p.succeeded_at),
                'we say ' || p.state || ' since ' || p.succeeded_at || '; no bill of the ' || ($4::int + 1)
                || ' day(s) from then lists it', false
         FROM payments p
         WHERE p.provider = $2 AND p.succeeded_at >= {from} AND p.succeeded_at < {to}
           AND p.state IN {MONEY_TAKEN}
           AND NOT EXISTS (SELECT 1 FROM recon_lines l JOIN recon_batches b ON b.id = l.batch_id
                           WHERE l.payment_id = p.id AND l.kind = 'payment' AND b.provider = $2 AND b.kind = 'trade')
         ON CONFLICT (batch_id, kind, subject) DO NOTHING",
        from = day_start(0),
        to = day_start(1),
    )
}

fn local_refunds_missing() -> String {
    format!(
        "INSERT INTO recon_discrepancies
             (batch_id, kind, subject, payment_id, refund_id, trade_no, ours, detail, provable)
         SELECT $1, 'refund_mismatch', 'refund:' || r.id || ':missing', r.payment_id, r.id,
                replace(r.payment_id::text, '-', ''),
                jsonb_build_object('state', r.state, 'amount_minor', r.amount_minor, 'currency', r.currency,
                                   'provider_refund_id', r.provider_refund_id, 'succeeded_at', r.succeeded_at),
                'our refund succeeded at ' || r.succeeded_at || '; no bill of the ' || ($4::int + 1)
                || ' day(s) from then lists it', false
         FROM refunds r JOIN payments p ON p.id = r.payment_id AND p.provider = $2
         WHERE r.state = 'succeeded' AND r.succeeded_at >= {from} AND r.succeeded_at < {to}
           AND NOT EXISTS (SELECT 1 FROM recon_lines l JOIN recon_batches b ON b.id = l.batch_id
                           WHERE l.refund_id = r.id AND l.kind = 'refund' AND b.provider = $2 AND b.kind = 'trade')
         ON CONFLICT (batch_id, kind, subject) DO NOTHING",
        from = day_start(0),
        to = day_start(1),
    )
}

fn waiting() -> String {
    format!(
        "SELECT (SELECT count(*) FROM payments p
                 WHERE p.provider = $2 AND p.succeeded_at >= {from} AND p.succeeded_at < {to}
                   AND p.state IN {MONEY_TAKEN}
                   AND NOT EXISTS (SELECT 1 FROM recon_lines l JOIN recon_batches b ON b.id = l.batch_id
                                   WHERE l.payment_id = p.id AND l.kind = 'payment' AND b.provider = $2
                                     AND b.kind = 'trade'))
              + (SELECT count(*) FROM refunds r JOIN payments p ON p.id = r.payment_id AND p.provider = $2
                 WHERE r.state = 'succeeded' AND r.succeeded_at >= {from} AND r.succeeded_at < {to}
                   AND NOT EXISTS (SELECT 1 FROM recon_lines l JOIN recon_batches b ON b.id = l.batch_id
                                   WHERE l.refund_id = r.id AND l.kind = 'refund' AND b.provider = $2
                                     AND b.kind = 'trade'))
         WHERE $1::bigint IS NOT NULL AND $5::bigint IS NOT NULL",
        from = day_start(1),
        to = "($3::timestamptz + interval '1 day')",
    )
}

async fn exec(
    conn: &mut PgConnection,
    sql: String,
    batch: i64,
    provider: &str,
    day_starts: DateTime<Utc>,
    window: u32,
    fee_ppm: u32,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(batch)
        .bind(provider)
        .bind(day_starts)
        .bind(i32::try_from(window).unwrap_or(i32::MAX))
        .bind(i64::from(fee_ppm))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Finds every line-level discrepancy of the batch (and, for a trade bill, our rows missing at
/// the provider), in the caller's transaction (the engine lifts the statement timeout there: a
/// big bill's joins take longer than an order's statements may). Returns how many of our rows
/// are still waiting inside the window.
pub async fn match_lines(
    conn: &mut PgConnection,
    batch: i64,
    provider: &str,
    day_starts: DateTime<Utc>,
    kind: Kind,
    window: u32,
    fee_ppm: u32,
) -> Result<i64, sqlx::Error> {
    let all = "(SELECT * FROM recon_lines WHERE batch_id = $1 AND kind = 'payment') l";
    // Lines whose trade number is not one of our payments: anti-joined once, before the join on
    // the provider's transaction id.
    let not_ours = "(SELECT * FROM recon_lines r WHERE r.batch_id = $1 AND r.kind = 'payment' \
                    AND NOT EXISTS (SELECT 1 FROM payments q WHERE q.id = r.payment_id AND q.provider = $2)) l";
    let fees = kind.states_fees();
    let mut statements = vec![
        payment_lines(all, "p.id = l.payment_id AND p.provider = $2", fees),
        payment_lines(not_ours, "p.provider = $2 AND p.provider_txn_id = l.provider_txn_id", fees),
        unknown_payment_lines(),
        refund_lines(),
        unknown_refund_lines(),
        bank_refund_lines(),
    ];
    if kind == Kind::Trade {
        statements.push(local_payments_missing());
        statements.push(local_refunds_missing());
    }
    for sql in statements {
        exec(conn, sql, batch, provider, day_starts, window, fee_ppm).await?;
    }
    if kind != Kind::Trade {
        return Ok(0);
    }
    sqlx::query_scalar(sqlx::AssertSqlSafe(waiting()))
        .bind(batch)
        .bind(provider)
        .bind(day_starts)
        .bind(i32::try_from(window).unwrap_or(i32::MAX))
        .bind(i64::from(fee_ppm))
        .fetch_one(conn)
        .await
}

/// Our side of a day in one currency: succeeded payments and refunds that completed that day.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Ours {
    gross: i64,
    refunds: i64,
}

/// The settlement's money check: for each currency, the provider's `net + fees` must equal our
/// payments minus refunds of the day, and its own `gross - refunds - fees` must equal its `net`.
/// Records a `settlement_mismatch` per currency that fails either. Returns how many were found.
pub async fn settlement_totals(
    conn: &mut PgConnection,
    batch: i64,
    provider: &str,
    day_starts: DateTime<Utc>,
    theirs: &[SettlementTotal],
) -> Result<u64, sqlx::Error> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT currency, sum(gross)::bigint, sum(refunds)::bigint FROM (
             SELECT p.currency::text AS currency, COALESCE(p.captured_minor, p.amount_minor) AS gross,
                    0::bigint AS refunds FROM payments p
             WHERE p.provider = $1 AND p.state IN ('succeeded', 'partially_refunded', 'refunded')
               AND p.succeeded_at >= $2::timestamptz AND p.succeeded_at < $2::timestamptz + interval '1 day'
             UNION ALL
             SELECT r.currency::text, 0, r.amount_minor FROM refunds r JOIN payments p ON p.id = r.payment_id
             WHERE p.provider = $1 AND r.state = 'succeeded'
               AND r.succeeded_at >= $2::timestamptz AND r.succeeded_at < $2::timestamptz + interval '1 day'
         ) x GROUP BY currency",
    )
    .bind(provider)
    .bind(day_starts)
    .fetch_all(&mut *conn)
    .await?;
    let mut ours: BTreeMap<String, Ours> =
        rows.into_iter().map(|(c, gross, refunds)| (c, Ours { gross, refunds })).collect();
    let mut found = 0;
    let record = |currency: String, ours: Ours, theirs: Option<&SettlementTotal>| {
        let expected = ours.gross - ours.refunds;
        let (received, internal_ok) = match theirs {
            Some(t) => {
                (t.net_minor + t.fees_minor, t.gross_minor - t.refunds_minor - t.fees_minor == t.net_minor)
            }
            None => (0, true),
        };
        if received == expected && internal_ok {
            return None;
        }
        let detail = match theirs {
            None => format!("no settlement in {currency}; we expected {expected}"),
            Some(t) if received != expected => format!(
                "received {} + fees {} = {received} {currency}; our payments {} minus refunds {} = {expected}: {} by {}",
                t.net_minor,
                t.fees_minor,
                ours.gross,
                ours.refunds,
                if received < expected { "short" } else { "over" },
                (received - expected).abs()
            ),
            Some(t) => format!(
                "the settlement does not add up: gross {} - refunds {} - fees {} is not net {}",
                t.gross_minor, t.refunds_minor, t.fees_minor, t.net_minor
            ),
        };
        Some((
            currency,
            json!({"gross_minor": ours.gross, "refunds_minor": ours.refunds, "expected_net_plus_fees_minor": expected}),
            theirs.map(|t| serde_json::to_value(t).unwrap_or_default()),
            detail,
        ))
    };
    let mut findings = Vec::new();
    for t in theirs {
        let o = ours.remove(&t.currency).unwrap_or_default();
        findings.extend(record(t.currency.clone(), o, Some(t)));
    }
    for (currency, o) in ours {
        findings.extend(record(currency, o, None));
    }
    for (currency, ours, theirs, detail) in findings {
        let inserted = sqlx::query(
            "INSERT INTO recon_discrepancies (batch_id, kind, subject, ours, theirs, detail)
             VALUES ($1, 'settlement_mismatch', 'total:' || $2, $3, $4, $5)
             ON CONFLICT (batch_id, kind, subject) DO NOTHING",
        )
        .bind(batch)
        .bind(&currency)
        .bind(ours)
        .bind(theirs)
        .bind(detail)
        .execute(&mut *conn)
        .await?;
        found += inserted.rows_affected();
    }
    Ok(found)
}
