//! The admin API (unsigned; bind mockpay to a private address): faults, scripted faults, bill faults,
//! settings, merchants, the customer's actions, internal truth, statistics and reset.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::config::Settings;
use crate::flow::payments::{self, Locator};
use crate::flow::{Outcome, refunds};
use crate::model::RefundStatus;
use crate::wire::admin::{AddMerchant, CompleteRefund, DeclineRequest, payment_truth};
use crate::wire::envelope::respond;
use crate::wire::{self, payment::status_info, refund::refund_info};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use simkit::{FaultSettings, Operation, ScriptEntry};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/admin/faults", get(get_faults).put(put_faults))
        .route("/admin/settings", get(get_settings).put(put_settings))
        .route("/admin/script", get(get_script).post(post_script).delete(delete_script))
        .route("/admin/merchants", get(get_merchants).post(post_merchant))
        .route("/admin/payments/{order_id}", get(get_payment))
        .route("/admin/payments/{order_id}/pay", post(pay))
        .route("/admin/payments/{order_id}/decline", post(decline))
        .route("/admin/payments/{order_id}/expire", post(expire))
        .route("/admin/refunds/{refund_id}/complete", post(complete_refund))
        .route("/admin/bill-faults", get(get_bill_faults).post(post_bill_fault).delete(delete_bill_faults))
        .route("/admin/stats", get(get_stats))
        .route("/admin/reset", post(reset))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MerchantQuery {
    merchant_id: Option<String>,
}

fn ok<T: Serialize>(info: T) -> Response {
    respond(ReturnCode::Success, None, Some(info))
}

fn invalid(message: String) -> Response {
    respond::<()>(ReturnCode::InvalidRequest, Some(message), None)
}

fn locate(order_id: String, q: MerchantQuery) -> Locator {
    Locator::Order { order_id, merchant_id: q.merchant_id }
}

async fn get_faults(State(app): State<App>) -> Response {
    ok(app.faults().settings.clone())
}

async fn put_faults(State(app): State<App>, body: Bytes) -> Response {
    let faults = match wire::parse::<FaultSettings>(&body).and_then(|f| f.validate().map(|()| f)) {
        Ok(f) => f,
        Err(m) => return invalid(m),
    };
    app.faults().set(faults.clone());
    ok(faults)
}

async fn get_settings(State(app): State<App>) -> Response {
    ok(app.settings())
}

async fn put_settings(State(app): State<App>, body: Bytes) -> Response {
    match wire::parse::<Settings>(&body) {
        Ok(s) => {
            app.set_settings(s.clone());
            ok(s)
        }
        Err(m) => invalid(m),
    }
}

async fn get_script(State(app): State<App>) -> Response {
    ok(app.faults().script.pending())
}

async fn post_script(State(app): State<App>, body: Bytes) -> Response {
    match wire::parse::<ScriptEntry>(&body).and_then(|e| validate_script(&e).map(|()| e)) {
        Ok(e) => {
            app.faults().add_script(e.clone());
            ok(e)
        }
        Err(m) => invalid(m),
    }
}

/// simkit's checks, then mockpay's: no `cancel` operation, and only its decline codes.
fn validate_script(e: &ScriptEntry) -> Result<(), String> {
    e.validate(|code| {
        if ReturnCode::decline(code).is_none() {
            return Err(format!(
                "declineCode must be {} or {}, got {code}",
                ReturnCode::InsufficientFunds,
                ReturnCode::AccountSuspended
            ));
        }
        Ok(())
    })?;
    if e.operation == Operation::Cancel {
        return Err("operation cancel: mockpay has no cancel call".into());
    }
    Ok(())
}

async fn delete_script(State(app): State<App>) -> Response {
    app.faults().script.clear();
    ok(Vec::<ScriptEntry>::new())
}

async fn get_merchants(State(app): State<App>) -> Response {
    ok(app.merchant_ids())
}

async fn post_merchant(State(app): State<App>, body: Bytes) -> Response {
    match wire::parse::<AddMerchant>(&body) {
        Ok(m) if !m.merchant_id.is_empty() && !m.secret.is_empty() => {
            app.add_merchant(m.merchant_id, m.secret);
            ok(app.merchant_ids())
        }
        Ok(_) => invalid("merchantId and secret must not be empty".into()),
        Err(m) => invalid(m),
    }
}

