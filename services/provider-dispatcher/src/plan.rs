//! The plan of a piece of order work: what it must ask its provider, decided under the order's
//! lock before the message's transaction, with the attempt committed when the call may move
//! money (docs/architecture.md, "May have been sent"). Each kind of work keeps its plan beside
//! what it does with the answer, in `work/`; this file routes.

use crate::bulkhead::{Pass, Refusal};
use crate::call::Call;
use crate::order::{Order, WorkError};
use crate::work;
use paygate::messages::orders::OrderWork;

/// What a piece of work needs from its provider.
pub enum Plan {
    /// Nothing: the transaction decides alone (or there is nothing left to do).
    NoCall,
    /// This call, with the provider's bulkhead's leave.
    Call(Call, Pass),
    /// A call, but the provider's bulkhead has no room or its breaker is open: the work waits on
    /// the retry ladder, and nothing was committed for it.
    Held(Refusal),
}

/// `call`, if the provider's bulkhead gives leave now; otherwise the work is held.
pub fn call(order: &Order<'_>, call: Call) -> Plan {
    match order.pass() {
        Ok(pass) => Plan::Call(call, pass),
        Err(refusal) => Plan::Held(refusal),
    }
}

/// The plan of `work` for `order`.
pub async fn plan(order: &mut Order<'_>, work: &OrderWork) -> Result<Plan, WorkError> {
    match work {
        OrderWork::DispatchPay { .. } => work::pay::plan(order).await,
        OrderWork::Query { refund_id: None, reason, .. } => work::query::plan(order, *reason).await,
        OrderWork::Query { refund_id: Some(refund_id), .. } => {
            work::refund::plan_query(order, *refund_id).await
        }
        OrderWork::Close { .. } => work::close::plan(order).await,
        OrderWork::Capture { amount, .. } => work::capture::plan(order, *amount).await,
        OrderWork::Void { .. } => work::void::plan(order).await,
        OrderWork::DispatchRefund { refund_id, .. } => work::refund::plan_dispatch(order, *refund_id).await,
        OrderWork::DecideRefund { refund_id, approve, approver, reason, .. } => {
            work::refund::plan_decide(order, *refund_id, *approve, approver, reason.as_deref()).await
        }
        OrderWork::Notification { notification_id, .. } => {
            work::notification::plan(order, *notification_id).await
        }
        OrderWork::Report { .. } => Ok(Plan::NoCall),
    }
}
