//! The dispatcher's message handler: every piece of order work (`OrderWork`) arriving on a shard
//! is applied here in two steps, so that nothing is held while a provider thinks
//! (docs/architecture.md, "A provider call holds nothing"):
//!
//! 1. **Prepare** (the consumer's stage before the transaction, [`Handler::prepare`]): one short
//!    transaction locks the orders of the messages waiting, plans each one's work (`plan`), and
//!    commits the attempts of the calls that may move money (a pay sent is `pending`, a refund
//!    `submitted`, before the request leaves). The calls are then made with no transaction, lock
//!    or connection held, each through its provider's bulkhead (`bulkhead`), and each message
//!    goes on as soon as its own call is answered.
//! 2. **Apply** (the message's transaction, with its inbox row): the order is locked again and
//!    must still be at the version the plan left (nothing else writes an order: its messages
//!    are applied one at a time, and the version guard catches anything that would not be), and
//!    the work applies the answer through the state machine. Messages answered together are
//!    applied in one transaction, their steps and events written in one statement
//!    (`payments::record_many_announcing`); a batch that is not all `Done` rolls back and each
//!    message is applied on its own, with the answer it already has: no provider is asked twice.
//!
//! One file per kind of work lives in `work/`, with its plan beside what it does with the
//! answer; this file locks the orders and routes.

use crate::bulkhead::Refusal;
use crate::call::{Answered, Planned};
use crate::deps::Deps;
use crate::order::{Order, Unwritten, WorkError};
use crate::plan::{self, Plan};
use crate::work;
use paygate::broker::consumer::{Batched, Delivered, Handler, HandlerError, Outcome, Preparing};
use paygate::broker::trace_context::TraceContext;
use paygate::messages::orders::OrderWork;
use paygate::providers::adapter::{TradeRef, trade_no};
use paygate::state_machine::PaymentState;
use paygate::store::StoredRow;
use paygate::store::payments::{self, Payment};
use paygate::store::retry_line;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// The [`Handler`] for the order shards. Cheap to clone: one per shard consumer.
#[derive(Clone)]
pub struct Dispatcher {
    deps: Arc<Deps>,
}

impl Dispatcher {
    pub fn new(deps: Deps) -> Self {
        Self { deps: Arc::new(deps) }
    }
}

/// What the preparation of one message leaves for its transaction.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The payment's version before the plan, and after it (the attempt it committed): the
    /// work's events count from the first, and the answer applies only at the second.
    versions: Option<(i64, i64)>,
    /// The provider's answer, when the plan called.
    answered: Option<Answered>,
    /// Why the plan could not call now: the work waits on the retry ladder.
    held: Option<Refusal>,
    /// Where the message stands in its order's retry line.
    line: Line,
}

/// Where a message stands in its order's retry line (`store::retry_line`): the messages of an
/// order that went down the retry ladder, which later messages of the order must not overtake.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// The order has no message on the ladder.
    #[default]
    Empty,
    /// This message heads the line: it is applied now, and leaves the line when it is done.
    Head,
    /// Another message of the order (this one) is on the ladder before it: it waits there too
    /// (held, spending no retry), or, when that one was dead-lettered, follows it there.
    Behind(retry_line::Head),
}

impl Handler for Dispatcher {
    type Prepared = Prepared;
    const PREPARES: bool = true;

