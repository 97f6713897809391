//! `command.pay`: take a payment.
//!
//! parse: [`PayCommand`] (amount and currency, provider, pay method, order type, subject, …).
//! apply: the provider must be one this system is configured for; then the payment is created
//! (pre-commit, state `created`) with a new UUID v7 id, idempotent on (merchant, order number).
//! emit: a new payment → `order.dispatch_pay`; the same command again (same fingerprint) →
//! `order.report`, so upstream gets the current state; the order number with other parameters →
//! rejected, naming `merchant_order_no`.

use super::{Context, Rejection, Verdict, fingerprint, route, routed, store_error};
use paygate::broker::consumer::HandlerError;
use paygate::domain::ValidationError;
use paygate::messages::commands::PayCommand;
use paygate::messages::orders::OrderWork;
use paygate::store::payments::{self, Created, NewPayment};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &PayCommand,
) -> Result<Verdict, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let order_no = cmd.merchant_order_no.as_str();
    if !ctx.providers.contains(&cmd.provider) {
        let rule = format!("must be one of {} (got {:?})", ctx.providers.names().join(", "), cmd.provider);
        return Ok(Rejection::of(merchant, Some(order_no), ValidationError::new("provider", rule)));
    }
    let new = NewPayment {
        id: Uuid::now_v7(),
        merchant_id: merchant.to_owned(),
        merchant_order_no: order_no.to_owned(),
        provider: cmd.provider.clone(),
        channel: cmd.pay_method.as_str().to_owned(),
        order_type: cmd.order_type.clone(),
        amount: cmd.amount,
        subject: cmd.subject.clone(),
        return_url: cmd.return_url.clone(),
        expires_at: cmd.expires_at,
        metadata: Value::Object(cmd.metadata.clone()),
        request_fingerprint: fingerprint(cmd),
    };
    // The payment, its first history row and its dispatch, in one statement (the dispatch is
    // queued only if the payment is new).
    let dispatch = [routed(ctx, &OrderWork::DispatchPay { payment_id: new.id })?];
    let created = payments::create_announcing(conn, &new, Some(ctx.cause.message_id), &dispatch);
    match created.await.map_err(store_error)? {
        Created::New(_) => Ok(Verdict::Accepted),
        Created::Existing(payment) if payment.request_fingerprint == new.request_fingerprint => {
            let report = OrderWork::Report {
                payment_id: payment.id,
                refund_id: None,
                reply_to: ctx.cause.reply_to.clone(),
                correlation_id: ctx.cause.correlation_id.clone(),
            };
            route(conn, ctx, &report).await?;
            Ok(Verdict::Duplicate)
        }
        Created::Existing(_) => Ok(Rejection::of(
            merchant,
            Some(order_no),
            ValidationError::new(
                "merchant_order_no",
                "idempotency conflict: already used for a payment with different parameters",
            ),
        )),
    }
}
