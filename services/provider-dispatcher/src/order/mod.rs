//! One order while one message is applied to it: the payment, locked for the transaction; the
//! provider's adapter; and the few moves every kind of work makes. A state change goes through the
//! state machine and is recorded (`store::payments::advance` and `record`); what the provider said
//! is checked against the order before it moves anything; and the order's new state is told to
//! upstream once, when the work is done.
//!
//! The steps a piece of work takes (say `created → pending → succeeded` for one answer) are
//! written together: the row's update and all their history rows in one statement, when the work
//! ends or before anything else touches the database ([`Order::db`] is the only way to the
//! transaction, and it writes them first). Same transaction, same history, fewer round trips.
//!
//! In a batch (the dispatcher's `handle_batch`), the orders of several messages share one
//! transaction (each order is made `deferrable`) and work at the same time: an order that needs
//! the transaction takes it for the rest of its work (the others wait for it there), and an order
//! that never needed it (the usual pay: a provider call, then steps and one event) leaves its
//! write to [`Order::finish`]'s caller, which writes every such order's work in one statement.
//!
//! - this file: the order and what it remembers while the work runs;
//! - `tx.rs`: the transaction, the steps written and the event told ([`Order::db`],
//!   [`Order::finish`]);
//! - `moves.rs`: a transition through the state machine, a raise for a person, follow-up queries;
//! - `facts.rs`: what the provider said about the payment, applied;
//! - `capture.rs`: what a manual-capture payment's move writes besides its state;
//! - `provider.rs`: the order at its provider (trade number, notify URL, bulkhead pass);
//! - `error.rs`: why a piece of work could not be applied.

mod capture;
mod error;
mod facts;
mod moves;
mod provider;
mod tx;

pub use error::WorkError;
pub use tx::{Db, Unwritten};

use crate::deps::Deps;
use paygate::broker::envelope::Envelope;
use paygate::providers::ProviderAdapter;
use paygate::store::payments::{self, Payment};
use serde_json::Value;
use sqlx::PgConnection;
use std::sync::Arc;

/// The order a message is being applied to. See the module documentation.
pub struct Order<'a> {
    /// The transaction: reach it through [`Order::db`], which writes the steps taken.
    conn: &'a mut PgConnection,
    /// Whether the steps and events may be left to the caller (a batch) when the work never
    /// needed the transaction on the way ([`Order::finish`]).
    deferrable: bool,
    /// Whether the work has used the transaction.
    touched: bool,
    pub payment: Payment,
    /// Steps the payment has taken in memory and not yet written (see the module documentation).
    unwritten: Vec<payments::Step>,
    pub adapter: Arc<dyn ProviderAdapter>,
    pub deps: &'a Deps,
    pub cause: &'a Envelope<Value>,
    /// The payment's version when the work began: the work tells upstream if it moved.
    start_version: i64,
    /// The payment's event sequence when the work began: whether the work told upstream anything.
    start_sequence: i64,
    /// Why the last transition happened, for the event.
    reason: Option<String>,
}

impl<'a> Order<'a> {
    /// The order `payment` (locked in `conn`'s transaction) for the work `cause` asks for. With
    /// `deferrable`, steps and events the work never needed to write on the way are left to the
    /// caller ([`Order::finish`]).
    pub fn new(
        conn: &'a mut PgConnection,
        payment: Payment,
        adapter: Arc<dyn ProviderAdapter>,
        deps: &'a Deps,
        cause: &'a Envelope<Value>,
        deferrable: bool,
    ) -> Self {
        let start_version = payment.version;
        let start_sequence = payment.event_sequence;
        Self {
            conn,
            deferrable,
            touched: false,
            payment,
            adapter,
            deps,
            cause,
            start_version,
            start_sequence,
            reason: None,
            unwritten: Vec::new(),
        }
    }

    /// Counts the work's events from `version` instead of the payment's version now: the version
    /// before the work's preparation moved it (the attempt it committed before calling).
    pub fn since(mut self, version: i64) -> Self {
        self.start_version = version;
        self
    }

    /// Whether the work has told upstream nothing so far, and will not when it finishes: the
    /// payment did not move and no event was written.
    pub fn told_nothing(&self) -> bool {
        self.payment.version == self.start_version && self.payment.event_sequence == self.start_sequence
    }

    /// Sets the reason the event will carry.
    pub fn because(&mut self, reason: impl Into<String>) {
        self.reason = Some(reason.into());
    }
}
