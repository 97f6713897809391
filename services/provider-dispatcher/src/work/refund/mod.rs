//! Refunds: `order.dispatch_refund`, `order.decide_refund` and `order.query` for a refund.
//!
//! Everything happens under the payment's row lock, so refunds of one payment are applied one at
//! a time whatever the concurrency upstream:
//! 1. **Reserve.** A new refund's amount is reserved from the payment's refundable balance
//!    (captured − refunded − in flight). A refund that no longer fits (another took the
//!    remainder first) is refused and never sent.
//! 2. **Approve.** When the payment's refunds would exceed the merchant's threshold (refunded +
//!    in flight, awaiting approval included, + this one: splitting a refund does not avoid the
//!    threshold) it waits for a person, who must not be the requester, compared as normalised
//!    identities ([`OperatorId`]; seed 003). A rejection releases the amount.
//! 3. **Send** with the refund's own trade number as the provider's idempotency key. The
//!    reservation and the move to `submitted` are committed before the request leaves (the
//!    plan), so a refund that may have reached the provider is never released without the
//!    provider's word. A dispatch or decision that finds its refund `submitted` (an earlier
//!    delivery committed the attempt and died) sends it again under the same key; a refusal of
//!    such a repeated call is not the outcome of the first: UNKNOWN, and a query decides. A
//!    provider whose refunds do not repeat safely (no idempotency key: LINE Pay) is never sent
//!    a refund again blind: the refund becomes UNKNOWN and only a query's proof that the provider
//!    has no record of it licenses one more send (`refunds.absence_proven`, taken in the
//!    transaction that commits the repeated attempt).
//! 4. **Follow.** Most providers refund asynchronously: a refund still processing, or whose call
//!    ended ambiguously, is queried on the retry ladder until it is final. A refund call the
//!    provider did not process (busy: 1145, 1198) moves the refund from `submitted` to `unknown`
//!    (`not_processed`), and so does a query finding no record of a `submitted` refund. An
//!    UNKNOWN refund the provider has no record of is sent again under the same key (the query
//!    decided, not a blind re-send), by a dispatch queued on its shard that keeps the ladder's
//!    rung: a provider that never processes it walks the refund up the ladder to the
//!    needs-attention list, never round a loop. Success settles the amount and moves the payment
//!    to partially refunded or refunded; failure releases it.
//!
//! - `locked.rs`: the refund being worked on, under the lock: its moves, its release, its event;
//! - `dispatch.rs`: a new refund reserved, then sent or left for approval (steps 1 to 3);
//! - `decide.rs`: a person's decision on a refund awaiting approval (step 2);
//! - `send.rs`: the refund call planned, sent again, and its end applied (step 3);
//! - `query.rs`: the refund followed: queries, notification claims (step 4);
//! - `facts.rs`: what the provider said about the refund, applied;
//! - `reversal.rs`: the full refund a provider made when it reversed a barcode payment, recorded.

mod decide;
mod dispatch;
mod facts;
mod locked;
mod query;
mod reversal;
mod send;

pub use decide::{decide, plan_decide};
pub use dispatch::{dispatch, plan_dispatch};
pub use query::{apply_claim, ask, plan_query, query};
pub use reversal::{REVERSAL_REQUESTER, refund_no as reversal_refund_no, reversed};