async fn get_payment(
    State(app): State<App>,
    Path(order_id): Path<String>,
    Query(q): Query<MerchantQuery>,
) -> Response {
    let o = payments::truth(&app, &locate(order_id, q));
    let o = o.map(|(view, notifications)| payment_truth(&view, notifications.iter().collect()));
    respond(o.code, o.message, o.value)
}

fn status_reply(o: Outcome<crate::model::PaymentView>) -> Response {
    respond(o.code, o.message, o.value.map(|v| status_info(&v)))
}

async fn pay(
    State(app): State<App>,
    Path(order_id): Path<String>,
    Query(q): Query<MerchantQuery>,
) -> Response {
    status_reply(payments::customer_pay(&app, &locate(order_id, q)))
}

async fn decline(
    State(app): State<App>,
    Path(order_id): Path<String>,
    Query(q): Query<MerchantQuery>,
    body: Bytes,
) -> Response {
    let req = if body.is_empty() {
        DeclineRequest::default()
    } else {
        match wire::parse::<DeclineRequest>(&body) {
            Ok(r) => r,
            Err(m) => return invalid(m),
        }
    };
    let code = match req.decline_code.as_deref() {
        None => ReturnCode::InsufficientFunds,
        Some(code) => match ReturnCode::decline(code) {
            Some(decline) => decline,
            None => {
                return invalid(format!(
                    "declineCode: must be {} or {}, got {code}",
                    ReturnCode::InsufficientFunds,
                    ReturnCode::AccountSuspended
                ));
            }
        },
    };
    status_reply(payments::decline(&app, &locate(order_id, q), code))
}

async fn expire(
    State(app): State<App>,
    Path(order_id): Path<String>,
    Query(q): Query<MerchantQuery>,
) -> Response {
    status_reply(payments::expire(&app, &locate(order_id, q)))
}

async fn complete_refund(
    State(app): State<App>,
    Path(refund_id): Path<String>,
    Query(q): Query<MerchantQuery>,
    body: Bytes,
) -> Response {
    let target = match wire::parse::<CompleteRefund>(&body).map(|c| c.status) {
        Ok(s) if s == "SUCCEEDED" => RefundStatus::Succeeded,
        Ok(s) if s == "FAILED" => RefundStatus::Failed,
        Ok(s) => return invalid(format!("status: must be SUCCEEDED or FAILED, got {s}")),
        Err(m) => return invalid(m),
    };
    let Some(key) = refunds::find(&app, &refund_id, q.merchant_id.as_deref()) else {
        return respond::<()>(
            ReturnCode::NoSuchTransaction,
            Some(format!("no refund with refundId {refund_id}")),
            None,
        );
    };
    let o = refunds::complete(&app, &key, target, None);
    respond(o.code, o.message, o.value.map(|r| refund_info(&r)))
}

async fn get_bill_faults(State(app): State<App>) -> Response {
    ok(app.kit.bill_faults().clone())
}

async fn post_bill_fault(State(app): State<App>, body: Bytes) -> Response {
    use crate::bill::{BillFault, BillFaultKind};
    let mut fault = match wire::parse::<BillFault>(&body).and_then(|f| f.validate().map(|()| f)) {
        Ok(f) => f,
        Err(m) => return invalid(m),
    };
    // Lines a fault adds get their provider ids now, so every download is the same.
    fault.transaction_id = match fault.kind {
        BillFaultKind::DuplicatePayment | BillFaultKind::AddPayment => Some(app.ids.transaction_id()),
        BillFaultKind::AddRefund | BillFaultKind::BankRefund => Some(app.ids.refund_transaction_id()),
        _ => None,
    };
    app.kit.bill_faults().push(fault.clone());
    ok(fault)
}

async fn delete_bill_faults(State(app): State<App>) -> Response {
    app.kit.bill_faults().clear();
    ok(Vec::<crate::bill::BillFault>::new())
}

async fn get_stats(State(app): State<App>) -> Response {
    ok(app.stats().snapshot())
}

async fn reset(State(app): State<App>) -> Response {
    app.reset();
    ok(serde_json::json!({}))
}
