//! The consumer's contract with the application: the message a handler sees ([`Delivered`]), what
//! it answers ([`Outcome`], [`Batched`], [`HandlerError`]), and the [`Handler`] trait with its
//! optional preparation stage ([`Preparing`]).

use std::future::Future;

use sqlx::{PgPool, Postgres, Transaction};

use crate::broker::envelope::{Envelope, EnvelopeError};

/// A message as the handler sees it.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The envelope; decode the payload with [`Delivered::payload`].
    pub envelope: Envelope<serde_json::Value>,
    /// The queue it was consumed from.
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
    /// The broker's redelivered flag: it was delivered before and not acknowledged.
    pub redelivered: bool,
    /// How often it was delivered before (quorum queues' `x-delivery-count`; 0 if absent).
    pub delivery_count: u32,
    /// The AMQP `content_type` property, if the publisher set one. The body is parsed as a JSON
    /// envelope whatever it says; a handler may refuse a message that claims another type.
    pub content_type: Option<String>,
}

impl Delivered {
    /// The payload as `T`; a payload that does not fit is a permanent error.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        Ok(self.envelope.decode_payload()?)
    }
}

/// What the handler decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the effect commits with the inbox row, and the message is acknowledged.
    Done,
    /// Not now: the handler's writes commit (without the inbox row, so the message counts as
    /// not handled) and the message is retried later.
    RetryLater { reason: String },
    /// Not now, for a reason outside this message (its provider's circuit is open, an earlier
    /// message of its order waits on the retry ladder): as `RetryLater`, but the retry spends no
    /// attempt, so being held never exhausts the ladder and dead-letters the message. For work
    /// that was not tried at all; what was tried and failed is `RetryLater`. `at_least` is how
    /// long the cause is expected to last (the circuit's remaining open time, how long the line
    /// has been stuck): the copy waits about that long, never less than its attempt's tier.
    /// `recorded`: the handler has already done, in the transaction that decided the hold, what
    /// [`Handler::retrying`] does (the dispatcher's preparation puts the work it holds in its
    /// order's retry line as it locks the order), so the consumer does not call `retrying`: a
    /// statement and a commit fewer for every message a long outage sends round the ladder.
    Hold { reason: String, at_least: std::time::Duration, recorded: bool },
    /// Never: the handler's writes commit (say, flagging a forged notification), without the
    /// inbox row, and the message goes to the DLQ with `reason`.
    Reject { reason: String },
}

/// A handler failed; the transaction is rolled back.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might work later (database or network trouble): the message is retried.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
    /// Will never work (a malformed payload, a violated invariant): the message is dead-lettered.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl HandlerError {
    pub fn transient(e: impl Into<anyhow::Error>) -> Self {
        Self::Transient(e.into())
    }
    pub fn permanent(e: impl Into<anyhow::Error>) -> Self {
        Self::Permanent(e.into())
    }
}

impl From<sqlx::Error> for HandlerError {
    /// Database errors count as transient: retrying is always safe, since nothing committed.
    fn from(e: sqlx::Error) -> Self {
        Self::Transient(e.into())
    }
}

impl From<EnvelopeError> for HandlerError {
    fn from(e: EnvelopeError) -> Self {
        Self::Permanent(e.into())
    }
}

