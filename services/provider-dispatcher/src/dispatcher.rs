//! The dispatcher's message handler: every piece of order work (`OrderWork`) arriving on a shard
//! is applied here, under the payment's row lock, in the consumer's transaction (which also
//! records the message as processed). One file per kind of work lives in `work/`; this file only
//! locks the order and routes.
//!
//! Messages waiting on a shard are applied as a batch (`Handler::handle_batch`): one
//! transaction locks all their orders in one statement, their work runs side by side (provider
//! calls included) sharing that transaction (`order::Conn::Shared`), and the steps and events of
//! every order that did not need the transaction on the way are written in one statement
//! (`payments::record_many_announcing`). A batch whose work is not all `Done` is rolled back and
//! its messages applied one by one, which calls the providers again with the same idempotency
//! keys, exactly as a redelivery after a crash would.

use crate::exchange_log::ExchangeLog;
use crate::metrics::DispatcherMetrics;
use crate::order::{Conn, Order, Unwritten, WorkError};
use crate::work;
use paygate::broker::consumer::{Batched, Delivered, Handler, HandlerError, Outcome};
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use paygate::providers::ProviderRegistry;
use paygate::store::payments::{self, Payment};
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::Instrument;

/// What every piece of work needs besides the order itself.
pub struct Deps {
    pub providers: ProviderRegistry,
    pub topology: Arc<Topology>,
    pub exchanges: ExchangeLog,
    /// notify-handler's public base URL, if providers should notify us.
    pub notify_base_url: Option<String>,
    pub metrics: DispatcherMetrics,
}

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

impl Handler for Dispatcher {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
    ) -> Result<Outcome, HandlerError> {
        let work: OrderWork = msg.payload()?;
        let span = work_span(&work, msg);
        self.apply(tx, msg, work).instrument(span).await
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[Delivered],
    ) -> Result<Batched, HandlerError> {
        let mut works = Vec::with_capacity(msgs.len());
        for msg in msgs {
            match msg.payload::<OrderWork>() {
                Ok(work) => works.push(work),
                Err(_) => return Ok(one_by_one("a message is not order work")),
            }
        }
        let ids: Vec<_> = works.iter().map(OrderWork::payment_id).collect();
        let mut locked: HashMap<_, Payment> = payments::lock_many(tx, &ids)
            .await
            .map_err(WorkError::from)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut orders = Vec::with_capacity(msgs.len());
        for (msg, work) in msgs.iter().zip(works) {
            let Some(payment) = locked.remove(&work.payment_id()) else {
                return Ok(one_by_one("a payment is missing"));
            };
            let Some(adapter) = self.deps.providers.get(&payment.provider).cloned() else {
                return Ok(one_by_one("a provider is not configured"));
            };
            orders.push((msg, work, payment, adapter));
        }
        let shared: Mutex<&mut PgConnection> = Mutex::new(&mut **tx);
        let applied =
            futures_util::future::join_all(orders.into_iter().map(|(msg, work, payment, adapter)| {
                let span = work_span(&work, msg);
                // Each order's work is traced under the message that asked for it, as one by one.
                msg.envelope.trace.set_parent_of(&span);
                let conn = Conn::Shared { batch: &shared, held: None };
                let order = Order::new(conn, payment, adapter, &self.deps, &msg.envelope);
                run(order, work).instrument(span)
            }))
            .await;
        let mut unwritten = Vec::with_capacity(applied.len());
        for result in applied {
            match result? {
                (Outcome::Done, write) => unwritten.extend(write),
                (_, _) => return Ok(one_by_one("a message was not done")),
            }
        }
        let records: Vec<payments::Recorded<'_>> = unwritten
            .iter()
            .map(|u: &Unwritten| payments::Recorded {
                payment: &u.payment,
                steps: &u.steps,
                messages: &u.messages,
            })
            .collect();
        if !records.is_empty() {
            payments::record_many_announcing(shared.into_inner(), &records).await.map_err(WorkError::from)?;
        }
        Ok(Batched::AllDone)
    }
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

/// Applies `work` to `order` (the routing of the module documentation); what is left to write
/// when the order shares a batch's transaction comes back with the outcome.
async fn run(mut order: Order<'_>, work: OrderWork) -> Result<(Outcome, Option<Unwritten>), HandlerError> {
    let outcome = match work {
        OrderWork::DispatchPay { .. } => work::pay::apply(&mut order).await,
        OrderWork::Query { refund_id: None, reason, .. } => work::query::apply(&mut order, reason).await,
        OrderWork::Query { refund_id: Some(refund_id), reason, .. } => {
            work::refund::query(&mut order, refund_id, reason).await
        }
        OrderWork::Close { reason, .. } => work::close::apply(&mut order, reason).await,
        OrderWork::DispatchRefund { refund_id, .. } => work::refund::dispatch(&mut order, refund_id).await,
        OrderWork::DecideRefund { refund_id, approve, approver, reason, .. } => {
            work::refund::decide(&mut order, refund_id, approve, &approver, reason.as_deref()).await
        }
        OrderWork::Notification { notification_id, .. } => {
            work::notification::apply(&mut order, notification_id).await
        }
        OrderWork::Report { refund_id, reply_to, correlation_id, .. } => {
            work::report::apply(&mut order, refund_id, reply_to, correlation_id).await
        }
    }?;
    let unwritten = order.finish().await?;
    Ok((outcome, unwritten))
}

impl Dispatcher {
    async fn apply(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        work: OrderWork,
    ) -> Result<Outcome, HandlerError> {
        let payment_id = work.payment_id();
        let Some(payment) = payments::lock(tx, payment_id).await.map_err(WorkError::from)? else {
            return Ok(Outcome::Reject { reason: format!("no payment {payment_id}") });
        };
        let Some(adapter) = self.deps.providers.get(&payment.provider).cloned() else {
            return Ok(Outcome::Reject {
                reason: format!(
                    "payment {payment_id}: provider {:?} is not configured in this dispatcher (configured: {})",
                    payment.provider,
                    self.deps.providers.names().join(", ")
                ),
            });
        };
        let order = Order::new(Conn::Own(tx), payment, adapter, &self.deps, &msg.envelope);
        let (outcome, _) = run(order, work).await?;
        Ok(outcome)
    }
}
