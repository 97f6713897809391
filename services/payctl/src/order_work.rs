//! `payctl payment query` and `payctl refund approve|reject`: an operator asks the dispatcher to
//! do something for one order. payctl checks what it can first, with the same rules ingest
//! applies to upstream's commands (services/ingest/src/commands/decide_refund.rs), so a refused
//! request says which field broke which rule instead of failing silently at the dispatcher; then
//! it sends the work to the order's shard ([`crate::send`]) and prints what it sent.

use crate::lookup;
use crate::output;
use paygate::domain::{MerchantId, OperatorId, ValidationError};
use paygate::messages::fields::text;
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::runtime::config::CommonConfig;
use paygate::state_machine::RefundState;
use paygate::store::refunds::Refund;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// What payctl sent, as printed.
#[derive(Debug, Serialize)]
struct SentWork {
    message_id: Uuid,
    op: &'static str,
    payment_id: Uuid,
    merchant_id: MerchantId,
    merchant_order_no: String,
    refund_id: Option<Uuid>,
    refund_no: Option<String>,
    /// The order's state when the work was sent (the dispatcher applies it next).
    state: String,
}

/// `payment query`: the dispatcher asks the provider and applies the answer.
pub async fn query(
    pool: &PgPool,
    common: &CommonConfig,
    reference: &str,
    merchant: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let payment = lookup::payment(&mut conn, reference, merchant).await?;
    let work = OrderWork::Query { payment_id: payment.id, refund_id: None, reason: QueryReason::Requested };
    let message_id = crate::send::order_work(common, &work).await?;
    let sent = SentWork {
        message_id,
        op: work.message_type(),
        payment_id: payment.id,
        merchant_id: payment.merchant_id,
        merchant_order_no: payment.merchant_order_no,
        refund_id: None,
        refund_no: None,
        state: payment.state.to_string(),
    };
    print(
        &sent,
        json,
        "query sent: the dispatcher asks the provider and applies the answer (see `payctl payment show`)",
    )
}

/// A person's decision on a refund awaiting approval.
pub struct Decision<'a> {
    pub approve: bool,
    pub approver: &'a str,
    pub reason: Option<&'a str>,
}

/// `refund approve|reject`.
pub async fn decide(
    pool: &PgPool,
    common: &CommonConfig,
    reference: &str,
    merchant: Option<&str>,
    decision: &Decision<'_>,
    json: bool,
) -> anyhow::Result<()> {
    let approver = OperatorId::parse(decision.approver).map_err(|e| e.with_field("approver"))?;
    let reason = decision.reason.map(|r| text("reason", r, 256)).transpose()?;
    if !decision.approve && reason.is_none() {
        return Err(ValidationError::new("reason", "is required to reject a refund").into());
    }
    let mut conn = pool.acquire().await?;
    let refund = lookup::refund(&mut conn, reference, merchant).await?;
    check(&refund, decision.approve, &approver)?;
    let payment = lookup::payment(&mut conn, &refund.payment_id.to_string(), None).await?;
    let work = OrderWork::DecideRefund {
        payment_id: refund.payment_id,
        refund_id: refund.id,
        approve: decision.approve,
        approver,
        reason,
    };
    let message_id = crate::send::order_work(common, &work).await?;
    let sent = SentWork {
        message_id,
        op: work.message_type(),
        payment_id: payment.id,
        merchant_id: payment.merchant_id,
        merchant_order_no: payment.merchant_order_no,
        refund_id: Some(refund.id),
        refund_no: Some(refund.refund_no),
        state: refund.state.to_string(),
    };
    let verb = if decision.approve { "approval" } else { "rejection" };
    print(&sent, json, &format!("{verb} sent: the dispatcher applies it under the payment's lock"))
}

/// The rules ingest applies to a decision: the refund awaits approval, and whoever approves did
/// not request it (a requester may reject, i.e. withdraw, their own request: that moves no money).
fn check(refund: &Refund, approve: bool, approver: &OperatorId) -> Result<(), ValidationError> {
    if refund.state != RefundState::AwaitingApproval {
        let verb = if approve { "approved" } else { "rejected" };
        let rule = format!("the refund is {}; only a refund awaiting_approval can be {verb}", refund.state);
        return Err(ValidationError::new("refund", rule));
    }
    if approve && approver.same_person(&refund.requested_by) {
        let rule = format!("must not be the person who requested the refund ({})", refund.requested_by);
        return Err(ValidationError::new("approver", rule));
    }
    Ok(())
}

fn print(sent: &SentWork, json: bool, note: &str) -> anyhow::Result<()> {
    if json {
        return output::json(sent);
    }
    let mut table =
        output::table(&["message", "op", "payment", "merchant", "order no", "refund", "refund no", "state"]);
    table.add_row(vec![
        sent.message_id.to_string(),
        sent.op.to_owned(),
        sent.payment_id.to_string(),
        sent.merchant_id.to_string(),
        sent.merchant_order_no.clone(),
        output::or_dash(sent.refund_id),
        output::or_dash(sent.refund_no.as_deref()),
        sent.state.clone(),
    ]);
    println!("{table}");
    println!("{note}");
    Ok(())
}
