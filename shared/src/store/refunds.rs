//! Refunds: creating one (pre-commit, idempotent on the merchant's refund number), how its row
//! reads back ([`StoredRow`]: `Refund::get`, `Refund::lock` after its payment's,
//! `Refund::find_by_number`), and moving it through the refund state machine.
//!
//! Ingest only creates refunds (state `requested`); the provider-dispatcher is the only writer
//! of a refund once it exists, through [`transition`] and the balance operations in
//! [`super::balance`], under the payment's row lock.

use super::error::StoreError;
use super::history::{self, TransitionRecord, Versioned};
use super::stored_row::{self, Columns, StoredRow};
use super::{applied, created};
use crate::domain::{Currency, MerchantId, Money};
use crate::state_machine::{RefundEvent, RefundState, refund as machine};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// A refund about to be created.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub merchant_id: MerchantId,
    pub refund_no: String,
    /// In the payment's currency (the composite foreign key refuses another).
    pub amount: Money,
    pub reason: Option<String>,
    /// Who asked for it; an approver must be someone else.
    pub requested_by: String,
    /// A digest of the command's parameters: the same refund number with another digest is an
    /// idempotency conflict.
    pub request_fingerprint: String,
    /// The creating command's `reply_to`: every event of the refund is also sent there.
    pub reply_to: Option<String>,
    /// The creating command's correlation id (its message id when it had none): every event of
    /// the refund carries it.
    pub correlation_id: Option<String>,
}

