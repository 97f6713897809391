//! A payment's refund balance on its row: moving amounts between "refundable", "in flight"
//! (`payments.refund_in_flight_minor`) and "refunded" (`payments.refunded_minor`) as refunds are
//! reserved, released and settled.
//!
//! The arithmetic and its rules are [`PaymentBalance`]'s; these functions apply its answer to the
//! row in the caller's transaction. The caller holds the payment's row lock
//! ([`Payment::lock`](super::StoredRow::lock)); each update is also guarded on the payment's version and on the
//! counters it read, so a write that raced anyway fails with [`StoreError::Concurrent`] instead
//! of overwriting. The check `payments_refunds_within_amount` is the database's last line of
//! defence: no code path can make refunded + in flight exceed the amount.
//!
//! The payment's `version` is not bumped: it numbers the payment's state transitions (its
//! history), and a balance change is not one. The refund's own transition records it.

use super::error::StoreError;
use super::payments::Payment;
use crate::domain::Money;
use crate::state_machine::{BalanceError, PaymentBalance, PaymentEvent, PaymentState};
use sqlx::PgConnection;

/// Why a balance operation did not happen. Nothing was written in either case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The balance refuses it (more than refundable, more than in flight, another currency, zero).
    #[error(transparent)]
    Refused(#[from] BalanceError),
    /// Only a `succeeded` or `partially_refunded` payment can have a refund reserved (an
    /// authorised one has nothing captured yet: refunds apply to what was captured).
    #[error("payment: a refund needs a succeeded or partially refunded payment (this one is {state}){}", not_captured(.state))]
    NotRefundable { state: PaymentState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an authorised payment is not refundable, in words.
fn not_captured(state: &PaymentState) -> &'static str {
    if state.holds_an_authorisation() {
        ": its money is only authorised, not captured, and refunds apply to what was captured"
    } else {
        ""
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Store(StoreError::Database(e))
    }
}

/// The payment's balance as its row holds it. What was captured is what can be refunded: a
/// manual-capture payment's captured amount (nothing before its capture), any other's amount.
pub fn of(payment: &Payment) -> Result<PaymentBalance, BalanceError> {
    PaymentBalance::from_parts(payment.captured_amount(), payment.refunded, payment.refund_in_flight)
}

/// Reserves `amount` for a refund: in flight until it is released or settled. Refused when the
/// payment is not refundable or `amount` exceeds what is refundable right now.
pub async fn reserve(conn: &mut PgConnection, payment: &mut Payment, amount: Money) -> Result<(), Error> {
    if !payment.state.is_refundable() {
        return Err(Error::NotRefundable { state: payment.state });
    }
    let mut balance = of(payment)?;
    balance.reserve(amount)?;
    write(conn, payment, balance).await
}

/// Releases `amount` of a refund that failed or whose approval was rejected: refundable again.
pub async fn release(conn: &mut PgConnection, payment: &mut Payment, amount: Money) -> Result<(), Error> {
    let mut balance = of(payment)?;
    balance.release(amount)?;
    write(conn, payment, balance).await
}

/// Settles `amount` of a refund that succeeded: from in flight to refunded. Answers the payment
/// event that follows ([`PaymentEvent::RefundSucceededFull`] when nothing captured remains,
/// otherwise [`PaymentEvent::RefundSucceededPartial`]), which the caller applies with
/// [`super::payments::transition`] in the same transaction.
pub async fn settle(
    conn: &mut PgConnection,
    payment: &mut Payment,
    amount: Money,
) -> Result<PaymentEvent, Error> {
    let mut balance = of(payment)?;
    let event = balance.settle(amount)?;
    write(conn, payment, balance).await?;
    Ok(event)
}

async fn write(conn: &mut PgConnection, payment: &mut Payment, balance: PaymentBalance) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE payments SET refunded_minor = $5, refund_in_flight_minor = $6
          WHERE id = $1 AND version = $2 AND refunded_minor = $3 AND refund_in_flight_minor = $4",
    )
    .bind(payment.id)
    .bind(payment.version)
    .bind(payment.refunded.minor_units())
    .bind(payment.refund_in_flight.minor_units())
    .bind(balance.refunded().minor_units())
    .bind(balance.in_flight().minor_units())
    .execute(conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Concurrent { id: payment.id, expected: payment.version }.into());
    }
    payment.refunded = balance.refunded();
    payment.refund_in_flight = balance.in_flight();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_of_an_authorisation_is_refused_saying_nothing_was_captured() {
        let authorised = Error::NotRefundable { state: PaymentState::Authorized }.to_string();
        assert_eq!(
            authorised,
            "payment: a refund needs a succeeded or partially refunded payment (this one is authorized): its \
             money is only authorised, not captured, and refunds apply to what was captured"
        );
        let closed = Error::NotRefundable { state: PaymentState::Closed }.to_string();
        assert_eq!(
            closed,
            "payment: a refund needs a succeeded or partially refunded payment (this one is closed)"
        );
    }
}
