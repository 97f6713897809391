//! The upstream HTTP API's per-merchant keys (migration 0024): created, listed, rotated and
//! revoked by payctl, looked up by ingest for every signed request.
//!
//! A key is an id (`pgk_` and 24 hex digits, public) and a secret (`pgsk_` and 64 hex digits:
//! 256 bits from the system's CSPRNG), shown once at creation. Only the secret's SHA-256 is
//! stored: it is also the key requests are signed with (HMAC-SHA256, docs/http-api.md), so the
//! secret cannot be read back from the database, while whoever reads the table can sign.
//! Random 256-bit secrets need no slow password hash: nothing smaller than the secret can be
//! guessed.

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

/// What payctl shows of a key (never its secret, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub merchant_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    /// When the key stopped (or stops) being accepted; `None` while it is.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key this one replaced, when it was made by a rotation.
    pub rotated_from: Option<String>,
}

impl ApiKey {
    /// Whether a request signed with it at `now` is accepted.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| at > now)
    }
}

/// A key just created: the only moment its secret exists outside the merchant's hands.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A key as ingest checks a request against it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKey {
    pub id: String,
    pub merchant_id: String,
    /// SHA-256 of the secret: the HMAC key.
    pub secret_sha256: Vec<u8>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The HMAC key a secret signs with: its SHA-256.
pub fn signing_key_of(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex(bytes: usize) -> Result<String, sqlx::Error> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| sqlx::Error::Protocol("the system's random number generator failed".into()))?;
    Ok(hex::encode(buf))
}

const COLUMNS: &str = "id, merchant_id, label, created_at, revoked_at, rotated_from";

/// Creates a key for `merchant_id` (replacing `rotated_from`, when given) and returns it with its
/// secret.
pub async fn create(
    conn: &mut PgConnection,
    merchant_id: &str,
    label: &str,
    rotated_from: Option<&str>,
) -> Result<CreatedKey, sqlx::Error> {
    let id = format!("pgk_{}", random_hex(12)?);
    let secret = format!("pgsk_{}", random_hex(32)?);
    let key: ApiKey = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, merchant_id, secret_sha256, label, rotated_from) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    )))
    .bind(&id)
    .bind(merchant_id)
    .bind(signing_key_of(&secret).as_slice())
    .bind(label)
    .bind(rotated_from)
    .fetch_one(conn)
    .await?;
    Ok(CreatedKey { key, secret })
}

/// Every key, or `merchant_id`'s, newest first. (The SQL strings are built only from
/// [`COLUMNS`], a constant: no input reaches them but as bound parameters.)
pub async fn list(conn: &mut PgConnection, merchant_id: Option<&str>) -> Result<Vec<ApiKey>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE $1::text IS NULL OR merchant_id = $1 ORDER BY created_at DESC, id"
    )))
    .bind(merchant_id)
    .fetch_all(conn)
    .await
}

/// One key, without its secret.
pub async fn get(conn: &mut PgConnection, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Revokes key `id` at `at` (now, or later to let a rotation overlap), unless it is already
/// revoked earlier. Returns the key as it is after, `None` if there is no such key.
pub async fn revoke(
    conn: &mut PgConnection,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_at = LEAST(coalesce(revoked_at, $2), $2) WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(at)
    .fetch_optional(conn)
    .await
}

/// A new key for the merchant of key `id`, which stops being accepted at `old_until` (now for a
/// clean cut, later to give the merchant time to switch). `None` if there is no such key.
pub async fn rotate(
    conn: &mut PgConnection,
    id: &str,
    old_until: DateTime<Utc>,
) -> Result<Option<CreatedKey>, sqlx::Error> {
    let Some(old) = revoke(&mut *conn, id, old_until).await? else {
        return Ok(None);
    };
    create(conn, &old.merchant_id, &old.label, Some(&old.id)).await.map(Some)
}

/// The key a request names, for checking its signature.
pub async fn signing_key(conn: &mut PgConnection, id: &str) -> Result<Option<SigningKey>, sqlx::Error> {
    sqlx::query_as("SELECT id, merchant_id, secret_sha256, revoked_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Records `nonce` for key `key_id` until `expires_at`. `false` when the key already used it: a
/// replay.
pub async fn use_nonce(
    conn: &mut PgConnection,
    key_id: &str,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO api_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(key_id)
    .bind(nonce)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Deletes the nonces whose request could no longer be accepted anyway; returns how many.
pub async fn forget_expired_nonces(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM api_nonces WHERE expires_at < now()").execute(conn).await?;
    Ok(done.rows_affected())
}
