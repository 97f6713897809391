//! Reconciliation (docs/architecture.md, decision 12; seeds 001 and 003): compare a provider's trade
//! bill or settlement of one day with our payments and refunds, record every difference, prove
//! what a query can prove, and leave the rest to a person.
//!
//! The engine is library code because two binaries run it: compensation-scheduler (its daily run
//! and the settling of proven discrepancies, in that service's `recon` module) and `payctl recon
//! run|resolve`. The benchmark (`paygate-e2e`'s `recon-bench`) feeds it a bill from a file.
//!
//! The flow of one batch ([`engine::run`]), per (provider, day, kind):
//!
//! 1. **Batch.** `recon_batches` has one row per (provider, day, kind); a re-run reuses it and
//!    holds a PostgreSQL advisory lock on it for the run, so two runs never interleave.
//! 2. **Load** ([`load`]). The adapter streams the file ([`crate::providers::bill`]); lines are
//!    COPYed into `recon_lines` in chunks of [`load::CHUNK_LINES`], each chunk committed with the
//!    batch's cursor. A run that dies resumes after the last committed chunk: the first
//!    `lines_loaded` lines of the new download are skipped. Memory holds one chunk.
//! 3. **Match** ([`matching`]). Set-based SQL over the loaded lines joined to `payments` and
//!    `refunds` on our ids (the trade numbers) and on the provider's transaction ids: every kind
//!    of discrepancy is one `INSERT … SELECT … ON CONFLICT DO NOTHING`, so a re-run adds only
//!    what is new. The database does the join; our process streams.
//! 4. **Window.** Our rows that no bill of the provider has listed wait `window_days` (default
//!    3): a row that completed on day X is "missing at the provider" when the bill of X + window
//!    has been reconciled and still no line of any bill matched it. Until then it is counted as
//!    waiting.
//! 5. **Prove** ([`proofs`]). A discrepancy a query can prove (our payment or refund still
//!    unsettled, the provider's line says the money moved: a lost notification) gets an
//!    `order.query` with reason `reconciliation`, enqueued in the outbox in the same transaction
//!    that marks it, on the order's shard: the dispatcher, the only writer of an order's state,
//!    asks the provider and applies the answer. [`proofs::settle_proven`] (run by
//!    compensation-scheduler every few seconds, and at the end of every batch) marks a
//!    discrepancy `auto_resolved` once our record agrees with the line, with the dispatcher's
//!    transition as the proof.
//! 6. **State.** `matched` when nothing was found, `discrepancies` otherwise, `failed` (with the
//!    error, cursor kept) when the run failed.
//!
//! A provider without bills (LINE Pay) is reconciled by a **query sweep** ([`sweep`], kind
//! [`Kind::Sweep`]): the lines are the provider's answers to a query of each payment and refund we
//! finished that day, and the same matching finds the same kinds of discrepancy.

pub mod args;
pub mod engine;
pub mod load;
pub mod matching;
pub mod proofs;
pub mod sweep;

use chrono::NaiveDate;

/// What is reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The trade bill: every payment and refund completed that day.
    Trade,
    /// The settlement of that day's transactions (T+1): the money, then each transaction.
    Settlement,
    /// For a provider without bills: every payment and refund we finished that day, queried one
    /// by one ([`sweep`]). The lines are what the provider answered.
    Sweep,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Trade => "trade",
            Kind::Settlement => "settlement",
            Kind::Sweep => "sweep",
        }
    }

    /// Whether the lines state the provider's fee: a query does not, so a sweep's lines are not
    /// checked for it.
    pub fn states_fees(self) -> bool {
        self != Kind::Sweep
    }

    /// What the scheduler reconciles every day for a provider: its trade bill and settlement
    /// where it offers them, a query sweep where it does not.
    pub fn daily(offers_bills: bool) -> &'static [Kind] {
        if offers_bills { &[Kind::Trade, Kind::Settlement] } else { &[Kind::Sweep] }
    }
}

/// How to reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconConfig {
    /// Days our unmatched rows wait for a bill line before they are missing at the provider.
    pub window_days: u32,
    /// The provider's fee, in parts per million of a payment's amount (rounded half up).
    pub fee_ppm: u32,
    /// A query sweep's pace: at most this many queries a second to the provider (at least 1).
    pub sweep_per_second: u32,
}

impl ReconConfig {
    /// These settings for `provider`: with the fee agreed with it where it has its own
    /// (`PAYGATE_PROVIDER_<NAME>_RECON_FEE_PPM`), this `fee_ppm` (`RECON_FEE_PPM`) otherwise.
    pub fn for_provider(self, providers: &crate::providers::ProviderRegistry, provider: &str) -> Self {
        Self { fee_ppm: providers.fee_ppm(provider).unwrap_or(self.fee_ppm), ..self }
    }
}

impl Default for ReconConfig {
    fn default() -> Self {
        Self { window_days: 3, fee_ppm: 6_000, sweep_per_second: 10 }
    }
}

/// What a run reports as it goes (payctl shows a progress bar; the scheduler logs).
pub trait Progress: Send + Sync {
    /// A new phase began: `downloading`, `matching`, `proving`.
    fn phase(&self, name: &str);
    /// `total` lines are loaded so far.
    fn lines(&self, total: u64);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: &str) {}
    fn lines(&self, _: u64) {}
}

/// The request of one run.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub provider: &'a str,
    pub day: NaiveDate,
    pub kind: Kind,
    pub config: ReconConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_with_its_own_fee_is_reconciled_at_it_the_others_at_the_default() {
        let providers = crate::providers::ProviderRegistry::new().with_fee_ppm("stripe", 29_000);
        let config = ReconConfig { window_days: 2, fee_ppm: 6_000, sweep_per_second: 3 };
        assert_eq!(
            config.for_provider(&providers, "stripe"),
            ReconConfig { window_days: 2, fee_ppm: 29_000, sweep_per_second: 3 }
        );
        assert_eq!(config.for_provider(&providers, "alipay"), config);
    }

    #[test]
    fn a_provider_without_bills_is_swept_and_only_bills_state_fees() {
        assert_eq!(Kind::daily(true), &[Kind::Trade, Kind::Settlement]);
        assert_eq!(Kind::daily(false), &[Kind::Sweep]);
        assert!(Kind::Trade.states_fees() && Kind::Settlement.states_fees());
        assert!(!Kind::Sweep.states_fees());
    }
}
