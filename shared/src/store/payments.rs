//! Payments: creating one (pre-commit, idempotent on the merchant's order number), how its row
//! reads back ([`StoredRow`]: `Payment::get`, `Payment::lock` under its row lock,
//! `Payment::find_by_number`), and moving it through the state machine.

use super::error::StoreError;
use super::history::{self, TransitionRecord, Versioned};
use super::stored_row::{self, Columns, StoredRow};
use super::{applied, created};
use crate::broker::outbox;
use crate::domain::{AuthCode, CaptureMode, Currency, MerchantId, Money, PayMethod, Payer, ProviderName};
use crate::state_machine::{PaymentEvent, PaymentState, TransitionError, payment as machine};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// A payment about to be created.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub id: Uuid,
    pub merchant_id: MerchantId,
    pub merchant_order_no: String,
    pub provider: ProviderName,
    pub pay_method: PayMethod,
    pub order_type: String,
    pub amount: Money,
    pub subject: String,
    pub return_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Value,
    /// A digest of the command's parameters: the same order number with another digest is an
    /// idempotency conflict.
    pub request_fingerprint: String,
    /// The creating command's `reply_to`: every event of the payment is also sent there.
    pub reply_to: Option<String>,
    /// The creating command's correlation id (its message id when it had none): every event of
    /// the payment carries it.
    pub correlation_id: Option<String>,
    /// The customer's payment code of a `barcode` payment; the database forgets it once the
    /// payment leaves `created`/`pending` (migration 0023).
    pub auth_code: Option<AuthCode>,
    /// Who pays, where the provider needs it (WeChat Pay JSAPI / H5).
    pub payer: Option<Payer>,
    /// When the money is taken: at once, or by a capture (migration 0028).
    pub capture_mode: CaptureMode,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Payment {
    pub id: Uuid,
    pub merchant_id: MerchantId,
    pub merchant_order_no: String,
    pub provider: ProviderName,
    pub pay_method: PayMethod,
    pub order_type: String,
    pub amount: Money,
    pub state: PaymentState,
    pub subject: String,
    pub return_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Value,
    pub provider_txn_id: Option<String>,
    /// What the customer must do, once the provider said (`messages::events::CustomerAction`).
    pub customer_action: Option<Value>,
    pub refunded: Money,
    pub refund_in_flight: Money,
    pub request_fingerprint: String,
    pub flags: Vec<String>,
    pub version: i64,
    pub next_check_at: Option<DateTime<Utc>>,
    pub check_attempt: i32,
    /// The creating command's `reply_to` and correlation id (see [`NewPayment`]); `None` on
    /// payments created before they were stored.
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    /// The number of the payment's last event (0: none yet). The next event gets the next
    /// number, stored with it in the same transaction ([`announce`], [`record_announcing`]).
    pub event_sequence: i64,
    /// The customer's payment code, while the pay request may still have to be sent (a `barcode`
    /// payment in `created` or `pending`; `None` after). Never serialised.
    #[serde(skip)]
    pub auth_code: Option<AuthCode>,
    pub payer: Option<Payer>,
    /// When the money is taken (migration 0028).
    pub capture_mode: CaptureMode,
    /// When the payment first became `authorized` (manual capture only).
    pub authorized_at: Option<DateTime<Utc>>,
    /// The capture committed before it was sent (it may have reached the provider).
    pub capture_requested: Option<Money>,
    /// What the provider captured of a manual-capture payment, once captured.
    pub captured: Option<Money>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Payment {
    /// The money the provider took: the captured amount of a manual-capture payment (none
    /// before it is captured), the amount of any other. What refunds and bills apply to.
    pub fn captured_amount(&self) -> Money {
        match self.capture_mode {
            CaptureMode::Automatic => self.amount,
            CaptureMode::Manual => self.captured.unwrap_or(Money::zero(self.amount.currency())),
        }
    }
}

/// A payment's row as stored.
#[derive(sqlx::FromRow)]
pub struct Row {
    id: Uuid,
    merchant_id: String,
    merchant_order_no: String,
    provider: String,
    pay_method: String,
    order_type: String,
    amount_minor: i64,
    currency: String,
    state: String,
    subject: String,
    return_url: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    metadata: Value,
    provider_txn_id: Option<String>,
    customer_action: Option<Value>,
    refunded_minor: i64,
    refund_in_flight_minor: i64,
    request_fingerprint: String,
    flags: Vec<String>,
    version: i64,
    next_check_at: Option<DateTime<Utc>>,
    check_attempt: i32,
    reply_to: Option<String>,
    correlation_id: Option<String>,
    event_sequence: i64,
    auth_code: Option<String>,
    payer: Option<Value>,
    capture_mode: String,
    authorized_at: Option<DateTime<Utc>>,
    capture_requested_minor: Option<i64>,
    captured_minor: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StoredRow for Payment {
    const ENTITY: &'static str = "payment";
    const TABLE: &'static str = "payments";
    const NUMBER: &'static str = "merchant_order_no";
    const COLUMNS: &'static str = "id, merchant_id, merchant_order_no, provider, pay_method, order_type, \
         amount_minor, currency::text AS currency, state, subject, return_url, expires_at, metadata, provider_txn_id, \
         customer_action, refunded_minor, refund_in_flight_minor, request_fingerprint, flags, version, next_check_at, \
         check_attempt, reply_to, correlation_id, event_sequence, auth_code, payer, capture_mode, authorized_at, \
         capture_requested_minor, captured_minor, created_at, updated_at";
    type Row = Row;

    fn decode(r: Row) -> Result<Self, StoreError> {
        let column = Columns::of::<Payment>(r.id);
        let currency = column.parse("currency", Currency::parse(&r.currency))?;
        Ok(Payment {
            amount: column.parse("amount_minor", Money::from_minor(r.amount_minor, currency))?,
            refunded: column.parse("refunded_minor", Money::from_minor(r.refunded_minor, currency))?,
            refund_in_flight: column
                .parse("refund_in_flight_minor", Money::from_minor(r.refund_in_flight_minor, currency))?,
            state: column.parse("state", r.state.parse())?,
            merchant_id: column.parse("merchant_id", MerchantId::parse(&r.merchant_id))?,
            provider: column.parse("provider", ProviderName::parse(&r.provider))?,
            pay_method: column.parse("pay_method", PayMethod::parse(&r.pay_method))?,
            auth_code: r.auth_code.map(|c| column.parse("auth_code", AuthCode::parse(&c))).transpose()?,
            payer: r.payer.map(|p| column.parse("payer", serde_json::from_value(p))).transpose()?,
            capture_mode: column.parse("capture_mode", CaptureMode::parse(&r.capture_mode))?,
            authorized_at: r.authorized_at,
            capture_requested: r
                .capture_requested_minor
                .map(|m| column.parse("capture_requested_minor", Money::from_minor(m, currency)))
                .transpose()?,
            captured: r
                .captured_minor
                .map(|m| column.parse("captured_minor", Money::from_minor(m, currency)))
                .transpose()?,
            id: r.id,
            merchant_order_no: r.merchant_order_no,
            order_type: r.order_type,
            subject: r.subject,
            return_url: r.return_url,
            expires_at: r.expires_at,
            metadata: r.metadata,
            provider_txn_id: r.provider_txn_id,
            customer_action: r.customer_action,
            request_fingerprint: r.request_fingerprint,
            flags: r.flags,
            version: r.version,
            next_check_at: r.next_check_at,
            check_attempt: r.check_attempt,
            reply_to: r.reply_to,
            correlation_id: r.correlation_id,
            event_sequence: r.event_sequence,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The outcome of [`create`]: the new payment, or the one that already had the merchant's order
/// number.
pub type Created = created::Created<Payment>;

/// Creates the payment in state `created` with its first history row, or returns the one that
/// already has this (merchant, order number). Concurrent creations of the same order number
/// are settled by the unique constraint: exactly one is `New`.
pub async fn create(
    conn: &mut PgConnection,
    new: &NewPayment,
    cause: Option<Uuid>,
) -> Result<Created, StoreError> {
    create_announcing(conn, new, cause, &[]).await
}

/// [`create`], also putting `messages` in the outbox in the same statement if (and only if) the
/// payment is new: how ingest creates a payment and routes its dispatch in one round trip.
pub async fn create_announcing(
    conn: &mut PgConnection,
    new: &NewPayment,
    cause: Option<Uuid>,
    messages: &[outbox::Prepared],
) -> Result<Created, StoreError> {
    let sql = format!(
        "INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor,
                               currency, state, subject, return_url, expires_at, metadata, request_fingerprint,
                               reply_to, correlation_id, auth_code, payer, capture_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10, $11, $12, $13, $14, $15, $16, $17, $19)
         ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
         RETURNING {}",
        Payment::COLUMNS
    );
    // The payment and its first history row, in one statement.
    let messages_from = (!messages.is_empty()).then_some(20);
    let sql = history::with_first_row(&sql, "id", "NULL", PaymentState::Created.as_str(), 18, messages_from);
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.id)
        .bind(new.merchant_id.as_str())
        .bind(&new.merchant_order_no)
        .bind(new.provider.as_str())
        .bind(new.pay_method.as_str())
        .bind(&new.order_type)
        .bind(new.amount.minor_units())
        .bind(new.amount.currency().code())
        .bind(&new.subject)
        .bind(&new.return_url)
        .bind(new.expires_at)
        .bind(&new.metadata)
        .bind(&new.request_fingerprint)
        .bind(&new.reply_to)
        .bind(&new.correlation_id)
        .bind(new.auth_code.as_ref().map(AuthCode::expose))
        .bind(payer_json(new.payer.as_ref()))
        .bind(cause)
        .bind(new.capture_mode.as_str());
    if !messages.is_empty() {
        let (ids, exchanges, keys, bodies) = outbox::columns(messages);
        query = query.bind(ids).bind(exchanges).bind(keys).bind(bodies);
    }
    let inserted: Option<Row> = query.fetch_optional(&mut *conn).await?;
    stored_row::created(conn, inserted, new.merchant_id.as_str(), &new.merchant_order_no).await
}

/// A payment for [`create_many_announcing`]: the payment, the message that caused it, and the
/// message that announces it (queued only if it is new).
pub type Announced<'a> = (&'a NewPayment, Uuid, &'a outbox::Prepared);

/// [`create_announcing`] for many payments in one statement (ingest's batches): each new payment
/// gets its first history row and its message. Returns the ids of the payments that were new;
/// the others (their order number existed, or came earlier in `payments`) wrote nothing, and the
/// caller settles them one by one with [`create_announcing`], which tells a repeat from a
/// conflict.
pub async fn create_many_announcing(
    conn: &mut PgConnection,
    payments: &[Announced<'_>],
) -> Result<Vec<Uuid>, StoreError> {
    if payments.is_empty() {
        return Ok(Vec::new());
    }
    let news = || payments.iter().map(|(new, _, _)| *new);
    let (message_ids, exchanges, keys, bodies) = outbox::columns_of(payments.iter().map(|(_, _, m)| *m));
    let created: Vec<Uuid> = sqlx::query_scalar(
        "WITH input AS (
            SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::bigint[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
                                 $12::jsonb[], $13::text[], $14::uuid[], $19::text[], $20::text[], $21::text[],
                                 $22::jsonb[], $23::text[])
                WITH ORDINALITY AS i(id, merchant_id, merchant_order_no, provider, pay_method, order_type,
                                     amount_minor, currency, subject, return_url, expires_at, metadata,
                                     request_fingerprint, cause, reply_to, correlation_id, auth_code, payer,
                                     capture_mode, n)),
         created AS (
            INSERT INTO payments (id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor,
                                  currency, state, subject, return_url, expires_at, metadata, request_fingerprint,
                                  reply_to, correlation_id, auth_code, payer, capture_mode)
            SELECT id, merchant_id, merchant_order_no, provider, pay_method, order_type, amount_minor,
                   currency, 'created', subject, return_url, expires_at, metadata, request_fingerprint,
                   reply_to, correlation_id, auth_code, payer, capture_mode
              FROM input ORDER BY n
            ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING
            RETURNING id),
         recorded AS (
            INSERT INTO state_transitions
                (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
            SELECT i.id, NULL, 'payment', NULL, 'created', 'created', 0, i.cause, '{}'::jsonb
              FROM input i JOIN created c ON c.id = i.id ORDER BY i.n),
         queued AS (
            INSERT INTO outbox (message_id, exchange, routing_key, envelope)
            SELECT m.message_id, m.exchange, m.routing_key, m.envelope
              FROM UNNEST($15::uuid[], $16::text[], $17::text[], $18::text[]::jsonb[], $1::uuid[])
                   WITH ORDINALITY AS m(message_id, exchange, routing_key, envelope, payment_id, n)
              JOIN created c ON c.id = m.payment_id ORDER BY m.n)
         SELECT id FROM created",
    )
    .bind(news().map(|p| p.id).collect::<Vec<_>>())
    .bind(news().map(|p| p.merchant_id.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.merchant_order_no.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.provider.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.pay_method.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.order_type.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.amount.minor_units()).collect::<Vec<_>>())
    .bind(news().map(|p| p.amount.currency().code()).collect::<Vec<_>>())
    .bind(news().map(|p| p.subject.as_str()).collect::<Vec<_>>())
    .bind(news().map(|p| p.return_url.as_deref()).collect::<Vec<_>>())
    .bind(news().map(|p| p.expires_at).collect::<Vec<_>>())
    .bind(news().map(|p| p.metadata.clone()).collect::<Vec<_>>())
    .bind(news().map(|p| p.request_fingerprint.as_str()).collect::<Vec<_>>())
    .bind(payments.iter().map(|(_, cause, _)| *cause).collect::<Vec<_>>())
    .bind(message_ids)
    .bind(exchanges)
    .bind(keys)
    .bind(bodies)
    .bind(news().map(|p| p.reply_to.as_deref()).collect::<Vec<_>>())
    .bind(news().map(|p| p.correlation_id.as_deref()).collect::<Vec<_>>())
    .bind(news().map(|p| p.auth_code.as_ref().map(AuthCode::expose)).collect::<Vec<_>>())
    .bind(news().map(|p| payer_json(p.payer.as_ref())).collect::<Vec<_>>())
    .bind(news().map(|p| p.capture_mode.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    Ok(created)
}

/// The `payer` column's value: the payer as JSON (absent fields left out), or NULL.
fn payer_json(payer: Option<&Payer>) -> Option<Value> {
    payer.and_then(|p| serde_json::to_value(p).ok())
}

/// [`Payment::lock`](StoredRow::lock) for several payments in one statement, locked in the order
/// of their ids (so that two transactions locking overlapping sets cannot deadlock). Returns those
/// that exist, by id.
pub async fn lock_many(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Payment>, StoreError> {
    stored_row::all(conn, "WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE", ids).await
}

/// What [`transition`] did.
pub type Applied = applied::Applied<PaymentState>;

/// Moves `payment` (locked by the caller) by `event`, through the state machine: updates the
/// row under a version guard and appends the history row, in the caller's transaction. A refused
/// event changes nothing and returns [`StoreError::Refused`].
pub async fn transition(
    conn: &mut PgConnection,
    payment: &mut Payment,
    event: PaymentEvent,
    cause: Option<Uuid>,
    detail: Value,
) -> Result<Applied, StoreError> {
    let mut moved = payment.clone();
    let step = match advance(&mut moved, event, cause, detail, None, None) {
        Ok(Some(step)) => step,
        Ok(None) => return Ok(Applied::AlreadyApplied),
        Err(e) => return Err(StoreError::Refused(e)),
    };
    record(conn, &moved, std::slice::from_ref(&step)).await?;
    let applied = Applied::Moved { from: payment.state, to: moved.state, version: moved.version };
    *payment = moved;
    Ok(applied)
}

/// One step of a payment through the state machine, decided by [`advance`] and written by
/// [`record`].
pub type Step = TransitionRecord<'static>;

/// Moves `payment` by `event` in memory only, through the state machine: the new state and
/// version, and the provider's transaction id (only filling in an unknown one) and customer
/// action. Returns the step to [`record`], `None` for a repeat (nothing changes), or the
/// machine's refusal (nothing changes). A piece of work can take several steps and record them
/// together, in one statement.
pub fn advance(
    payment: &mut Payment,
    event: PaymentEvent,
    cause: Option<Uuid>,
    detail: Value,
    provider_txn_id: Option<&str>,
    customer_action: Option<&Value>,
) -> Result<Option<Step>, TransitionError> {
    let to = match machine::transition(payment.state, event) {
        Ok(to) => to,
        Err(e) if e.is_already_applied() => return Ok(None),
        Err(e) => return Err(e),
    };
    let step = TransitionRecord {
        payment_id: payment.id,
        refund_id: None,
        from_state: Some(payment.state.as_str()),
        to_state: to.as_str(),
        event: event.as_str(),
        version: payment.version + 1,
        cause_message_id: cause,
        detail,
    };
    if payment.provider_txn_id.is_none() {
        payment.provider_txn_id = provider_txn_id.map(str::to_owned);
    }
    if let Some(action) = customer_action {
        payment.customer_action = Some(action.clone());
    }
    payment.state = to;
    payment.version = step.version;
    Ok(Some(step))
}

/// Writes `steps` (consecutive, from [`advance`]) and brings the stored payment to `payment`'s
/// state, version, transaction id and customer action: one statement, under the guard that the
/// stored version is still the one before the first step. A failed guard (the row changed
/// although the caller holds its lock) is [`StoreError::Concurrent`], and nothing is written.
pub async fn record(conn: &mut PgConnection, payment: &Payment, steps: &[Step]) -> Result<(), StoreError> {
    record_announcing(conn, payment, steps, &[]).await
}

/// [`record`], also putting `messages` (the events telling of the change) in the outbox in the
/// same statement, if the steps are written.
pub async fn record_announcing(
    conn: &mut PgConnection,
    payment: &Payment,
    steps: &[Step],
    messages: &[outbox::Prepared],
) -> Result<(), StoreError> {
    let Some(first) = steps.first() else {
        // No step to write: the messages go in with the payment's event sequence.
        return announce(conn, payment, messages).await;
    };
    debug_assert_eq!(steps.last().map(|s| s.version), Some(payment.version));
    let table = Versioned::Payments {
        provider_txn_id: payment.provider_txn_id.as_deref(),
        customer_action: payment.customer_action.as_ref(),
        event_sequence: payment.event_sequence,
    };
    if !history::record_transitions(conn, table, payment.id, steps, messages).await? {
        return Err(StoreError::Concurrent { id: payment.id, expected: first.version - 1 });
    }
    Ok(())
}

/// Puts `messages` (events about the payment, numbered up to `payment.event_sequence`) in the
/// outbox and stores the payment's event sequence, in one statement, in the caller's transaction
/// (which holds the payment's lock). Nothing else of the payment changes.
pub async fn announce(
    conn: &mut PgConnection,
    payment: &Payment,
    messages: &[outbox::Prepared],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "WITH numbered AS (UPDATE payments SET event_sequence = $1 WHERE id = $2 RETURNING 1), {}
         SELECT 1",
        outbox::queued_cte("numbered", 3)
    );
    let (ids, exchanges, keys, bodies) = outbox::columns(messages);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(payment.event_sequence)
        .bind(payment.id)
        .bind(ids)
        .bind(exchanges)
        .bind(keys)
        .bind(bodies)
        .execute(conn)
        .await?;
    Ok(())
}

/// A payment's work for [`record_many_announcing`]: the payment as it now is, the steps it took
/// (consecutive, from [`advance`]; at least one) and the messages telling of them.
pub struct Recorded<'a> {
    pub payment: &'a Payment,
    pub steps: &'a [Step],
    pub messages: &'a [outbox::Prepared],
}

/// [`record_announcing`] for the work of many payments in one statement (the dispatcher's
/// batches), each under its own version guard. If any guard fails, it is
/// [`StoreError::Concurrent`] and the caller must roll back: the statement may have written the
/// others.
pub async fn record_many_announcing(
    conn: &mut PgConnection,
    work: &[Recorded<'_>],
) -> Result<(), StoreError> {
    let rows = work.iter().map(|w| {
        let first = w.steps.first().map_or(w.payment.version, |s| s.version);
        (w.payment, first - 1)
    });
    let steps = || work.iter().flat_map(|w| w.steps);
    let message_payments: Vec<Uuid> =
        work.iter().flat_map(|w| w.messages.iter().map(|_| w.payment.id)).collect();
    let (message_ids, exchanges, keys, bodies) = outbox::columns_of(work.iter().flat_map(|w| w.messages));
    let written: Vec<Uuid> = sqlx::query_scalar(
        "WITH input AS (
            SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[],
                                 $19::bigint[])
                AS i(id, from_version, state, version, provider_txn_id, customer_action, event_sequence)),
         moved AS (
            UPDATE payments p SET state = i.state, version = i.version, event_sequence = i.event_sequence,
                   provider_txn_id = COALESCE(p.provider_txn_id, i.provider_txn_id),
                   customer_action = COALESCE(i.customer_action, p.customer_action)
              FROM input i
             -- `p.id = ANY($1)` finds the rows through the primary key whatever the planner
             -- thinks of the table (without it, a table it believes small is scanned whole).
             WHERE p.id = ANY($1::uuid[]) AND p.id = i.id AND p.version = i.from_version
            RETURNING p.id),
         queued AS (
            INSERT INTO outbox (message_id, exchange, routing_key, envelope)
            SELECT m.message_id, m.exchange, m.routing_key, m.envelope
              FROM UNNEST($7::uuid[], $8::text[], $9::text[], $10::text[]::jsonb[], $11::uuid[])
                   WITH ORDINALITY AS m(message_id, exchange, routing_key, envelope, payment_id, n)
              JOIN moved ON moved.id = m.payment_id ORDER BY m.n)
         INSERT INTO state_transitions
             (payment_id, refund_id, entity, from_state, to_state, event, version, cause_message_id, detail)
         SELECT h.payment_id, NULL, 'payment', h.from_state, h.to_state, h.event, h.version, h.cause_message_id,
                h.detail
           FROM UNNEST($12::uuid[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::uuid[], $18::jsonb[])
                WITH ORDINALITY AS h(payment_id, from_state, to_state, event, version, cause_message_id, detail, n)
           JOIN moved ON moved.id = h.payment_id
          ORDER BY h.n
         RETURNING payment_id",
    )
    .bind(rows.clone().map(|(p, _)| p.id).collect::<Vec<_>>())
    .bind(rows.clone().map(|(_, from)| from).collect::<Vec<_>>())
    .bind(rows.clone().map(|(p, _)| p.state.as_str()).collect::<Vec<_>>())
    .bind(rows.clone().map(|(p, _)| p.version).collect::<Vec<_>>())
    .bind(rows.clone().map(|(p, _)| p.provider_txn_id.as_deref()).collect::<Vec<_>>())
    .bind(rows.clone().map(|(p, _)| p.customer_action.clone()).collect::<Vec<_>>())
    .bind(message_ids)
    .bind(exchanges)
    .bind(keys)
    .bind(bodies)
    .bind(&message_payments)
    .bind(steps().map(|s| s.payment_id).collect::<Vec<_>>())
    .bind(steps().map(|s| s.from_state).collect::<Vec<_>>())
    .bind(steps().map(|s| s.to_state).collect::<Vec<_>>())
    .bind(steps().map(|s| s.event).collect::<Vec<_>>())
    .bind(steps().map(|s| s.version).collect::<Vec<_>>())
    .bind(steps().map(|s| s.cause_message_id).collect::<Vec<_>>())
    .bind(steps().map(|s| s.detail.clone()).collect::<Vec<_>>())
    .bind(rows.clone().map(|(p, _)| p.event_sequence).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let written: HashSet<Uuid> = written.into_iter().collect();
    match rows.clone().find(|(p, _)| !written.contains(&p.id)) {
        Some((payment, from)) => Err(StoreError::Concurrent { id: payment.id, expected: from }),
        None => Ok(()),
    }
}

/// Records what the provider told us about the payment besides its state: its transaction id and
/// what the customer must do. Only fills in: a known transaction id is never replaced by another
/// (two ids for one order is a discrepancy for reconciliation, not an update).
pub async fn record_provider_facts(
    conn: &mut PgConnection,
    payment: &mut Payment,
    provider_txn_id: Option<&str>,
    customer_action: Option<&Value>,
) -> Result<(), StoreError> {
    let txn = payment.provider_txn_id.as_deref().or(provider_txn_id).map(str::to_owned);
    let action = customer_action.cloned().or_else(|| payment.customer_action.clone());
    sqlx::query("UPDATE payments SET provider_txn_id = $2, customer_action = $3 WHERE id = $1")
        .bind(payment.id)
        .bind(&txn)
        .bind(&action)
        .execute(conn)
        .await?;
    payment.provider_txn_id = txn;
    payment.customer_action = action;
    Ok(())
}

/// Records the capture about to be sent (its attempt: from here it may have reached the
/// provider), in the caller's transaction under the payment's lock. A redelivered capture sends
/// this amount again.
pub async fn record_capture_request(
    conn: &mut PgConnection,
    payment: &mut Payment,
    amount: Money,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET capture_requested_minor = $2 WHERE id = $1")
        .bind(payment.id)
        .bind(amount.minor_units())
        .execute(conn)
        .await?;
    payment.capture_requested = Some(amount);
    Ok(())
}

/// Forgets the capture committed before it was sent, once the provider said it did not happen
/// (the payment is `authorized` again): a new capture may be asked for.
pub async fn forget_capture_request(
    conn: &mut PgConnection,
    payment: &mut Payment,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET capture_requested_minor = NULL WHERE id = $1")
        .bind(payment.id)
        .execute(conn)
        .await?;
    payment.capture_requested = None;
    Ok(())
}

/// Records what the provider captured of a manual-capture payment, once: the amount refunds
/// and bills apply to from now on.
pub async fn record_captured(
    conn: &mut PgConnection,
    payment: &mut Payment,
    amount: Money,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE payments SET captured_minor = $2 WHERE id = $1 AND captured_minor IS NULL")
        .bind(payment.id)
        .bind(amount.minor_units())
        .execute(conn)
        .await?;
    payment.captured.get_or_insert(amount);
    Ok(())
}

/// Adds `flag` (e.g. `paid_after_close`) to the payment's flags, once. Flags are facts worth
/// telling that are not states; the events carry them.
pub async fn add_flag(conn: &mut PgConnection, payment: &mut Payment, flag: &str) -> Result<(), StoreError> {
    if payment.flags.iter().any(|f| f == flag) {
        return Ok(());
    }
    sqlx::query("UPDATE payments SET flags = array_append(flags, $2) WHERE id = $1")
        .bind(payment.id)
        .bind(flag)
        .execute(conn)
        .await?;
    payment.flags.push(flag.to_owned());
    Ok(())
}
