//! Merchant callbacks (migration 0031, docs/callbacks.md): the endpoints a merchant registers with
//! `payctl callback add`, and the deliveries owed to them as payctl reads and re-sends them.
//! compensation-scheduler's `callbacks` module owes the deliveries (from the events exchange) and
//! sends them.
//!
//! An endpoint is an id (`cbe_` and 24 hex digits), a URL, filters (order types, event kinds;
//! none: every one) and a signing secret (`whsec_` and 64 hex digits: 256 bits from the system's
//! CSPRNG), shown once when the endpoint is added. The secret is stored as it is: paygate signs
//! every delivery with it, so it must hold the key (the migration says why a hash would protect
//! nothing). Deliveries are signed HMAC-SHA256 with the secret's bytes as the key.

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::ValidationError;
use crate::state_machine::{PaymentState, RefundState};

/// An endpoint as payctl shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Endpoint {
    pub id: String,
    pub merchant_id: String,
    pub url: String,
    /// Empty: every order type.
    pub order_types: Vec<String>,
    /// Empty: every event kind.
    pub event_kinds: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

/// An endpoint just added: the only time its secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct AddedEndpoint {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// What a merchant asks for when adding an endpoint; checked by [`NewEndpoint::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    pub merchant_id: String,
    pub url: String,
    pub order_types: Vec<String>,
    pub event_kinds: Vec<String>,
}

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

impl NewEndpoint {
    /// Refuses what cannot be delivered to, naming the field and the rule: a URL that is not an
    /// absolute `http://` or `https://` URL with a host (no credentials, no fragment), an event
    /// kind paygate never sends, an order type that is not one.
    pub fn check(&self) -> Result<(), ValidationError> {
        check_url(&self.url)?;
        for kind in &self.event_kinds {
            check_event_kind(kind)?;
        }
        for order_type in &self.order_types {
            check_order_type(order_type)?;
        }
        Ok(())
    }
}

/// `url`: an absolute http(s) URL with a host, without user info or fragment.
pub fn check_url(url: &str) -> Result<(), ValidationError> {
    let rule = |why: &str| ValidationError::new("url", format!("{why} (got {})", crate::domain::quote(url)));
    if url.len() > MAX_URL_LEN {
        return Err(ValidationError::new("url", format!("must be at most {MAX_URL_LEN} characters")));
    }
    let parsed = reqwest::Url::parse(url).map_err(|_| rule("must be an absolute http:// or https:// URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(rule("must be an http:// or https:// URL: no other scheme is delivered to"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(rule("must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(rule("must not carry credentials: deliveries are authenticated by their signature"));
    }
    if parsed.fragment().is_some() {
        return Err(rule("must not have a #fragment"));
    }
    Ok(())
}

/// Every event kind a callback can carry: `payment.<state>`, `payment.captured` and
/// `refund.<state>` (docs/messages.md, Events).
pub fn event_kinds() -> Vec<String> {
    let payments = PaymentState::ALL.iter().map(|s| format!("payment.{}", s.as_str()));
    let refunds = RefundState::ALL.iter().map(|s| format!("refund.{}", s.as_str()));
    payments.chain(std::iter::once("payment.captured".to_owned())).chain(refunds).collect()
}

/// `event`: one of [`event_kinds`].
pub fn check_event_kind(kind: &str) -> Result<(), ValidationError> {
    let kinds = event_kinds();
    if kinds.iter().any(|k| k == kind) {
        return Ok(());
    }
    Err(ValidationError::new(
        "event",
        format!("must be one of {} (got {})", kinds.join(", "), crate::domain::quote(kind)),
    ))
}

/// `order_type`: 1 to 32 characters of `a-z 0-9 _`, as in the pay command.
pub fn check_order_type(order_type: &str) -> Result<(), ValidationError> {
    let ok = (1..=32).contains(&order_type.len())
        && order_type.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        return Ok(());
    }
    Err(ValidationError::new(
        "order_type",
        format!("must be 1 to 32 characters of a-z 0-9 _ (got {})", crate::domain::quote(order_type)),
    ))
}

fn random_hex(bytes: usize) -> Result<String, sqlx::Error> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| sqlx::Error::Protocol("the system's random number generator failed".into()))?;
    Ok(hex::encode(buf))
}

const ENDPOINT_COLUMNS: &str = "id, merchant_id, url, order_types, event_kinds, created_at, removed_at";

/// Adds an endpoint (already [checked](NewEndpoint::check)) with a fresh secret.
pub async fn add(conn: &mut PgConnection, new: &NewEndpoint) -> Result<AddedEndpoint, sqlx::Error> {
    let id = format!("cbe_{}", random_hex(12)?);
    let secret = format!("whsec_{}", random_hex(32)?);
    let mut kinds = new.event_kinds.clone();
    kinds.sort();
    kinds.dedup();
    let mut types = new.order_types.clone();
    types.sort();
    types.dedup();
    let endpoint: Endpoint = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO callback_endpoints (id, merchant_id, url, order_types, event_kinds, secret)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(&id)
    .bind(&new.merchant_id)
    .bind(&new.url)
    .bind(&types)
    .bind(&kinds)
    .bind(&secret)
    .fetch_one(conn)
    .await?;
    Ok(AddedEndpoint { endpoint, secret })
}

/// The endpoints, or `merchant_id`'s, oldest first; removed ones only with `with_removed`.
pub async fn list(
    conn: &mut PgConnection,
    merchant_id: Option<&str>,
    with_removed: bool,
) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM callback_endpoints
          WHERE ($1::text IS NULL OR merchant_id = $1) AND ($2 OR removed_at IS NULL)
          ORDER BY created_at, id"
    )))
    .bind(merchant_id)
    .bind(with_removed)
    .fetch_all(conn)
    .await
}

