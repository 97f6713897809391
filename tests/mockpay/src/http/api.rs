//! The signed merchant API: `/v1/payments` and `/v1/refunds`. Each handler parses the wire
//! request, runs the flow under the transport faults and converts the outcome back to the wire.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::flow::{self, Outcome};
use crate::http::auth::Signed;
use crate::http::transport::{self, Guard, pay_key};
use crate::model::RefundKey;
use crate::wire::envelope::respond;
use crate::wire::payment::{CaptureRequest, CreatePaymentRequest};
use crate::wire::refund::CreateRefundRequest;
use crate::wire::{self, check_id};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use simkit::Operation;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/{order_id}", get(query_payment))
        .route("/v1/payments/{order_id}/close", post(close_payment))
        .route("/v1/payments/{order_id}/capture", post(capture_payment))
        .route("/v1/payments/{order_id}/void", post(void_payment))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{refund_id}", get(query_refund))
}

fn reply<T: Serialize>(o: Outcome<T>) -> (ReturnCode, Response) {
    (o.code, respond(o.code, o.message, o.value))
}

async fn create_payment(State(app): State<App>, signed: Signed) -> Response {
    let new = match wire::parse::<CreatePaymentRequest>(&signed.body).and_then(|r| r.into_new_payment()) {
        Ok(n) => n,
        Err(m) => return transport::answer(&app, Operation::Pay, ReturnCode::InvalidRequest, m),
    };
    let order_id = new.order_id.clone();
    let m = signed.merchant_id.as_str();
    let guard = Guard { key: Some(pay_key(m, &order_id)), blocked_by: None };
    transport::run(&app, Operation::Pay, m, Some(&order_id), guard, || {
        reply(flow::payments::create(&app, m, new).map(|v| wire::payment::create_info(&v, &app.base_url)))
    })
    .await
}

async fn query_payment(State(app): State<App>, Path(order_id): Path<String>, signed: Signed) -> Response {
    if let Err(m) = check_id("orderId", &order_id) {
        return transport::answer(&app, Operation::Query, ReturnCode::InvalidRequest, m);
    }
    let m = signed.merchant_id.as_str();
    transport::run(&app, Operation::Query, m, Some(&order_id), Guard::none(), || {
        reply(flow::payments::query(&app, m, &order_id).map(|v| wire::payment::payment_info(&v)))
    })
    .await
}

async fn close_payment(State(app): State<App>, Path(order_id): Path<String>, signed: Signed) -> Response {
    if let Err(m) = check_id("orderId", &order_id) {
        return transport::answer(&app, Operation::Close, ReturnCode::InvalidRequest, m);
    }
    let m = signed.merchant_id.as_str();
    let guard = Guard { key: Some(format!("close/{m}/{order_id}")), blocked_by: Some(pay_key(m, &order_id)) };
    transport::run(&app, Operation::Close, m, Some(&order_id), guard, || {
        reply(flow::payments::close(&app, m, &order_id).map(|v| wire::payment::status_info(&v)))
    })
    .await
}

async fn capture_payment(State(app): State<App>, Path(order_id): Path<String>, signed: Signed) -> Response {
    if let Err(m) = check_id("orderId", &order_id) {
        return transport::answer(&app, Operation::Capture, ReturnCode::InvalidRequest, m);
    }
    let amount = match wire::parse::<CaptureRequest>(&signed.body) {
        Ok(r) if r.amount > 0 => r.amount,
        Ok(_) => {
            let m = "amount: must be a positive integer in minor units".to_owned();
            return transport::answer(&app, Operation::Capture, ReturnCode::InvalidRequest, m);
        }
        Err(m) => return transport::answer(&app, Operation::Capture, ReturnCode::InvalidRequest, m),
    };
    let m = signed.merchant_id.as_str();
    let guard =
        Guard { key: Some(format!("capture/{m}/{order_id}")), blocked_by: Some(pay_key(m, &order_id)) };
    transport::run(&app, Operation::Capture, m, Some(&order_id), guard, || {
        reply(flow::payments::capture(&app, m, &order_id, amount).map(|v| wire::payment::payment_info(&v)))
    })
    .await
}

async fn void_payment(State(app): State<App>, Path(order_id): Path<String>, signed: Signed) -> Response {
    if let Err(m) = check_id("orderId", &order_id) {
        return transport::answer(&app, Operation::Void, ReturnCode::InvalidRequest, m);
    }
    let m = signed.merchant_id.as_str();
    let guard = Guard { key: Some(format!("void/{m}/{order_id}")), blocked_by: Some(pay_key(m, &order_id)) };
    transport::run(&app, Operation::Void, m, Some(&order_id), guard, || {
        reply(flow::payments::void(&app, m, &order_id).map(|v| wire::payment::status_info(&v)))
    })
    .await
}

async fn create_refund(State(app): State<App>, signed: Signed) -> Response {
    let new = match wire::parse::<CreateRefundRequest>(&signed.body).and_then(|r| r.into_new_refund()) {
        Ok(n) => n,
        Err(m) => return transport::answer(&app, Operation::Refund, ReturnCode::InvalidRequest, m),
    };
    let order_id = new.order_id.clone();
    let m = signed.merchant_id.as_str();
    let guard =
        Guard { key: Some(format!("refund/{m}/{}", new.refund_id)), blocked_by: Some(pay_key(m, &order_id)) };
    transport::run(&app, Operation::Refund, m, Some(&order_id), guard, || {
        reply(flow::refunds::create(&app, m, new).map(|r| wire::refund::create_info(&r)))
    })
    .await
}

async fn query_refund(State(app): State<App>, Path(refund_id): Path<String>, signed: Signed) -> Response {
    if let Err(m) = check_id("refundId", &refund_id) {
        return transport::answer(&app, Operation::RefundQuery, ReturnCode::InvalidRequest, m);
    }
    let m = signed.merchant_id.as_str();
    let order_id =
        app.ledger().refund_order(&RefundKey { merchant_id: m.to_owned(), refund_id: refund_id.clone() });
    transport::run(&app, Operation::RefundQuery, m, order_id.as_deref(), Guard::none(), || {
        reply(flow::refunds::query(&app, m, &refund_id).map(|r| wire::refund::refund_info(&r)))
    })
    .await
}
