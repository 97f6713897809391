//! `command.pay`: take a payment.
//!
//! parse: [`PayCommand`] (amount and currency, provider, pay method, order type, subject, …).
//! apply: the provider must be one this system is configured for, and `expires_at`, when given,
//! in the future (a repeat of a command accepted before is still reported); then the payment is created
//! (pre-commit, state `created`) with a new UUID v7 id, idempotent on (merchant, order number).
//! The command's `reply_to` and correlation id are stored with the payment: every event of the
//! payment goes there, whichever message decides it.
//! emit: a new payment → `order.dispatch_pay`; the same command again (same fingerprint) →
//! `order.report`, so upstream gets the current state; the order number with other parameters →
//! rejected, naming `merchant_order_no`.
//!
//! [`apply_many`] is the same for a batch of pay commands (the consumer's batches, see
//! `paygate::broker::consumer`): the new payments in one statement, the rest through [`apply`].

use super::{CommandOutcome, Context, Rejection, RejectionKind, fingerprint, route, routed, store_error};
use chrono::{SecondsFormat, Utc};
use paygate::broker::consumer::HandlerError;
use paygate::broker::outbox::Prepared;
use paygate::domain::{CaptureMode, ValidationError};
use paygate::messages::commands::PayCommand;
use paygate::messages::orders::OrderWork;
use paygate::providers::adapter::PayTerms;
use paygate::store::StoredRow;
use paygate::store::payments::{self, Created, NewPayment, Payment};
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &PayCommand,
) -> Result<CommandOutcome, HandlerError> {
    let merchant = cmd.merchant_id.as_str();
    let order_no = cmd.merchant_order_no.as_str();
    let (new, dispatch) = match prepare(ctx, cmd)? {
        Ok(prepared) => prepared,
        Err(error) => {
            // A repeat of a command accepted before is still a repeat (its `expires_at` may have
            // passed since): the order's state is reported, not a rejection.
            let existing = Payment::find_by_number(conn, merchant, order_no).await.map_err(store_error)?;
            return match existing {
                Some(payment) => seen_before(conn, ctx, cmd, payment, &fingerprint(cmd)).await,
                None => Ok(Rejection::of(merchant, Some(order_no), error)),
            };
        }
    };
    // The payment, its first history row and its dispatch, in one statement (the dispatch is
    // queued only if the payment is new).
    let dispatch = [dispatch];
    let created = payments::create_announcing(conn, &new, Some(ctx.cause.message_id), &dispatch);
    match created.await.map_err(store_error)? {
        Created::New(_) => Ok(CommandOutcome::Accepted),
        Created::Existing(payment) => seen_before(conn, ctx, cmd, payment, &new.request_fingerprint).await,
    }
}

/// An order number already taken: a repeat of the same command (its state is reported to the
/// asker), or an idempotency conflict.
async fn seen_before(
    conn: &mut PgConnection,
    ctx: &Context<'_>,
    cmd: &PayCommand,
    payment: Payment,
    request_fingerprint: &str,
) -> Result<CommandOutcome, HandlerError> {
    if payment.request_fingerprint != request_fingerprint {
        return Ok(Rejection::of_kind(
            RejectionKind::IdempotencyConflict,
            cmd.merchant_id.as_str(),
            Some(cmd.merchant_order_no.as_str()),
            ValidationError::new(
                "merchant_order_no",
                "idempotency conflict: already used for a payment with different parameters",
            ),
        ));
    }
    let report = OrderWork::Report {
        payment_id: payment.id,
        refund_id: None,
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: ctx.cause.correlation_id.clone(),
    };
    route(conn, ctx, &report).await?;
    Ok(CommandOutcome::Duplicate)
}