/// Removes endpoint `id`: no new delivery is owed to it, and those pending are not sent again
/// (they end `exhausted`: `payctl callback failed` still lists them, as a record; they cannot be
/// re-sent). Returns the endpoint, `None` if there is no such endpoint.
pub async fn remove(conn: &mut PgConnection, id: &str) -> Result<Option<Endpoint>, sqlx::Error> {
    // One statement: the endpoint and its pending deliveries end together.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH removed AS (
             UPDATE callback_endpoints SET removed_at = coalesce(removed_at, now()) WHERE id = $1
             RETURNING {ENDPOINT_COLUMNS}),
         ended AS (
             UPDATE callback_deliveries SET state = 'exhausted', next_attempt_at = NULL, finished_at = now()
              WHERE endpoint_id = $1 AND state = 'pending' AND EXISTS (SELECT 1 FROM removed))
         SELECT {ENDPOINT_COLUMNS} FROM removed"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The secret deliveries to endpoint `id` are signed with.
pub async fn secret(conn: &mut PgConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT secret FROM callback_endpoints WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A delivery as payctl lists it, with its last attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: String,
    pub merchant_id: String,
    pub url: String,
    pub message_id: Uuid,
    pub event_id: Uuid,
    pub kind: String,
    pub payment_id: Uuid,
    pub sequence: i64,
    /// `pending`, `succeeded` or `exhausted`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

const DELIVERY_SELECT: &str =
    "SELECT d.id, d.endpoint_id, e.merchant_id, e.url, d.message_id, d.event_id, d.kind,
        d.payment_id, d.sequence, d.state, d.attempts, d.next_attempt_at, d.created_at, d.finished_at,
        a.status AS last_status, a.error AS last_error
   FROM callback_deliveries d
   JOIN callback_endpoints e ON e.id = d.endpoint_id
   LEFT JOIN LATERAL (SELECT status, error FROM callback_attempts
                       WHERE delivery_id = d.id ORDER BY attempt DESC LIMIT 1) a ON true";

/// The deliveries that gave up (`exhausted`), or `merchant_id`'s, newest first, at most `limit`.
pub async fn exhausted(
    conn: &mut PgConnection,
    merchant_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY_SELECT}
          WHERE d.state = 'exhausted' AND ($1::text IS NULL OR e.merchant_id = $1)
          ORDER BY d.finished_at DESC, d.id DESC LIMIT $2"
    )))
    .bind(merchant_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One delivery.
pub async fn delivery(conn: &mut PgConnection, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY_SELECT} WHERE d.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i64,
    pub status: Option<i32>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// Every attempt of delivery `id`, first first.
pub async fn attempts(conn: &mut PgConnection, id: i64) -> Result<Vec<Attempt>, sqlx::Error> {
    sqlx::query_as(
        "SELECT attempt, started_at, latency_ms, status, response_excerpt, error
           FROM callback_attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Why a delivery could not be re-sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResendError {
    #[error("id: no callback delivery {0} (payctl callback failed lists them)")]
    NotFound(i64),
    #[error("id: delivery {id} is {state}; only an exhausted delivery is re-sent")]
    NotExhausted { id: i64, state: String },
    #[error("id: delivery {id}'s endpoint {endpoint} was removed; add it again to receive new events")]
    EndpointRemoved { id: i64, endpoint: String },
}

/// Puts an exhausted delivery back on the schedule from its start: sent again at once, then
/// retried on the schedule as a new one is. Returns it as it is after.
pub async fn resend(conn: &mut PgConnection, id: i64) -> Result<Result<Delivery, ResendError>, sqlx::Error> {
    let found: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT d.state, d.endpoint_id, e.removed_at IS NOT NULL
           FROM callback_deliveries d JOIN callback_endpoints e ON e.id = d.endpoint_id
          WHERE d.id = $1 FOR UPDATE OF d",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((state, endpoint, removed)) = found else {
        return Ok(Err(ResendError::NotFound(id)));
    };
    if state != "exhausted" {
        return Ok(Err(ResendError::NotExhausted { id, state }));
    }
    if removed {
        return Ok(Err(ResendError::EndpointRemoved { id, endpoint }));
    }
    sqlx::query(
        "UPDATE callback_deliveries SET state = 'pending', schedule_step = 0, next_attempt_at = now(),
                finished_at = NULL
          WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let after = delivery(conn, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(Ok(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_with_a_host_are_accepted() {
        for ok in ["https://shop.example/paygate/callbacks", "http://127.0.0.1:9000/cb?x=1"] {
            check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, says) in [
            ("ftp://shop.example/cb", "must be an http:// or https:// URL"),
            ("file:///etc/passwd", "must be an http:// or https:// URL"),
            ("shop.example/cb", "must be an absolute http:// or https:// URL"),
            ("https://user:pw@shop.example/cb", "must not carry credentials"),
            ("https://shop.example/cb#x", "must not have a #fragment"),
        ] {
            let e = check_url(bad).expect_err(bad);
            assert_eq!(e.field(), "url");
            assert!(e.rule().contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn event_kinds_are_the_events_paygate_sends() {
        check_event_kind("payment.succeeded").unwrap();
        check_event_kind("payment.captured").unwrap();
        check_event_kind("refund.succeeded").unwrap();
        let e = check_event_kind("payment.paid").expect_err("not a state");
        assert_eq!(e.field(), "event");
        assert!(e.rule().contains("payment.succeeded") && e.rule().contains("\"payment.paid\""), "{e}");
        assert_eq!(check_order_type("Retail").expect_err("upper case").field(), "order_type");
    }
}
