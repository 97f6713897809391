//! compensation-scheduler: catches what fell through.
//!
//! It re-queries payments and refunds stuck without a final answer, closes expired orders, forwards provider notifications nobody decided to their orders again, and reconciles provider bills and settlements line by line.
//!
//! - [`scan`]: the stuck and expiry scans (claim with SKIP LOCKED, enqueue, reschedule: one
//!   transaction per batch);
//! - [`schedule`]: the per-provider stuck schedule (`STUCK_SCHEDULE`);
//! - [`runner`]: the poll loop; [`metrics`]: what it reports; [`backlogs`]: the outbox,
//!   needs-attention and reconciliation backlogs it measures for the alerts;
//! - [`retention`]: pruning published outbox rows and old inbox rows;
//! - [`undecided`]: forwarding stored notifications nobody decided to their orders again;
//! - [`callbacks`]: the signed merchant callbacks: events from the events exchange owed to the
//!   merchants' URLs, POSTed, retried on a schedule kept in PostgreSQL (docs/callbacks.md);
//! - [`recon`]: the daily reconciliation of every provider's bill and settlement, and the
//!   settling of proven discrepancies (the engine is the library's, [`paygate::recon`]).
//!
//! `main.rs` only wires: it parses [`configuration::Cli`] and hands it to
//! `paygate::runtime::entrypoint::main`, which builds [`startup::Application`] and runs it.

pub mod backlogs;
pub mod callbacks;
pub mod configuration;
pub mod metrics;
pub mod recon;
pub mod retention;
pub mod runner;
pub mod scan;
pub mod schedule;
pub mod startup;
pub mod undecided;