/// What a new payment may not be: taken through a provider this system is not configured for,
/// in a way its provider does not take (a pay method it lacks, a payment code not of its form, a
/// payer it needs missing: the provider kind's `pay_terms`), or expiring before it is created
/// (it would only fail at the provider).
fn refusal(ctx: &Context<'_>, cmd: &PayCommand) -> Option<ValidationError> {
    if !ctx.providers.contains(cmd.provider.as_str()) {
        let rule =
            format!("must be one of {} (got {:?})", ctx.providers.names().join(", "), cmd.provider.as_str());
        return Some(ValidationError::new("provider", rule));
    }
    if let Some(kind) = ctx.providers.kind_of(cmd.provider.as_str()) {
        if cmd.capture.is_manual() && !kind.authorizes_separately {
            let rule = format!(
                "manual needs a provider that authorises a payment and captures it later; {} takes the money \
                 when the customer pays (got capture manual with provider {})",
                kind.name,
                cmd.provider.as_str()
            );
            return Some(ValidationError::new(CaptureMode::FIELD, rule));
        }
        let payer = cmd.payer.clone().unwrap_or_default();
        let terms = PayTerms {
            pay_method: cmd.pay_method,
            auth_code: cmd.auth_code.as_ref(),
            payer: &payer,
            capture: cmd.capture,
        };
        if let Err(refused) = (kind.pay_terms)(&terms) {
            return Some(refused);
        }
    }
    let now = Utc::now();
    match cmd.expires_at {
        Some(at) if at <= now => Some(ValidationError::new(
            "expires_at",
            format!(
                "must be in the future: the customer needs time to pay (got {}, now is {})",
                at.to_rfc3339_opts(SecondsFormat::Secs, true),
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        )),
        _ => None,
    }
}

/// The payment `cmd` asks for and the message that dispatches it, or why it cannot be created
/// ([`refusal`]; then [`apply`] rejects it, unless it is a repeat).
fn prepare(
    ctx: &Context<'_>,
    cmd: &PayCommand,
) -> Result<Result<(NewPayment, Prepared), ValidationError>, HandlerError> {
    if let Some(error) = refusal(ctx, cmd) {
        return Ok(Err(error));
    }
    let new = NewPayment {
        id: Uuid::now_v7(),
        merchant_id: cmd.merchant_id.clone(),
        merchant_order_no: cmd.merchant_order_no.as_str().to_owned(),
        provider: cmd.provider.clone(),
        pay_method: cmd.pay_method,
        order_type: cmd.order_type.clone(),
        amount: cmd.amount,
        subject: cmd.subject.clone(),
        return_url: cmd.return_url.clone(),
        expires_at: cmd.expires_at,
        metadata: Value::Object(cmd.metadata.clone()),
        request_fingerprint: fingerprint(cmd),
        reply_to: ctx.cause.reply_to.clone(),
        correlation_id: Some(ctx.correlation_id()),
        auth_code: cmd.auth_code.clone(),
        payer: cmd.payer.clone(),
        capture_mode: cmd.capture,
    };
    let dispatch = routed(ctx, &OrderWork::DispatchPay { payment_id: new.id })?;
    Ok(Ok((new, dispatch)))
}

/// Many pay commands (ingest's batches; each with its own context) applied together: every
/// payment whose order number is new is created and dispatched in one statement, as [`apply`]
/// would. Returns, in order, the indexes of the commands this did not settle (an unknown
/// provider, an `expires_at` past, an order number already taken, or taken earlier in the batch): apply those one by
/// one, which rejects them or tells a repeat from a conflict.
pub async fn apply_many(
    conn: &mut PgConnection,
    commands: &[(Context<'_>, &PayCommand)],
) -> Result<Vec<usize>, HandlerError> {
    let mut unsettled = Vec::new();
    let mut prepared = Vec::with_capacity(commands.len());
    for (i, (ctx, cmd)) in commands.iter().enumerate() {
        match prepare(ctx, cmd)? {
            Ok((new, dispatch)) => prepared.push((i, new, ctx.cause.message_id, dispatch)),
            Err(_) => unsettled.push(i),
        }
    }
    let announced: Vec<payments::Announced<'_>> =
        prepared.iter().map(|(_, new, cause, dispatch)| (new, *cause, dispatch)).collect();
    let created: HashSet<Uuid> =
        payments::create_many_announcing(conn, &announced).await.map_err(store_error)?.into_iter().collect();
    unsettled.extend(prepared.iter().filter(|(_, new, _, _)| !created.contains(&new.id)).map(|(i, ..)| *i));
    unsettled.sort_unstable();
    Ok(unsettled)
}
