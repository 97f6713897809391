//! The hosted cashier's rows (migrations 0033, 0034 and 0036, docs/cashier.md): the methods each
//! merchant's cashier offers and the name it shows (set by payctl, read by ingest), and the
//! cashier sessions a create with `"cashier": true` opens (written and read by ingest's cashier).
//!
//! A session holds what the payment will be, without provider and pay method; choosing a method
//! ([`choose`]) is single-use and happens in the transaction that creates the payment.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The pay methods a cashier can offer: those a customer acts on in a browser.
pub const OFFERABLE: [&str; 4] = ["qr", "redirect", "form", "client_secret"];

/// One method a merchant's cashier offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CashierMethod {
    pub merchant_id: String,
    pub provider: String,
    pub pay_method: String,
    pub position: i32,
}

impl CashierMethod {
    /// `provider:pay_method`, the value the page's form sends.
    pub fn key(&self) -> String {
        format!("{}:{}", self.provider, self.pay_method)
    }
}

/// Replaces `merchant`'s methods of `provider` with `methods`, in that order, after the
/// merchant's other providers' methods. An empty list removes the provider from the cashier.
pub async fn set_methods(
    conn: &mut PgConnection,
    merchant: &str,
    provider: &str,
    methods: &[String],
) -> Result<Vec<CashierMethod>, sqlx::Error> {
    sqlx::query("DELETE FROM cashier_methods WHERE merchant_id = $1 AND provider = $2")
        .bind(merchant)
        .bind(provider)
        .execute(&mut *conn)
        .await?;
    let next: i32 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM cashier_methods WHERE merchant_id = $1",
    )
    .bind(merchant)
    .fetch_one(&mut *conn)
    .await?;
    for (i, method) in methods.iter().enumerate() {
        let position = next.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
        sqlx::query(
            "INSERT INTO cashier_methods (merchant_id, provider, pay_method, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(merchant)
        .bind(provider)
        .bind(method)
        .bind(position)
        .execute(&mut *conn)
        .await?;
    }
    methods_of(conn, Some(merchant)).await
}

/// The methods of `merchant` (or every merchant's), in the order the page shows them.
pub async fn methods_of(
    conn: &mut PgConnection,
    merchant: Option<&str>,
) -> Result<Vec<CashierMethod>, sqlx::Error> {
    sqlx::query_as(
        "SELECT merchant_id, provider, pay_method, position FROM cashier_methods \
         WHERE $1::text IS NULL OR merchant_id = $1 ORDER BY merchant_id, position, provider, pay_method",
    )
    .bind(merchant)
    .fetch_all(conn)
    .await
}

/// Sets (or, with `None`, removes) the name `merchant`'s cashier shows instead of its id.
pub async fn set_name(
    conn: &mut PgConnection,
    merchant: &str,
    name: Option<&crate::domain::MerchantName>,
) -> Result<(), sqlx::Error> {
    match name {
        Some(name) => sqlx::query(
            "INSERT INTO merchant_names (merchant_id, display_name) VALUES ($1, $2) \
             ON CONFLICT (merchant_id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now()",
        )
        .bind(merchant)
        .bind(name.as_str()),
        None => sqlx::query("DELETE FROM merchant_names WHERE merchant_id = $1").bind(merchant),
    }
    .execute(conn)
    .await?;
    Ok(())
}

/// The name `merchant`'s cashier shows, if one is set.
pub async fn name_of(conn: &mut PgConnection, merchant: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT display_name FROM merchant_names WHERE merchant_id = $1")
        .bind(merchant)
        .fetch_optional(conn)
        .await
}

/// A cashier session.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Session {
    pub id: Uuid,
    pub merchant_id: String,
    pub merchant_order_no: String,
    /// The pay command without `provider` and `pay_method` (and without `return_url`).
    pub pay_template: Value,
    pub request_fingerprint: String,
    /// The merchant's page the customer lands on once the payment is final.
    pub return_url: Option<String>,
    pub token_expires_at: DateTime<Utc>,
    pub chosen_provider: Option<String>,
    pub chosen_pay_method: Option<String>,
    pub chosen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A session to open.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub merchant_id: &'a str,
    pub merchant_order_no: &'a str,
    pub pay_template: &'a Value,
    pub request_fingerprint: &'a str,
    pub return_url: Option<&'a str>,
    pub token_expires_at: DateTime<Utc>,
}

/// What opening a session found.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    New(Session),
    /// A session for this order number existed already (the caller compares fingerprints).
    Existing(Session),
}

/// The columns of a [`Session`], as one literal for `concat!`.
macro_rules! columns {
    () => {
        "id, merchant_id, merchant_order_no, pay_template, request_fingerprint, return_url, \
         token_expires_at, chosen_provider, chosen_pay_method, chosen_at, created_at"
    };
}

/// Opens a session for the merchant's order number, or finds the one it has.
pub async fn open(conn: &mut PgConnection, new: &NewSession<'_>) -> Result<Opened, sqlx::Error> {
    let inserted: Option<Session> = sqlx::query_as(concat!(
        "INSERT INTO cashier_sessions (id, merchant_id, merchant_order_no, pay_template, request_fingerprint, \
         return_url, token_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (merchant_id, merchant_order_no) DO NOTHING RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(new.merchant_id)
    .bind(new.merchant_order_no)
    .bind(new.pay_template)
    .bind(new.request_fingerprint)
    .bind(new.return_url)
    .bind(new.token_expires_at)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(s) = inserted {
        return Ok(Opened::New(s));
    }
    match find_by_number(conn, new.merchant_id, new.merchant_order_no).await? {
        Some(s) => Ok(Opened::Existing(s)),
        None => Err(sqlx::Error::RowNotFound),
    }
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(concat!("SELECT ", columns!(), " FROM cashier_sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn find_by_number(
    conn: &mut PgConnection,
    merchant: &str,
    merchant_order_no: &str,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM cashier_sessions WHERE merchant_id = $1 AND merchant_order_no = $2"
    ))
    .bind(merchant)
    .bind(merchant_order_no)
    .fetch_optional(conn)
    .await
}

/// Takes the session's one choice, under its row lock: `true` when this call took it, `false`
/// when a method was chosen before (whichever).
pub async fn choose(
    conn: &mut PgConnection,
    id: Uuid,
    provider: &str,
    pay_method: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE cashier_sessions SET chosen_provider = $2, chosen_pay_method = $3, chosen_at = now() \
         WHERE id = $1 AND chosen_at IS NULL",
    )
    .bind(id)
    .bind(provider)
    .bind(pay_method)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
