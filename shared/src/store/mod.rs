//! Persistence of orders: payments and refunds, and the one place their state changes.
//!
//! A state change is never an `UPDATE … SET state` written by hand: it goes through
//! [`payments::transition`] (and [`refunds::transition`]), which asks the state machine, updates
//! the row under a version guard, and appends the history row, in the caller's transaction and in
//! one statement. A caller that takes several steps in one piece of work asks the machine for
//! each ([`payments::advance`]) and writes them together ([`payments::record`]). So every change
//! passes the transition table and every change is recorded.
//!
//! Payments and refunds are read through one implementation ([`StoredRow`]: `Payment::lock`,
//! `Refund::get`, …), and every store module fails with the one [`StoreError`] ([`error`]).
//!
//! [`exchanges`] keeps the raw provider exchange log beside them, [`notifications`] the inbox
//! of raw inbound provider notifications, and [`recon`] reconciliation's batches, discrepancies
//! and the audit of their resolutions. [`api_keys`] holds the upstream HTTP API's merchant keys and
//! the nonces of their signed requests, and [`callbacks`] the merchants' callback endpoints and the
//! deliveries owed to them.

pub mod api_keys;
pub mod applied;
pub mod attention;
pub mod balance;
pub mod callbacks;
pub mod cashier;
pub mod created;
pub mod error;
pub mod exchanges;
pub mod history;
pub mod notifications;
pub mod payments;
pub mod policies;
pub mod recon;
pub mod refunds;
pub mod retry_line;
pub mod stored_row;

pub use error::StoreError;
pub use stored_row::StoredRow;