    async fn prepare(
        &self,
        pool: &PgPool,
        msgs: &[&Delivered],
    ) -> Result<Vec<Preparing<Prepared>>, HandlerError> {
        let works: Vec<Option<OrderWork>> = msgs.iter().map(|m| m.payload().ok()).collect();
        let ids: Vec<_> = works.iter().flatten().map(OrderWork::payment_id).collect();
        let mut tx = pool.begin().await?;
        let mut locked = lock_orders(&mut tx, &ids).await?;
        let heads = retry_line::heads(&mut tx, &ids).await.map_err(WorkError::from)?;
        let mut plans = Vec::with_capacity(msgs.len());
        let mut attempts: Vec<Unwritten> = Vec::new();
        // The work this preparation holds, put in its orders' retry lines in this transaction.
        let mut holding: Vec<retry_line::Joining> = Vec::new();
        for (msg, work) in msgs.iter().zip(&works) {
            // A message that is not order work, or names a payment or provider we do not have,
            // is the transaction's to reject.
            let order = work.as_ref().and_then(|w| {
                let payment = locked.remove(&w.payment_id())?;
                let adapter = self.deps.providers.get(payment.provider.as_str()).cloned()?;
                Some((w, payment, adapter))
            });
            let Some((work, payment, adapter)) = order else {
                plans.push((Prepared::default(), None));
                continue;
            };
            let joining = retry_line::Joining {
                payment_id: payment.id,
                message_id: msg.envelope.message_id,
                message_type: work.message_type(),
            };
            let line = match heads.get(&payment.id) {
                None => Line::Empty,
                Some(head) if head.message_id == msg.envelope.message_id => Line::Head,
                Some(head) => {
                    if !head.dead_lettered {
                        holding.push(joining);
                    }
                    plans.push((Prepared { line: Line::Behind(*head), ..Prepared::default() }, None));
                    continue;
                }
            };
            let (payment_id, currency, before) = (payment.id, payment.amount.currency(), payment.version);
            let trade = TradeRef {
                trade_no: trade_no(payment.id),
                amount: payment.amount,
                provider_txn_id: payment.provider_txn_id.clone(),
                pay_method: Some(payment.pay_method),
                capture: payment.capture_mode,
                may_complete: matches!(
                    payment.state,
                    PaymentState::Pending | PaymentState::ActionRequired | PaymentState::Unknown
                ),
            };
            let span = work_span(work, msg);
            // Under the message's own span when it is prepared alone; under the message that
            // asked for it when several are prepared as a batch (whose span is a trace of its
            // own): the plan and the provider call belong to the payment's trace.
            TraceContext::current().within(&msg.envelope.trace).set_parent_of(&span);
            let mut order = Order::new(&mut tx, payment, adapter.clone(), &self.deps, &msg.envelope, true);
            let planned = plan::plan(&mut order, work).instrument(span.clone()).await?;
            let after = order.payment.version;
            attempts.extend(order.into_unwritten());
            let versions = Some((before, after));
            plans.push(match planned {
                Plan::NoCall => (Prepared { versions, line, ..Prepared::default() }, None),
                Plan::Held(refusal) => {
                    holding.push(joining);
                    (Prepared { held: Some(refusal), line, ..Prepared::default() }, None)
                }
                Plan::Call(call, pass) => {
                    let planned = Planned { call, payment_id, currency, trade, adapter, pass };
                    (Prepared { versions, line, ..Prepared::default() }, Some((planned, span)))
                }
            });
        }
        write_all(&mut tx, &attempts).await?;
        retry_line::join_many(&mut tx, &holding).await.map_err(WorkError::from)?;
        tx.commit().await?;
        Ok(plans
            .into_iter()
            .map(|(prepared, call)| -> Preparing<Prepared> {
                let Some((call, span)) = call else { return Box::pin(std::future::ready(Ok(prepared))) };
                let deps = self.deps.clone();
                Box::pin(
                    async move {
                        let answered = call.make(&deps).await?;
                        Ok(Prepared { answered: Some(answered), ..prepared })
                    }
                    .instrument(span),
                )
            })
            .collect())
    }

    /// The head of its order's retry line is applied on its own: it leaves the line in its own
    /// transaction (`apply`). The messages it arrived with are still applied together.
    fn applies_alone(&self, prepared: &Prepared) -> bool {
        prepared.line == Line::Head
    }