/// The application's part: apply one message inside the given transaction. Emit messages with
/// [`outbox::enqueue`](super::outbox::enqueue) in the same transaction. Do not commit it.
///
/// A handler that must wait on the outside world (a payment provider) does that in
/// [`Handler::prepare`], before the transaction begins, so that nothing is held while it waits;
/// `handle` then applies what `prepare` learned ([`prepare`] has the rules).
pub trait Handler: Send + Sync + 'static {
    /// What [`Handler::prepare`] learned of one message, for `handle`: `()` for a handler that
    /// does all its work inside the transaction.
    type Prepared: Default + Send + Sync + 'static;

    /// Whether the handler has a [`Handler::prepare`] stage (the consumer then checks the inbox
    /// before preparing, so that a message handled before is never prepared again).
    const PREPARES: bool = false;

    /// Work on messages before their transaction begins, holding no transaction, row lock or
    /// pooled connection while it waits on the outside world. It may commit short transactions
    /// of its own on `pool`; each must stay right if the message is prepared again (a
    /// redelivery). Called only for messages not handled before, in delivery order (several at
    /// once when the consumer batches). It answers, for each message, the rest of its
    /// preparation ([`Preparing`]: a provider call, say), which the consumer awaits with the
    /// others and hands to `handle` as soon as it is done; an error fails them all (a database
    /// that cannot be reached holds the messages, as for `handle`). The default has nothing to
    /// prepare.
    fn prepare(
        &self,
        pool: &PgPool,
        msgs: &[&Delivered],
    ) -> impl Future<Output = Result<Vec<Preparing<Self::Prepared>>, HandlerError>> + Send {
        let _ = pool;
        let prepared: Vec<Preparing<Self::Prepared>> = msgs
            .iter()
            .map(|_| -> Preparing<Self::Prepared> {
                Box::pin(std::future::ready(Ok(Self::Prepared::default())))
            })
            .collect();
        async move { Ok(prepared) }
    }

    fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<Outcome, HandlerError>> + Send;

    /// Whether a message must be applied on its own, never in a batch: what its preparation
    /// found says its transaction differs from the others' (the dispatcher's work held by its
    /// provider's bulkhead, or waiting behind its order's retry line). The consumer applies such
    /// messages one by one and batches the rest, so one message that cannot share a transaction
    /// does not send every message it arrived with down the one-by-one path. The default: none.
    fn applies_alone(&self, prepared: &Self::Prepared) -> bool {
        let _ = prepared;
        false
    }

    /// The outcome a message's preparation has already decided, if it has: work its provider's
    /// bulkhead held, say, which was neither tried nor needs anything written. The consumer then
    /// settles the message as that outcome says without a transaction (a hold, a retry or a
    /// rejection that writes nothing has nothing to commit), sparing a commit for every message
    /// a full bulkhead or an open breaker sends round the ladder. `Done` cannot be decided so (it
    /// needs the inbox row of a transaction): such a message is applied as usual. A message with
    /// a decided outcome is never batched. The default: none.
    fn decided(&self, prepared: &Self::Prepared) -> Option<Outcome> {
        let _ = prepared;
        None
    }

    /// Applies several messages (of different order keys, in delivery order) inside one
    /// transaction, as if each had been [`handle`](Handler::handle)d and come out
    /// [`Outcome::Done`]; the consumer then commits them together with their inbox rows. Answer
    /// [`Batched::OneByOne`] (or fail) when that cannot be said of every message: the consumer
    /// rolls the transaction back and hands each message to `handle` on its own, with the same
    /// prepared value (nothing is prepared twice). The default always does that.
    fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &Self::Prepared)],
    ) -> impl Future<Output = Result<Batched, HandlerError>> + Send {
        let _ = (tx, msgs);
        async { Ok(Batched::OneByOne { reason: "the handler applies one message at a time".into() }) }
    }

    /// Called when a message is about to be retried later (its handler asked, or failed
    /// transiently and its transaction rolled back), before it leaves its place in the queue:
    /// while the consumer still holds its order key's turn and no transaction of its own. Messages
    /// of the same order that arrive meanwhile could overtake it; a handler that must keep an
    /// order's messages in order records here that this one is waiting (the dispatcher's retry
    /// line). Not called for a hold the handler has recorded itself (`Outcome::Hold`'s
    /// `recorded`). A database that cannot be reached holds the message, as for `handle`; another
    /// error is logged and the retry goes on. The default does nothing.
    fn retrying(
        &self,
        pool: &PgPool,
        msg: &Delivered,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pool, msg);
        async { Ok(()) }
    }

    /// Called before a message is dead-lettered (rejected, failed permanently, or out of
    /// retries), with no transaction of its own: a handler that keeps an order's messages in
    /// order records here that this one will not come back by itself (the dispatcher's retry
    /// line), so that the order's later messages follow it instead of waiting for it. Errors are
    /// logged; the dead-lettering goes on. The default does nothing.
    fn dead_lettering(
        &self,
        pool: &PgPool,
        msg: &Delivered,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (pool, msg);
        async { Ok(()) }
    }
}

/// The rest of one message's preparation ([`Handler::prepare`]), awaited without anything held:
/// what `handle` will need, or a failure like a handler's.
pub type Preparing<P> = std::pin::Pin<Box<dyn Future<Output = Result<P, HandlerError>> + Send + 'static>>;

/// What [`Handler::handle_batch`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batched {
    /// Every message is applied: commit them all.
    AllDone,
    /// Not as a batch: roll back, and apply each message on its own.
    OneByOne { reason: String },
}