/// A refund as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Refund {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub merchant_id: MerchantId,
    pub refund_no: String,
    pub amount: Money,
    pub state: RefundState,
    pub reason: Option<String>,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub provider_refund_id: Option<String>,
    pub request_fingerprint: String,
    pub version: i64,
    pub next_check_at: Option<DateTime<Utc>>,
    pub check_attempt: i32,
    /// The creating command's `reply_to` and correlation id (see [`NewRefund`]).
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A refund's row as stored.
#[derive(sqlx::FromRow)]
pub struct Row {
    id: Uuid,
    payment_id: Uuid,
    merchant_id: String,
    refund_no: String,
    amount_minor: i64,
    currency: String,
    state: String,
    reason: Option<String>,
    requested_by: String,
    approved_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
    provider_refund_id: Option<String>,
    request_fingerprint: String,
    version: i64,
    next_check_at: Option<DateTime<Utc>>,
    check_attempt: i32,
    reply_to: Option<String>,
    correlation_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StoredRow for Refund {
    const ENTITY: &'static str = "refund";
    const TABLE: &'static str = "refunds";
    const NUMBER: &'static str = "refund_no";
    const COLUMNS: &'static str = "id, payment_id, merchant_id, refund_no, amount_minor, currency::text AS currency, \
         state, reason, requested_by, approved_by, decided_at, decision_reason, provider_refund_id, \
         request_fingerprint, version, next_check_at, check_attempt, reply_to, correlation_id, created_at, updated_at";
    type Row = Row;

    fn decode(r: Row) -> Result<Self, StoreError> {
        let column = Columns::of::<Refund>(r.id);
        let currency = column.parse("currency", Currency::parse(&r.currency))?;
        Ok(Refund {
            amount: column.parse("amount_minor", Money::from_minor(r.amount_minor, currency))?,
            state: column.parse("state", r.state.parse())?,
            merchant_id: column.parse("merchant_id", MerchantId::parse(&r.merchant_id))?,
            id: r.id,
            payment_id: r.payment_id,
            refund_no: r.refund_no,
            reason: r.reason,
            requested_by: r.requested_by,
            approved_by: r.approved_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            provider_refund_id: r.provider_refund_id,
            request_fingerprint: r.request_fingerprint,
            version: r.version,
            next_check_at: r.next_check_at,
            check_attempt: r.check_attempt,
            reply_to: r.reply_to,
            correlation_id: r.correlation_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The outcome of [`create`]: the new refund, or the one that already had the merchant's refund
/// number.
pub type Created = created::Created<Refund>;

/// Creates the refund in state `requested` with its first history row, or returns the one that
/// already has this (merchant, refund number). Concurrent creations of the same refund number
/// are settled by the unique constraint: exactly one is `New`. A payment that does not exist,
/// or has another merchant or currency, is refused by the database (`refunds_payment_fk`).
///
/// Creating a refund reserves nothing: the dispatcher reserves its amount in the payment's
/// balance ([`super::balance::reserve`]) under the payment's lock when it applies the refund.
pub async fn create(
    conn: &mut PgConnection,
    new: &NewRefund,
    cause: Option<Uuid>,
) -> Result<Created, StoreError> {
    let sql = format!(
        "INSERT INTO refunds (id, payment_id, merchant_id, refund_no, amount_minor, currency, state, reason,
                              requested_by, request_fingerprint, reply_to, correlation_id)
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9, $11, $12)
         ON CONFLICT (merchant_id, refund_no) DO NOTHING
         RETURNING {}",
        Refund::COLUMNS
    );
    // The refund and its first history row, in one statement.
    let sql = history::with_first_row(&sql, "payment_id", "id", RefundState::Requested.as_str(), 10, None);
    let inserted: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.id)
        .bind(new.payment_id)
        .bind(new.merchant_id.as_str())
        .bind(&new.refund_no)
        .bind(new.amount.minor_units())
        .bind(new.amount.currency().code())
        .bind(&new.reason)
        .bind(&new.requested_by)
        .bind(&new.request_fingerprint)
        .bind(cause)
        .bind(&new.reply_to)
        .bind(&new.correlation_id)
        .fetch_optional(&mut *conn)
        .await?;
    stored_row::created(conn, inserted, new.merchant_id.as_str(), &new.refund_no).await
}

/// Every refund of a payment, oldest first (no lock).
pub async fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> Result<Vec<Refund>, StoreError> {
    stored_row::all(conn, "WHERE payment_id = $1 ORDER BY created_at, id", payment_id).await
}

/// What [`transition`] did.
pub type Applied = applied::Applied<RefundState>;

/// Moves `refund` (locked by the caller) by `event`, through the refund state machine: updates
/// the row under a version guard and appends the history row, in the caller's transaction. A
/// refused event changes nothing and returns [`StoreError::Refused`]. Exactly like
/// [`super::payments::transition`]; the balance operations are separate ([`super::balance`]).
pub async fn transition(
    conn: &mut PgConnection,
    refund: &mut Refund,
    event: RefundEvent,
    cause: Option<Uuid>,
    detail: Value,
) -> Result<Applied, StoreError> {
    let to = match machine::transition(refund.state, event) {
        Ok(to) => to,
        Err(e) if e.is_already_applied() => return Ok(Applied::AlreadyApplied),
        Err(e) => return Err(StoreError::Refused(e)),
    };
    let from = refund.state;
    let version = refund.version + 1;
    let record = TransitionRecord {
        payment_id: refund.payment_id,
        refund_id: Some(refund.id),
        from_state: Some(from.as_str()),
        to_state: to.as_str(),
        event: event.as_str(),
        version,
        cause_message_id: cause,
        detail,
    };
    if !history::record_transitions(conn, Versioned::Refunds, refund.id, std::slice::from_ref(&record), &[])
        .await?
    {
        return Err(StoreError::Concurrent { id: refund.id, expected: refund.version });
    }
    refund.state = to;
    refund.version = version;
    Ok(Applied::Moved { from, to, version })
}

/// Records a person's decision on a refund awaiting approval, with the same transaction's
/// [`transition`] (`approved` or `approval_rejected`): `approved_by` only for an approval
/// (the database refuses an approver who is the requester, `refunds_approver_not_requester`),
/// `decided_at` and `decision_reason` for both. Who rejected belongs in the transition's detail.
pub async fn record_decision(
    conn: &mut PgConnection,
    refund: &mut Refund,
    approved_by: Option<&str>,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let decided_at: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE refunds SET approved_by = $2, decided_at = now(), decision_reason = $3 WHERE id = $1
         RETURNING decided_at",
    )
    .bind(refund.id)
    .bind(approved_by)
    .bind(reason)
    .fetch_one(conn)
    .await?;
    refund.approved_by = approved_by.map(str::to_owned);
    refund.decided_at = Some(decided_at);
    refund.decision_reason = reason.map(str::to_owned);
    Ok(())
}

/// Records that a query proved the provider has no record of the refund: it may be sent once
/// more. For a provider whose refunds do not repeat safely (no idempotency key: LINE Pay), this
/// proof is the only licence to send a refund again ([`take_absence_proof`]).
pub async fn prove_absent(conn: &mut PgConnection, refund_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE refunds SET absence_proven = true WHERE id = $1")
        .bind(refund_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the proof [`prove_absent`] recorded, if there is one: `true` once per proof. Called in
/// the transaction that commits a repeated attempt, before the request leaves, so that a crash
/// after the send cannot send it a third time on the same proof.
pub async fn take_absence_proof(conn: &mut PgConnection, refund_id: Uuid) -> Result<bool, StoreError> {
    let taken = sqlx::query("UPDATE refunds SET absence_proven = false WHERE id = $1 AND absence_proven")
        .bind(refund_id)
        .execute(conn)
        .await?;
    Ok(taken.rows_affected() == 1)
}

/// Records the provider's id for the refund. Only fills in: a known id is never replaced.
pub async fn record_provider_refund_id(
    conn: &mut PgConnection,
    refund: &mut Refund,
    provider_refund_id: &str,
) -> Result<(), StoreError> {
    if refund.provider_refund_id.is_some() {
        return Ok(());
    }
    sqlx::query("UPDATE refunds SET provider_refund_id = $2 WHERE id = $1 AND provider_refund_id IS NULL")
        .bind(refund.id)
        .bind(provider_refund_id)
        .execute(conn)
        .await?;
    refund.provider_refund_id = Some(provider_refund_id.to_owned());
    Ok(())
}
