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
//! transaction ([`Conn::Shared`]) and work at the same time: an order that needs the transaction
//! takes it for the rest of its work (the others wait for it there), and an order that never
//! needed it (the usual pay: a provider call, then steps and one event) leaves its write to
//! [`Order::finish`]'s caller, which writes every such order's work in one statement.

use crate::bulkhead::{Pass, Refusal};
use crate::dispatcher::Deps;
use crate::events;
use crate::followup::{self, FollowUp, FollowUpError};
use paygate::broker::consumer::HandlerError;
use paygate::broker::envelope::Envelope;
use paygate::broker::outbox::{self, OutboxError};
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::providers::adapter::trade_no;
use paygate::providers::{MappedCode, PaymentFacts, PaymentStatus, ProviderAdapter};
use paygate::state_machine::{PaymentEvent, PaymentState, payment as machine};
use paygate::store::attention::{self, Raise};
use paygate::store::exchanges;
use paygate::store::payments::{self, Payment, StoreError};
use paygate::store::policies;
use paygate::store::refunds::{self, NewRefund};
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::sync::Arc;
use uuid::Uuid;

/// The flag on a payment that the provider reports paid after we closed or expired it (and the
/// needs-attention kind when no policy refunds it).
pub const PAID_AFTER_CLOSE: &str = "paid_after_close";
/// The flag on a payment whose expiry close found it paid: the customer paid at the last
/// moment, the payment wins, and an operator can see it was a near thing.
pub const PAID_AT_EXPIRY: &str = "paid_at_expiry";
/// Who requests the refund of a payment paid after close, when the merchant's policy does.
pub const AUTO_REFUND_REQUESTER: &str = "paygate";

/// Why a piece of work could not be applied. Database and broker trouble is transient (the
/// message is retried; nothing committed); a corrupt row or a broken invariant is permanent.
/// Every variant keeps its cause as its `source`, so that the consumer sees a `sqlx::Error` in
/// the chain and holds the message while the database cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("the order's store failed")]
    Store(#[source] StoreError),
    #[error("the outbox failed")]
    Outbox(#[from] OutboxError),
    #[error("scheduling the follow-up failed")]
    FollowUp(#[from] FollowUpError),
    #[error("recording the provider exchange failed")]
    ExchangeLog(#[source] crate::exchange_log::LogError),
    #[error("{0}")]
    Invariant(String),
}

impl From<StoreError> for WorkError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for WorkError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(e))
    }
}

impl From<WorkError> for HandlerError {
    fn from(e: WorkError) -> Self {
        let transient = matches!(
            &e,
            WorkError::Store(StoreError::Database(_))
                | WorkError::ExchangeLog(_)
                | WorkError::Outbox(OutboxError::Db(_))
                | WorkError::FollowUp(FollowUpError::Database(_) | FollowUpError::Outbox(OutboxError::Db(_)))
        );
        if transient { HandlerError::transient(e) } else { HandlerError::permanent(e) }
    }
}

