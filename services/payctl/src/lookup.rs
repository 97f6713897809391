//! Finding the payment or refund an operator names: by its id (a UUID), or by the merchant's own
//! number with `--merchant`. A reference that finds nothing is an error naming what was looked for.

use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use paygate::store::refunds::Refund;
use sqlx::PgConnection;
use uuid::Uuid;

/// The payment `reference` names: a payment id, or with `merchant` that merchant's order number.
pub async fn payment(
    conn: &mut PgConnection,
    reference: &str,
    merchant: Option<&str>,
) -> anyhow::Result<Payment> {
    let found = match (Uuid::parse_str(reference), merchant) {
        (_, Some(merchant)) => Payment::find_by_number(conn, merchant, reference).await?,
        (Ok(id), None) => Payment::get(conn, id).await?,
        (Err(_), None) => anyhow::bail!(
            "payment: {reference:?} is not a payment id (a UUID); to look up a merchant order number, add --merchant"
        ),
    };
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "payment: no payment {reference}{}",
            merchant.map(|m| format!(" for merchant {m}")).unwrap_or_default()
        )
    })
}

/// The refund `reference` names: a refund id, or with `merchant` that merchant's refund number.
pub async fn refund(
    conn: &mut PgConnection,
    reference: &str,
    merchant: Option<&str>,
) -> anyhow::Result<Refund> {
    let found = match (Uuid::parse_str(reference), merchant) {
        (_, Some(merchant)) => Refund::find_by_number(conn, merchant, reference).await?,
        (Ok(id), None) => Refund::get(conn, id).await?,
        (Err(_), None) => anyhow::bail!(
            "refund: {reference:?} is not a refund id (a UUID); to look up a merchant refund number, add --merchant"
        ),
    };
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "refund: no refund {reference}{}",
            merchant.map(|m| format!(" for merchant {m}")).unwrap_or_default()
        )
    })
}