    /// Work held by its provider's bulkhead, or behind its order's retry line, is settled without
    /// a transaction: it was not tried, and nothing of it is written. (Batched with the answers it
    /// arrived with, it would send them all one by one: a provider whose bulkhead is full or whose
    /// breaker is open would then cost every other provider's answers a transaction each.)
    fn decided(&self, prepared: &Prepared) -> Option<Outcome> {
        decided(prepared)
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        prepared: &Prepared,
    ) -> Result<Outcome, HandlerError> {
        let work: OrderWork = msg.payload()?;
        let span = work_span(&work, msg);
        self.apply(tx, msg, work, prepared).instrument(span).await
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &Prepared)],
    ) -> Result<Batched, HandlerError> {
        let mut works = Vec::with_capacity(msgs.len());
        for (msg, prepared) in msgs {
            match msg.payload::<OrderWork>() {
                Ok(_) if prepared.held.is_some() => return Ok(one_by_one("a provider is held")),
                Ok(_) if prepared.line != Line::Empty => {
                    return Ok(one_by_one("an order has messages on the retry ladder"));
                }
                Ok(work) => works.push(work),
                Err(_) => return Ok(one_by_one("a message is not order work")),
            }
        }
        let ids: Vec<_> = works.iter().map(OrderWork::payment_id).collect();
        let mut locked = lock_orders(tx, &ids).await?;
        let mut unwritten = Vec::with_capacity(msgs.len());
        for ((msg, prepared), work) in msgs.iter().zip(works) {
            let Some(payment) = locked.remove(&work.payment_id()) else {
                return Ok(one_by_one("a payment is missing"));
            };
            if moved_during_the_call(&payment, prepared).is_some() {
                return Ok(one_by_one("a payment moved during its provider call"));
            }
            let Some(adapter) = self.deps.providers.get(payment.provider.as_str()).cloned() else {
                return Ok(one_by_one("a provider is not configured"));
            };
            let span = work_span(&work, msg);
            // Each order's work is traced under the message that asked for it, as one by one.
            msg.envelope.trace.set_parent_of(&span);
            let since = prepared.versions.map_or(payment.version, |(before, _)| before);
            let order = Order::new(tx, payment, adapter, &self.deps, &msg.envelope, true).since(since);
            match run(order, work, prepared.answered.as_ref()).instrument(span).await? {
                (Outcome::Done, write) => unwritten.extend(write),
                (_, _) => return Ok(one_by_one("a message was not done")),
            }
        }
        write_all(tx, &unwritten).await?;
        Ok(Batched::AllDone)
    }

    /// A message going down the retry ladder joins its order's retry line, so that the order's
    /// later messages wait behind it rather than overtake it.
    async fn retrying(&self, pool: &PgPool, msg: &Delivered) -> Result<(), HandlerError> {
        let Ok(work) = msg.payload::<OrderWork>() else { return Ok(()) };
        let mut conn = pool.acquire().await?;
        let (payment_id, message_id) = (work.payment_id(), msg.envelope.message_id);
        if retry_line::join(&mut conn, payment_id, message_id, work.message_type()).await? {
            tracing::info!(%payment_id, %message_id, "joined the order's retry line: its later messages wait behind it");
        }
        Ok(())
    }

    async fn dead_lettering(&self, pool: &PgPool, msg: &Delivered) -> Result<(), HandlerError> {
        let Ok(work) = msg.payload::<OrderWork>() else { return Ok(()) };
        let mut conn = pool.acquire().await?;
        retry_line::dead_lettered(&mut conn, work.payment_id(), msg.envelope.message_id).await?;
        Ok(())
    }
}

/// What a message's preparation decided alone: a message behind its order's retry line waits
/// there too (or follows a dead-lettered head to the dead-letter queue), and work its provider's
/// bulkhead refused waits on the ladder, neither tried nor spending a retry. Either hold is
/// `recorded`: the preparation's transaction put the message in its order's retry line.
fn decided(prepared: &Prepared) -> Option<Outcome> {
    if let Line::Behind(head) = prepared.line {
        let id = head.message_id;
        return Some(if head.dead_lettered {
            Outcome::Reject {
                reason: format!(
                    "follows message {id} of this order to the dead-letter queue: it must not overtake it; \
                     replay that one first"
                ),
            }
        } else {
            Outcome::Hold {
                reason: format!("waiting behind message {id} of this order, which is on the retry ladder"),
                at_least: head.stuck_for,
                recorded: true,
            }
        });
    }
    let refusal = prepared.held.as_ref()?;
    Some(Outcome::Hold { reason: refusal.to_string(), at_least: refusal.lasts_at_least(), recorded: true })
}

