//! `Idempotency-Key`: a write sent again with the same key gets the answer the first one got,
//! and nothing is done twice; the same key with another method, path or body is refused
//! (`409 idempotency_conflict`, naming the header). Kept in PostgreSQL (migration 0025), in the
//! transaction of the write's effect: the key, the request's fingerprint and the answer commit
//! with the payment or refund, or not at all (after zero-to-production's
//! idempotency/persistence.rs).
//!
//! A second request with a key whose first request has not committed yet waits on the first's
//! row (its primary key), then reads the answer.
//!
//! A request refused before the command ran (a body that is not JSON, a field that breaks its
//! rule) does not take its key: sent again corrected, with the same key, it runs. Once the
//! command ran, whatever it answered (accepted, a repeat, a refusal such as `not_found`) is the
//! key's answer. A key is kept for a day ([`KEEP_HOURS`]).

use super::response::Body;
use paygate::domain::ValidationError;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

/// The header.
pub const HEADER: &str = "Idempotency-Key";

/// A key's form: 1 to 255 printable ASCII characters.
pub fn parse_key(value: &str) -> Result<String, ValidationError> {
    let ok = (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ValidationError::new(
            "Idempotency-Key",
            "must be 1 to 255 printable ASCII characters without spaces",
        ))
    }
}

/// What identifies a request for its key: method, path and the body's SHA-256.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    format!("{method} {path} {}", hex::encode(Sha256::digest(body)))
}

/// What [`begin`] found.
pub enum Began {
    /// The key is new: the caller does the work, then [`save`]s the answer in the same transaction.
    New,
    /// The key was used by the same request before: its answer.
    Replay { status: u16, body: Body },
    /// The key was used by another request.
    Conflict,
}

/// Takes `key` for `merchant` in the caller's transaction, or finds what it was used for.
pub async fn begin(
    conn: &mut PgConnection,
    merchant: &str,
    key: &str,
    request_fingerprint: &str,
) -> Result<Began, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO api_idempotency (merchant_id, idempotency_key, request_fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(merchant)
    .bind(key)
    .bind(request_fingerprint)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Began::New);
    }
    let (fingerprint, status, body): (String, Option<i16>, Option<sqlx::types::Json<Body>>) = sqlx::query_as(
        "SELECT request_fingerprint, response_status, response_body FROM api_idempotency
         WHERE merchant_id = $1 AND idempotency_key = $2",
    )
    .bind(merchant)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    if fingerprint != request_fingerprint {
        return Ok(Began::Conflict);
    }
    match (status, body) {
        (Some(status), Some(body)) => {
            Ok(Began::Replay { status: u16::try_from(status).unwrap_or(500), body: body.0 })
        }
        // Not reachable: a row commits only with its answer (`save` runs before the commit).
        _ => Ok(Began::Conflict),
    }
}

/// Stores the answer of the request that took `key`, before its transaction commits.
pub async fn save(
    conn: &mut PgConnection,
    merchant: &str,
    key: &str,
    status: u16,
    body: &Body,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_idempotency SET response_status = $3, response_body = $4
         WHERE merchant_id = $1 AND idempotency_key = $2",
    )
    .bind(merchant)
    .bind(key)
    .bind(i16::try_from(status).unwrap_or(500))
    .bind(sqlx::types::Json(body))
    .execute(conn)
    .await?;
    Ok(())
}

/// How long a key is kept: a retry a day later runs again (the merchant's order and refund numbers
/// still make a repeated payment or refund the same one).
pub const KEEP_HOURS: i32 = 24;

/// Forgets the keys older than [`KEEP_HOURS`]; returns how many.
pub async fn forget_old(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM api_idempotency WHERE created_at < now() - make_interval(hours => $1)")
            .bind(KEEP_HOURS)
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_form_and_fingerprints_see_everything() {
        assert!(parse_key("order-1-attempt").is_ok());
        assert_eq!(parse_key("").unwrap_err().field(), "Idempotency-Key");
        assert!(parse_key("has space").is_err());
        assert!(parse_key(&"k".repeat(256)).is_err());
        let a = fingerprint("POST", "/v1/payments", b"{}");
        assert_ne!(a, fingerprint("POST", "/v1/refunds", b"{}"));
        assert_ne!(a, fingerprint("POST", "/v1/payments", b"{ }"));
    }
}
