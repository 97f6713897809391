//! The order's transaction: how the steps a piece of work takes reach the database. Steps are
//! kept in memory and written together (the row's update and all their history rows in one
//! statement) when the work ends, or before anything else touches the database: [`Order::db`] is
//! the only way to the transaction, and it writes them first. In a batch, an order that never
//! needed the transaction leaves its write to [`Order::finish`]'s caller ([`Unwritten`]).

use super::{Order, WorkError};
use crate::events;
use paygate::broker::outbox;
use paygate::store::payments::{self, Payment};
use sqlx::PgConnection;

/// An order's work not yet written, left by [`Order::finish`] for the batch to write with the
/// others (`payments::record_many_announcing`).
pub struct Unwritten {
    pub payment: Payment,
    pub steps: Vec<payments::Step>,
    pub messages: Vec<outbox::Prepared>,
}

/// The order's transaction and payment, with every step taken written ([`Order::db`]).
pub struct Db<'o> {
    pub conn: &'o mut PgConnection,
    pub payment: &'o mut Payment,
}

impl Order<'_> {
    /// The transaction and the payment, once every step taken so far is written: what any other
    /// read or write of the order must go through, so that it sees (and guards on) the stored
    /// state.
    pub async fn db(&mut self) -> Result<Db<'_>, WorkError> {
        self.touched = true;
        let conn = &mut *self.conn;
        if !self.unwritten.is_empty() {
            payments::record(conn, &self.payment, &self.unwritten).await?;
            self.unwritten.clear();
        }
        Ok(Db { conn, payment: &mut self.payment })
    }

    /// The steps the work took in memory and has not written, for the caller to write (a plan's
    /// attempts, written together for every order of a batch).
    pub fn into_unwritten(self) -> Option<Unwritten> {
        (!self.unwritten.is_empty()).then_some(Unwritten {
            payment: self.payment,
            steps: self.unwritten,
            messages: Vec::new(),
        })
    }

    /// Tells upstream the payment's state if the work moved it (one event per message handled,
    /// with an id stable per version): the event goes in the outbox in the same statement that
    /// writes the steps taken. An order sharing a batch's transaction that never took it returns
    /// that write instead, for the batch to make ([`Unwritten`]).
    pub async fn finish(mut self) -> Result<Option<Unwritten>, WorkError> {
        if self.payment.version == self.start_version {
            debug_assert!(self.unwritten.is_empty(), "every step moves the version");
            return Ok(None);
        }
        let event = events::payment_event(&self.payment, self.reason.take());
        let messages =
            events::messages(&self.deps.topology, (&mut self.payment, None), event, self.cause, None)?;
        if self.deferrable && !self.touched {
            return Ok(Some(Unwritten { payment: self.payment, steps: self.unwritten, messages }));
        }
        payments::record_announcing(self.conn, &self.payment, &self.unwritten, &messages).await?;
        Ok(None)
    }
}
