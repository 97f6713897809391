//! Reading orders: one implementation of the reads every order table shares (by id, under the
//! row lock or not, by the merchant's number, by a filter), for any type stored in a table whose
//! row decodes into it ([`StoredRow`]: `Payment::lock(conn, id)`, `Refund::get(conn, id)`), and
//! the decoding of a row's columns into domain types, each failure naming its column
//! ([`Columns`]).

use super::created::Created;
use super::error::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres};
use std::fmt::Display;
use uuid::Uuid;

/// A type stored as one row of a table: what differs per table (its name, its columns, how a
/// row decodes), and the reads every order table shares, written once: [`StoredRow::get`],
/// [`StoredRow::lock`], [`StoredRow::find_by_number`].
pub trait StoredRow: Sized + Send {
    /// What one row is called in errors (`payment`).
    const ENTITY: &'static str;
    /// The table.
    const TABLE: &'static str;
    /// The column of the merchant's own number, unique per merchant (`merchant_order_no`).
    const NUMBER: &'static str;
    /// The select list that [`Self::Row`] reads.
    const COLUMNS: &'static str;
    /// The row as the database returns it.
    type Row: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin;

    /// Parses the row into the stored type.
    fn decode(row: Self::Row) -> Result<Self, StoreError>;

    /// The row with this id, if any (no lock).
    fn get(
        conn: &mut PgConnection,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        by_id(conn, id, Lock::No)
    }

    /// The row with this id, locked for the rest of the caller's transaction: `FOR NO KEY
    /// UPDATE`, not `FOR UPDATE`. It excludes every other writer of the row just the same, but
    /// not the key-share locks that inserts referencing the row take (a refund created by ingest,
    /// an exchange logged on its own connection while the dispatcher holds the payment's lock
    /// across the provider call), which `FOR UPDATE` would block — and, for the exchange log,
    /// deadlock against ourselves. The dispatcher applies each message under its payment's lock,
    /// and locks a refund only after its payment.
    fn lock(
        conn: &mut PgConnection,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        by_id(conn, id, Lock::NoKeyUpdate)
    }

    /// The row with this merchant's number (the payment's order number, the refund's refund
    /// number), if any (no lock).
    fn find_by_number(
        conn: &mut PgConnection,
        merchant_id: &str,
        number: &str,
    ) -> impl Future<Output = Result<Option<Self>, StoreError>> + Send {
        by_number(conn, merchant_id, number)
    }

    /// The rows with these (merchant, number) pairs that exist, in one query (no lock, no order).
    fn find_by_numbers(
        conn: &mut PgConnection,
        merchant_ids: &[String],
        numbers: &[String],
    ) -> impl Future<Output = Result<Vec<Self>, StoreError>> + Send {
        by_numbers(conn, merchant_ids, numbers)
    }
}

/// Whether a read locks the rows it finds for the rest of the caller's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    No,
    /// `FOR NO KEY UPDATE` (why not `FOR UPDATE`: [`StoredRow::lock`]).
    NoKeyUpdate,
}

impl Lock {
    fn clause(self) -> &'static str {
        match self {
            Lock::No => "",
            Lock::NoKeyUpdate => " FOR NO KEY UPDATE",
        }
    }
}

/// The row with this id, if any.
async fn by_id<T: StoredRow>(conn: &mut PgConnection, id: Uuid, lock: Lock) -> Result<Option<T>, StoreError> {
    let sql = format!("SELECT {} FROM {} WHERE id = $1{}", T::COLUMNS, T::TABLE, lock.clause());
    let row: Option<T::Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.map(T::decode).transpose()
}

/// The row with this merchant's number, if any (no lock).
async fn by_number<T: StoredRow>(
    conn: &mut PgConnection,
    merchant_id: &str,
    number: &str,
) -> Result<Option<T>, StoreError> {
    let sql =
        format!("SELECT {} FROM {} WHERE merchant_id = $1 AND {} = $2", T::COLUMNS, T::TABLE, T::NUMBER);
    let row: Option<T::Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(number).fetch_optional(conn).await?;
    row.map(T::decode).transpose()
}

/// The rows of these (merchant, number) pairs, `merchant_ids[i]` with `numbers[i]`.
async fn by_numbers<T: StoredRow>(
    conn: &mut PgConnection,
    merchant_ids: &[String],
    numbers: &[String],
) -> Result<Vec<T>, StoreError> {
    let sql = format!(
        "SELECT {} FROM {} WHERE (merchant_id, {}) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        T::COLUMNS,
        T::TABLE,
        T::NUMBER
    );
    let rows: Vec<T::Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_ids).bind(numbers).fetch_all(conn).await?;
    rows.into_iter().map(T::decode).collect()
}

/// Every row that `filter` (`WHERE …` and any `ORDER BY` or lock, with one parameter, `$1`)
/// finds.
pub(super) async fn all<'a, T, A>(conn: &mut PgConnection, filter: &str, arg: A) -> Result<Vec<T>, StoreError>
where
    T: StoredRow,
    A: 'a + sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres> + Send,
{
    let sql = format!("SELECT {} FROM {} {filter}", T::COLUMNS, T::TABLE);
    let rows: Vec<T::Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(arg).fetch_all(conn).await?;
    rows.into_iter().map(T::decode).collect()
}

/// What an insert that does nothing on the merchant's number (`ON CONFLICT … DO NOTHING
/// RETURNING …`) returned: its new row, or else the row that has the number. The row that won
/// a race is visible once its transaction committed: the insert waited for it on the unique
/// index.
pub(super) async fn created<T: StoredRow>(
    conn: &mut PgConnection,
    inserted: Option<T::Row>,
    merchant_id: &str,
    number: &str,
) -> Result<Created<T>, StoreError> {
    match inserted {
        Some(row) => Ok(Created::New(T::decode(row)?)),
        None => {
            let existing = by_number(conn, merchant_id, number).await?;
            existing.map(Created::Existing).ok_or(StoreError::Database(sqlx::Error::RowNotFound))
        }
    }
}

/// Decodes the columns of one stored row: a value that does not parse is
/// [`StoreError::Corrupt`], naming the row and the column.
pub(super) struct Columns {
    entity: &'static str,
    id: Uuid,
}

impl Columns {
    pub(super) fn of<T: StoredRow>(id: Uuid) -> Self {
        Self { entity: T::ENTITY, id }
    }

    /// `parsed`, the value of `column`, or the error naming it.
    pub(super) fn parse<V, E: Display>(
        &self,
        column: &'static str,
        parsed: Result<V, E>,
    ) -> Result<V, StoreError> {
        parsed.map_err(|e| StoreError::Corrupt {
            entity: self.entity,
            id: self.id,
            column,
            reason: e.to_string(),
        })
    }
}
