//! The notification inbox (`notifications`, migration 0008): every inbound provider notification,
//! raw, as received, with what became of it (docs/architecture.md, decisions 5 and 11).
//!
//! - notify-handler stores a verified notification with [`store_received`]: one statement that
//!   checks the order (and refund) exists and inserts, de-duplicated on the provider's
//!   notification id. A duplicate returns the first copy's row and status.
//! - notify-handler keeps a refused one with [`store_rejected`], status `rejected` and the reason.
//!   Its de-duplication key is a hash of the raw request (`rejected:<sha256>`), never the id the
//!   request claims: a forged request must not occupy a genuine notification's id.
//! - the dispatcher reads a row under lock ([`lock`]) and decides it ([`decide`]): `applied`,
//!   `ignored` (genuine, changes nothing) or `flagged` (genuine but contradicts the order).

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// What became of a notification. The strings are the table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Received,
    Rejected,
    Applied,
    Flagged,
    Ignored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Rejected => "rejected",
            Self::Applied => "applied",
            Self::Flagged => "flagged",
            Self::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" => Self::Received,
            "rejected" => Self::Rejected,
            "applied" => Self::Applied,
            "flagged" => Self::Flagged,
            "ignored" => Self::Ignored,
            _ => return None,
        })
    }
}

/// A verified notification to store.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub provider: &'a str,
    pub notification_id: &'a str,
    pub payment_id: Uuid,
    /// For refund notifications: the refund it names (it must belong to the payment).
    pub refund_id: Option<Uuid>,
    pub merchant_trade_no: &'a str,
    pub headers: &'a Value,
    pub body: &'a str,
}

/// What [`store_received`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row, status `received`.
    New { id: i64 },
    /// The provider sent this notification before: the first copy's row.
    Duplicate { id: i64, status: Status },
    /// No payment with this id: nothing was stored.
    UnknownOrder,
    /// The payment exists but has no such refund: nothing was stored.
    UnknownRefund,
}

/// Stores a verified notification. See the module documentation.
pub async fn store_received(conn: &mut PgConnection, n: &Received<'_>) -> Result<Stored, sqlx::Error> {
    let row: (Option<i64>, bool, bool) = sqlx::query_as(
        "WITH p AS (SELECT id FROM payments WHERE id = $3),
              r AS (SELECT id FROM refunds WHERE id = $4 AND payment_id = $3),
              ins AS (
                INSERT INTO notifications
                       (provider, provider_notification_id, payment_id, refund_id, merchant_trade_no, headers, body)
                SELECT $1, $2, p.id, r.id, $5, $6, $7 FROM p LEFT JOIN r ON true
                 WHERE $4::uuid IS NULL OR r.id IS NOT NULL
                ON CONFLICT (provider, provider_notification_id) DO NOTHING
                RETURNING id)
         SELECT (SELECT id FROM ins), EXISTS (SELECT 1 FROM p), EXISTS (SELECT 1 FROM r)",
    )
    .bind(n.provider)
    .bind(n.notification_id)
    .bind(n.payment_id)
    .bind(n.refund_id)
    .bind(n.merchant_trade_no)
    .bind(n.headers)
    .bind(n.body)
    .fetch_one(&mut *conn)
    .await?;
    match row {
        (Some(id), _, _) => Ok(Stored::New { id }),
        (None, false, _) => Ok(Stored::UnknownOrder),
        (None, true, false) if n.refund_id.is_some() => Ok(Stored::UnknownRefund),
        (None, true, _) => {
            // A conflict: the insert waited for the first copy to commit, so it is visible now.
            let (id, status): (i64, String) = sqlx::query_as(
                "SELECT id, status FROM notifications WHERE provider = $1 AND provider_notification_id = $2",
            )
            .bind(n.provider)
            .bind(n.notification_id)
            .fetch_one(conn)
            .await?;
            let status = Status::parse(&status).unwrap_or(Status::Received);
            Ok(Stored::Duplicate { id, status })
        }
    }
}

/// A refused request to keep.
#[derive(Debug, Clone)]
pub struct Rejected<'a> {
    pub provider: &'a str,
    /// The trade number the request named (path or body), if any; linked to the payment when
    /// one has this id.
    pub merchant_trade_no: Option<&'a str>,
    pub payment_id: Option<Uuid>,
    pub headers: &'a Value,
    pub body: &'a str,
    /// `<token>: <what was wrong>`.
    pub reason: &'a str,
}

/// The de-duplication key of a refused request: a hash of what was received, so that the same
/// forged request sent again is kept once, and no claimed id is trusted.
pub fn rejected_key(headers: &Value, body: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(headers.to_string().as_bytes());
    hash.update([0u8]);
    hash.update(body.as_bytes());
    format!("rejected:{}", hex::encode(hash.finalize()))
}

/// Keeps a refused request, status `rejected`, with its reason. Returns whether a row was added
/// (false: the identical request was kept before).
pub async fn store_rejected(conn: &mut PgConnection, r: &Rejected<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notifications
                (provider, provider_notification_id, payment_id, merchant_trade_no, headers, body, status,
                 reason, processed_at)
         VALUES ($1, $2, (SELECT id FROM payments WHERE id = $3), $4, $5, $6, 'rejected', $7, now())
         ON CONFLICT (provider, provider_notification_id) DO NOTHING",
    )
    .bind(r.provider)
    .bind(rejected_key(r.headers, r.body))
    .bind(r.payment_id)
    .bind(r.merchant_trade_no)
    .bind(r.headers)
    .bind(r.body)
    .bind(r.reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One inbox row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub provider: String,
    pub provider_notification_id: String,
    pub payment_id: Option<Uuid>,
    pub refund_id: Option<Uuid>,
    pub merchant_trade_no: Option<String>,
    pub headers: Value,
    pub body: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub status: String,
    pub reason: Option<String>,
    pub processed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Row {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Received)
    }
}

const COLUMNS: &str = "id, provider, provider_notification_id, payment_id, refund_id, merchant_trade_no, headers, \
     body, received_at, status, reason, processed_at";

/// The row, locked for the rest of the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await
}

/// Decides a `received` row: `applied` (reason optional), `ignored` or `flagged` (reason
/// required). Returns false if it was decided already.
pub async fn decide(
    conn: &mut PgConnection,
    id: i64,
    status: Status,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE notifications SET status = $2, reason = $3, processed_at = now()
          WHERE id = $1 AND status = 'received'",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every notification of a payment (and the refused ones that named it), oldest first.
pub async fn of_payment(conn: &mut PgConnection, payment_id: Uuid) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE payment_id = $1 ORDER BY id");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(payment_id).fetch_all(conn).await
}

/// Every row, oldest first (tests and operators' tools).
pub async fn all(conn: &mut PgConnection) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notifications ORDER BY id");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await
}