/// An order's work not yet written, left by [`Order::finish`] for the batch to write with the
/// others (`payments::record_many_announcing`).
pub struct Unwritten {
    pub payment: Payment,
    pub steps: Vec<payments::Step>,
    pub messages: Vec<outbox::Prepared>,
}

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

    /// Whether the work has told upstream nothing so far, and will not when it finishes: the
    /// payment did not move and no event was written.
    pub fn told_nothing(&self) -> bool {
        self.payment.version == self.start_version && self.payment.event_sequence == self.start_sequence
    }

    /// Leave from the provider's bulkhead to call it now, or why not (`bulkhead`).
    pub fn pass(&self) -> Result<Pass, Refusal> {
        self.deps.bulkheads.enter(self.adapter.name())
    }

    /// How much longer the provider's "no such trade" is not to be believed: our last pay request
    /// for this payment went out less than the provider's
    /// [`not_found_is_final_after`](ProviderAdapter::not_found_is_final_after) ago (`None`: it may
    /// be believed). Without a logged pay request the payment's creation counts.
    pub async fn not_found_too_soon(&mut self) -> Result<Option<std::time::Duration>, WorkError> {
        let (id, created_at) = (self.payment.id, self.payment.created_at);
        let last_sent = exchanges::last_sent(self.db().await?.conn, id, None, "pay").await?;
        let age = (chrono::Utc::now() - last_sent.unwrap_or(created_at)).to_std().unwrap_or_default();
        Ok(self.adapter.not_found_is_final_after().checked_sub(age).filter(|wait| !wait.is_zero()))
    }

    /// Our trade number for this payment at the provider.
    pub fn trade_no(&self) -> String {
        trade_no(self.payment.id)
    }

    /// Where the provider should notify us about this payment, if notifications are configured.
    pub fn notify_url(&self) -> Option<String> {
        let base = self.deps.notify_base_url.as_deref()?;
        Some(format!("{}/notify/{}/{}", base.trim_end_matches('/'), self.payment.provider, self.trade_no()))
    }

    /// Moves the payment by `event` if the state machine allows it, recording the transition.
    /// A repeat is a no-op. An event the machine refuses is a contradiction between what we know
    /// and what we were told: nothing moves, and the order goes on the needs-attention list.
    /// Returns whether the payment moved.
    pub async fn transition(&mut self, event: PaymentEvent, detail: Value) -> Result<bool, WorkError> {
        self.transition_recording(event, detail, (None, None)).await
    }

    /// [`Order::transition`], recording in the same statement the provider's transaction id and
    /// the customer's action, when the payment moves.
    async fn transition_recording(
        &mut self,
        event: PaymentEvent,
        detail: Value,
        (provider_txn_id, customer_action): (Option<&str>, Option<&Value>),
    ) -> Result<bool, WorkError> {
        match machine::transition(self.payment.state, event) {
            Ok(_) => {
                let cause = Some(self.cause.message_id);
                let step = payments::advance(
                    &mut self.payment,
                    event,
                    cause,
                    detail,
                    provider_txn_id,
                    customer_action,
                )
                .map_err(StoreError::Refused)?;
                self.unwritten.extend(step);
                Ok(true)
            }
            Err(e) if e.is_already_applied() => Ok(false),
            Err(e) => {
                tracing::warn!(payment_id = %self.payment.id, error = %e, "contradicting answer; needs a person");
                self.raise(
                    "contradicting_provider_answer",
                    json!({"refused": e.to_string(), "detail": detail}),
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Puts the payment (or one of its refunds) on the needs-attention list.
    pub async fn raise(&mut self, kind: &str, detail: Value) -> Result<(), WorkError> {
        self.raise_for(None, kind, detail).await
    }

    pub async fn raise_for(
        &mut self,
        refund_id: Option<Uuid>,
        kind: &str,
        detail: Value,
    ) -> Result<(), WorkError> {
        let payment_id = self.payment.id;
        if attention::raise(self.db().await?.conn, &Raise { payment_id, refund_id, kind, detail }).await? {
            self.deps.metrics.attention(kind);
        }
        Ok(())
    }

    /// Schedules the next follow-up query for the payment or one of its refunds on the retry
    /// ladder; past the last tier the order goes on the needs-attention list instead.
    pub async fn schedule_query(
        &mut self,
        refund_id: Option<Uuid>,
        reason: QueryReason,
    ) -> Result<(), WorkError> {
        let attempt = self.cause.attempt.saturating_add(1);
        let (deps, cause, payment_id) = (self.deps, self.cause, self.payment.id);
        let conn = self.db().await?.conn;
        let done =
            followup::schedule_query(conn, &deps.topology, payment_id, refund_id, reason, attempt, cause)
                .await?;
        if let FollowUp::NeedsAttention { attempts } = done {
            tracing::warn!(payment_id = %self.payment.id, ?refund_id, attempts, "unresolved after the last retry tier");
            self.deps.metrics.attention(followup::UNRESOLVED);
        }
        Ok(())
    }

    /// Sets the reason the event will carry.
    pub fn because(&mut self, reason: impl Into<String>) {
        self.reason = Some(reason.into());
    }

    /// Applies what the provider said about the payment: first checks it is about this payment
    /// (the amount and currency must match ours), records the provider's transaction id and the
    /// customer's action, then moves the state. A success after we closed or expired the order
    /// is recorded as paid after close. [`PaymentStatus::NotFound`] moves nothing here: what it
    /// means depends on the call, so the caller decides.
    pub async fn apply_facts(&mut self, facts: &PaymentFacts, code: &MappedCode) -> Result<(), WorkError> {
        if let Some(amount) = facts.amount
            && amount != self.payment.amount
        {
            tracing::warn!(payment_id = %self.payment.id, ours = %self.payment.amount, theirs = %amount, "amount mismatch");
            return self
                .raise(
                    "amount_mismatch",
                    json!({"ours": self.payment.amount, "provider": amount, "status": format!("{:?}", facts.status)}),
                )
                .await;
        }
        let action = facts.action.as_ref().map(|a| serde_json::to_value(a).unwrap_or(Value::Null));
        if let (Some(ours), Some(theirs)) = (&self.payment.provider_txn_id, &facts.provider_txn_id)
            && ours != theirs
        {
            self.raise("two_provider_transactions", json!({"known": ours, "reported": theirs})).await?;
        }
        let event = match facts.status {
            PaymentStatus::WaitingForCustomer => Some(PaymentEvent::ActionRequired),
            PaymentStatus::Processing => Some(PaymentEvent::ProviderProcessing),
            PaymentStatus::Succeeded => Some(PaymentEvent::ProviderSucceeded),
            PaymentStatus::Failed => Some(PaymentEvent::ProviderFailed),
            PaymentStatus::Closed => Some(PaymentEvent::Closed),
            PaymentStatus::Expired => Some(PaymentEvent::Expired),
            PaymentStatus::NotFound => None,
        };
        let moves = event.is_some_and(|e| machine::transition(self.payment.state, e).is_ok());
        let txn_changes = facts.provider_txn_id.is_some() && self.payment.provider_txn_id.is_none();
        let action_changes = action.is_some() && action != self.payment.customer_action;
        if !moves && (txn_changes || action_changes) {
            // Nothing moves, but the provider told us something new: record it on its own. (When
            // the payment moves, the transition's own statement records it.)
            let db = self.db().await?;
            payments::record_provider_facts(
                db.conn,
                db.payment,
                facts.provider_txn_id.as_deref(),
                action.as_ref(),
            )
            .await?;
        }
        let Some(event) = event else { return Ok(()) };
        let was = self.payment.state;
        let detail =
            json!({"code": code.unified, "provider_code": code.provider_code, "message": code.message});
        let facts_now = (facts.provider_txn_id.as_deref(), action.as_ref());
        if self.transition_recording(event, detail, facts_now).await? {
            self.because(code.describe());
            if event == PaymentEvent::ProviderSucceeded
                && matches!(was, PaymentState::Closed | PaymentState::Expired)
            {
                tracing::warn!(payment_id = %self.payment.id, was = %was, "paid after close");
                let db = self.db().await?;
                payments::add_flag(db.conn, db.payment, PAID_AFTER_CLOSE).await?;
                self.paid_after_close(was).await?;
            }
        }
        Ok(())
    }

    /// A payment paid after we closed or expired it: the event (flagged `paid_after_close`) lets
    /// upstream decide; the merchant's policy `auto_refund_paid_after_close` refunds it in full
    /// (refund number `auto-<payment id>`, requested by `paygate`, dispatched through the outbox
    /// in this transaction); without the policy a person is asked.
    async fn paid_after_close(&mut self, was: PaymentState) -> Result<(), WorkError> {
        let db = self.db().await?;
        let policy = policies::get(db.conn, &db.payment.merchant_id, db.payment.amount.currency()).await?;
        if !policy.auto_refund_paid_after_close {
            let detail = json!({"was": was, "amount": self.payment.amount});
            return self.raise(PAID_AFTER_CLOSE, detail).await;
        }
        let new = NewRefund {
            id: Uuid::now_v7(),
            payment_id: self.payment.id,
            merchant_id: self.payment.merchant_id.clone(),
            refund_no: format!("auto-{}", self.payment.id),
            amount: self.payment.amount,
            reason: Some(format!("paid after the payment was {was}: refunded by the merchant's policy")),
            requested_by: AUTO_REFUND_REQUESTER.to_owned(),
            request_fingerprint: "auto_refund_paid_after_close".to_owned(),
            // Its events go where the payment's go.
            reply_to: None,
            correlation_id: None,
        };
        let cause = Some(self.cause.message_id);
        let refund_id = match refunds::create(self.db().await?.conn, &new, cause).await? {
            refunds::Created::New(r) | refunds::Created::Existing(r) => r.id,
        };
        let work = OrderWork::DispatchRefund { payment_id: self.payment.id, refund_id };
        let key = self.payment.id.to_string();
        let envelope = Envelope::new(work.message_type(), key.clone(), work).caused_by(self.cause);
        let exchange = self.deps.topology.orders_exchange();
        outbox::enqueue(self.db().await?.conn, &exchange, &key, &envelope).await?;
        tracing::info!(payment_id = %self.payment.id, %refund_id, "paid after close: refunding by policy");
        Ok(())
    }

    /// Keeps asking the provider while the payment is not settled: the next query waits on the
    /// retry ladder. An UNKNOWN payment still unknown after the last tier goes on the
    /// needs-attention list; a payment waiting for its customer is left to the compensation
    /// scheduler once the ladder is done (it expires at the provider; that is not an incident).
    pub async fn follow_up(&mut self) -> Result<(), WorkError> {
        let attempt = self.cause.attempt.saturating_add(1);
        let reason = match self.payment.state {
            PaymentState::Unknown => QueryReason::OutcomeUnknown,
            PaymentState::Pending | PaymentState::ActionRequired => {
                if self.deps.topology.retry_tier_for_attempt(attempt).is_none() {
                    return Ok(());
                }
                QueryReason::StillProcessing
            }
            _ => return Ok(()),
        };
        self.schedule_query(None, reason).await
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

/// The order's transaction and payment, with every step taken written ([`Order::db`]).
pub struct Db<'o> {
    pub conn: &'o mut PgConnection,
    pub payment: &'o mut Payment,
}
