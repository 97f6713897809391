//! The dispatcher's message handler: every piece of order work (`OrderWork`) arriving on a shard
//! is applied here, under the payment's row lock, in the consumer's transaction (which also
//! records the message as processed). One file per kind of work lives in `work/`; this file only
//! locks the order and routes.

use crate::exchange_log::ExchangeLog;
use crate::metrics::DispatcherMetrics;
use crate::order::{Order, WorkError};
use crate::work;
use paygate::broker::consumer::{Delivered, Handler, HandlerError, Outcome};
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use paygate::providers::ProviderRegistry;
use paygate::store::payments;
use sqlx::{Postgres, Transaction};
use std::sync::Arc;
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
        let span = tracing::info_span!(
            "order_work",
            op = work.message_type(),
            payment_id = %work.payment_id(),
            attempt = msg.envelope.attempt
        );
        self.apply(tx, msg, work).instrument(span).await
    }
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
        let mut order = Order::new(tx, payment, adapter, &self.deps, &msg.envelope);
        let outcome = match work {
            OrderWork::DispatchPay { .. } => work::pay::apply(&mut order).await,
            OrderWork::Query { refund_id: None, reason, .. } => work::query::apply(&mut order, reason).await,
            OrderWork::Query { refund_id: Some(refund_id), reason, .. } => {
                work::refund::query(&mut order, refund_id, reason).await
            }
            OrderWork::Close { reason, .. } => work::close::apply(&mut order, reason).await,
            OrderWork::DispatchRefund { refund_id, .. } => {
                work::refund::dispatch(&mut order, refund_id).await
            }
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
        order.finish().await?;
        Ok(outcome)
    }
}