/// The payments with these ids, locked in one statement (`payments::lock_many`), by id.
async fn lock_orders(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, Payment>, WorkError> {
    Ok(payments::lock_many(conn, ids).await?.into_iter().map(|p| (p.id, p)).collect())
}

/// Writes the steps and events several orders left unwritten, in one statement.
async fn write_all(conn: &mut PgConnection, unwritten: &[Unwritten]) -> Result<(), WorkError> {
    if unwritten.is_empty() {
        return Ok(());
    }
    let records: Vec<payments::Recorded<'_>> = unwritten
        .iter()
        .map(|u| payments::Recorded { payment: &u.payment, steps: &u.steps, messages: &u.messages })
        .collect();
    Ok(payments::record_many_announcing(conn, &records).await?)
}

fn one_by_one(reason: &str) -> Batched {
    Batched::OneByOne { reason: reason.to_owned() }
}

fn work_span(work: &OrderWork, msg: &Delivered) -> tracing::Span {
    tracing::info_span!(
        "order_work",
        op = work.message_type(),
        payment_id = %work.payment_id(),
        attempt = msg.envelope.attempt
    )
}

/// Why the answer to the plan's call can no longer be applied: the payment is not at the version
/// the plan left (something wrote the order while its call was out; its messages are applied one
/// at a time, so only a shard changing hands mid-call can do that).
fn moved_during_the_call(payment: &Payment, prepared: &Prepared) -> Option<String> {
    let (_, planned) = prepared.versions?;
    (prepared.answered.is_some() && payment.version != planned).then(|| {
        format!(
            "payment {}: at version {} after its provider call, planned at {planned}: preparing it again",
            payment.id, payment.version
        )
    })
}

/// Applies `work` to `order` with the provider's answer to its plan, if it called; what is left
/// to write when the order may leave it to a batch comes back with the outcome.
async fn run(
    mut order: Order<'_>,
    work: OrderWork,
    answered: Option<&Answered>,
) -> Result<(Outcome, Option<Unwritten>), HandlerError> {
    // The refund a command's work is about, for its answer when it changes nothing.
    let about_refund = match &work {
        OrderWork::DispatchRefund { refund_id, .. } | OrderWork::DecideRefund { refund_id, .. } => {
            Some(*refund_id)
        }
        OrderWork::Query { refund_id, .. } => *refund_id,
        _ => None,
    };
    let is_report = matches!(work, OrderWork::Report { .. });
    let outcome = match work {
        OrderWork::DispatchPay { .. } => work::pay::apply(&mut order, answered).await,
        OrderWork::Query { refund_id: None, reason, .. } => {
            work::query::apply(&mut order, reason, answered).await
        }
        OrderWork::Query { refund_id: Some(refund_id), reason, .. } => {
            work::refund::query(&mut order, refund_id, reason, answered).await
        }
        OrderWork::Close { reason, .. } => work::close::apply(&mut order, reason, answered).await,
        OrderWork::Capture { .. } => work::capture::apply(&mut order, answered).await,
        OrderWork::Void { reason, .. } => work::void::apply(&mut order, reason, answered).await,
        OrderWork::DispatchRefund { refund_id, .. } => {
            work::refund::dispatch(&mut order, refund_id, answered).await
        }
        OrderWork::DecideRefund { refund_id, approve, approver, reason, .. } => {
            work::refund::decide(&mut order, refund_id, (approve, &approver, reason.as_deref()), answered)
                .await
        }
        OrderWork::Notification { notification_id, .. } => {
            work::notification::apply(&mut order, notification_id, answered).await
        }
        OrderWork::Report { refund_id, reply_to, correlation_id, .. } => {
            work::report::apply(&mut order, refund_id, reply_to, correlation_id).await
        }
    }?;
    if outcome == Outcome::Done && !is_report {
        work::report::answer_unheard(&mut order, about_refund).await?;
    }
    let unwritten = order.finish().await?;
    Ok((outcome, unwritten))
}

impl Dispatcher {
    async fn apply(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        work: OrderWork,
        prepared: &Prepared,
    ) -> Result<Outcome, HandlerError> {
        if let Some(outcome) = decided(prepared) {
            return Ok(outcome);
        }
        let payment_id = work.payment_id();
        let Some(payment) = Payment::lock(tx, payment_id).await.map_err(WorkError::from)? else {
            return Ok(Outcome::Reject { reason: format!("no payment {payment_id}") });
        };
        if let Some(moved) = moved_during_the_call(&payment, prepared) {
            return Err(HandlerError::transient(anyhow::anyhow!(moved)));
        }
        let Some(adapter) = self.deps.providers.get(payment.provider.as_str()).cloned() else {
            return Ok(Outcome::Reject {
                reason: format!(
                    "payment {payment_id}: provider {:?} is not configured in this dispatcher (configured: {})",
                    payment.provider.as_str(),
                    self.deps.providers.names().join(", ")
                ),
            });
        };
        let since = prepared.versions.map_or(payment.version, |(before, _)| before);
        let order = Order::new(tx, payment, adapter, &self.deps, &msg.envelope, false).since(since);
        let (outcome, _) = run(order, work, prepared.answered.as_ref()).await?;
        if prepared.line == Line::Head
            && !matches!(outcome, Outcome::RetryLater { .. } | Outcome::Hold { .. })
        {
            // Applied (or rejected): the order's next waiting message may go.
            retry_line::leave(tx, payment_id, msg.envelope.message_id).await.map_err(WorkError::from)?;
        }
        Ok(outcome)
    }
}
