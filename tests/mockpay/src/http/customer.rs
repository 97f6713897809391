//! The customer's side (unsigned): opening the pay URL (GET) or submitting the pay form (POST)
//! pays a WAITING payment. With a returnUrl the customer is then redirected there (303) with
//! `orderId`, `transactionId` and `status` in the query; otherwise the answer is the envelope.

use crate::app::App;
use crate::codes::ReturnCode;
use crate::flow::payments::{self, Locator};
use crate::wire;
use crate::wire::envelope::respond;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(crate) fn routes() -> Router<App> {
    Router::new().route("/pay/{transaction_id}", get(pay).post(pay))
}

async fn pay(State(app): State<App>, Path(transaction_id): Path<String>) -> Response {
    let outcome = payments::customer_pay(&app, &Locator::Transaction(transaction_id));
    let return_url = outcome.value.as_ref().and_then(|v| v.payment.return_url.clone());
    match (return_url, &outcome.value) {
        (Some(url), Some(view)) if outcome.code != ReturnCode::NoSuchTransaction => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let p = &view.payment;
            let location = format!(
                "{url}{sep}orderId={}&transactionId={}&status={}",
                p.key.order_id,
                p.transaction_id,
                p.status.as_str()
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        _ => respond(outcome.code, outcome.message, outcome.value.map(|v| wire::payment::status_info(&v))),
    }
}
