//! A create that asks for the cashier: `POST /v1/payments` with `"cashier": true` and without
//! `provider` and `pay_method` (the customer chooses them on the page).
//!
//! The body is checked by the pay command's own parser (with a stand-in method, so that every
//! other field is refused with the same words as any create), then stored as the session's pay
//! template, idempotent on the merchant's order number: the same create again answers the same
//! URL (`200 ok`); other parameters, or an order number a payment already has, are
//! `409 idempotency_conflict`. No payment exists until the customer chooses ([`super::choose`]).

use super::CashierSettings;
use crate::api::ApiState;
use crate::api::auth::Caller;
use crate::api::codes;
use crate::api::response::{Answer, db_error};
use crate::api::writes::{self, Shows, Write};
use chrono::{DateTime, Utc};
use paygate::domain::ValidationError;
use paygate::messages::commands::{Command, PAY};
use paygate::store::StoredRow;
use paygate::store::cashier::{self, NewSession, Opened, Session};
use paygate::store::payments::Payment;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The field that asks for the cashier.
pub const FIELD: &str = "cashier";

/// What a cashier create answers (`data`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CashierView {
    pub merchant_order_no: String,
    /// `awaiting_method` until the customer chooses; then `method_chosen` (read the payment).
    pub state: String,
    /// Send the customer here. Signed; usable until `cashier_expires_at`.
    pub cashier_url: String,
    pub cashier_expires_at: DateTime<Utc>,
    /// Decimal string in whole units, as sent.
    pub amount: String,
    pub currency: String,
    pub subject: String,
    /// The merchant's page the customer lands on, with `merchant_order_no` and `outcome` in the
    /// query. It never moves money: confirm the payment through the API or the events.
    pub return_url: Option<String>,
}

impl CashierView {
    pub fn of(session: &Session, settings: &CashierSettings) -> Self {
        let field =
            |name: &str| session.pay_template.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
        CashierView {
            merchant_order_no: session.merchant_order_no.clone(),
            state: if session.chosen_at.is_some() { "method_chosen" } else { "awaiting_method" }.to_owned(),
            cashier_url: settings.url(&settings.key.sign(session.id, session.token_expires_at)),
            cashier_expires_at: session.token_expires_at,
            amount: field("amount"),
            currency: field("currency"),
            subject: field("subject"),
            return_url: session.return_url.clone(),
        }
    }
}

/// A success carrying a cashier session (the OpenAPI document's description).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CashierAnswer {
    /// `created` or `ok`.
    pub code: String,
    pub message: String,
    pub data: CashierView,
}

/// Whether a create's body asks for the cashier (`"cashier": true`; anything else is not).
pub fn asks_for_cashier(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get(FIELD).cloned()) == Some(Value::Bool(true))
}

/// The body without `"cashier": false` (an ordinary create says nothing else by it); any other
/// body as it is, so that the pay parser judges it.
pub fn without_cashier_false(body: axum::body::Bytes) -> axum::body::Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut map)) if map.get(FIELD) == Some(&Value::Bool(false)) => {
            map.remove(FIELD);
            Value::Object(map).to_string().into()
        }
        _ => body,
    }
}

fn refused(field: &'static str, rule: &str) -> Answer {
    Answer::refused(codes::INVALID_FIELD, &ValidationError::new(field, rule.to_owned()))
}

/// Opens (or finds) the cashier session a create asks for.
pub async fn create(state: &ApiState, caller: &Caller, body: &[u8]) -> Answer {
    let write = Write {
        message_type: PAY,
        method: "POST",
        path: "/v1/payments",
        body,
        path_fields: vec![],
        shows: Shows::Payment,
    };
    let mut template = match writes::payload(caller, &write) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return refused("body", "must be a JSON object"),
        Err((code, error)) => return Answer::refused(code, &error),
    };
    template.remove(FIELD);
    for field in ["provider", "pay_method", "auth_code", "payer", "capture"] {
        if template.contains_key(field) {
            let rule = format!(
                "must be left out when cashier is true: the customer chooses on the cashier page (got {field})"
            );
            return Answer::refused(codes::INVALID_FIELD, &ValidationError::new(field, rule));
        }
    }
    // Every other field checked by the pay command's parser, with a stand-in method.
    let Some(stand_in) = state.providers.names().first().cloned() else {
        return Answer::internal("check the create", &"no provider is configured");
    };
    let mut probe = template.clone();
    probe.insert("provider".into(), Value::String(stand_in));
    probe.insert("pay_method".into(), Value::String("qr".into()));
    let command = match Command::parse(PAY, Value::Object(probe)) {
        Ok(Command::Pay(c)) => c,
        Ok(_) => return Answer::internal("check the create", &"the pay parser gave another command"),
        Err(e) => return Answer::refused(codes::INVALID_FIELD, &e),
    };
    let merchant = caller.merchant_id.as_str();
    let order_no = command.merchant_order_no.as_str().to_owned();
    let fingerprint = crate::commands::fingerprint(&Value::Object(template.clone()));
    let return_url = template.remove("return_url").and_then(|v| v.as_str().map(str::to_owned));
    let template = Value::Object(template);
    let settings = &state.settings.cashier;

    let result = async {
        let mut tx = state.db.begin().await?;
        if super::offered(&mut tx, &state.providers, merchant).await?.is_empty() {
            let rule = format!(
                "merchant {merchant} has no cashier methods this paygate can take: set them with `payctl cashier methods set`"
            );
            return Ok::<_, sqlx::Error>(Answer::refused(
                codes::INVALID_FIELD,
                &ValidationError::new(FIELD, rule),
            ));
        }
        let existing_payment = Payment::find_by_number(&mut tx, merchant, &order_no).await;
        let session_before = cashier::find_by_number(&mut tx, merchant, &order_no).await?;
        if matches!(existing_payment, Ok(Some(_))) && session_before.is_none() {
            let e = ValidationError::new(
                "merchant_order_no",
                "idempotency conflict: already used for a payment created without the cashier",
            );
            return Ok(Answer::refused(codes::IDEMPOTENCY_CONFLICT, &e));
        }
        let expires = Utc::now() + chrono::Duration::from_std(settings.token_ttl).unwrap_or_default();
        let new = NewSession {
            merchant_id: merchant,
            merchant_order_no: &order_no,
            pay_template: &template,
            request_fingerprint: &fingerprint,
            return_url: return_url.as_deref(),
            token_expires_at: expires,
        };
        let answer = match cashier::open(&mut tx, &new).await? {
            Opened::New(s) => Answer::data(codes::CREATED, CashierView::of(&s, settings)),
            Opened::Existing(s) if s.request_fingerprint == fingerprint => {
                Answer::data(codes::OK, CashierView::of(&s, settings))
            }
            Opened::Existing(_) => {
                let e = ValidationError::new(
                    "merchant_order_no",
                    "idempotency conflict: already used for a cashier payment with different parameters",
                );
                Answer::refused(codes::IDEMPOTENCY_CONFLICT, &e)
            }
        };
        tx.commit().await?;
        Ok(answer)
    };
    match result.await {
        Ok(answer) => answer,
        Err(e) => db_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cashier_true_asks_and_cashier_false_is_dropped() {
        assert!(asks_for_cashier(br#"{"cashier": true}"#));
        assert!(
            !asks_for_cashier(br#"{"cashier": "true"}"#)
                && !asks_for_cashier(b"[true]")
                && !asks_for_cashier(b"x")
        );
        let dropped = without_cashier_false(br#"{"cashier": false, "amount": "1"}"#.as_slice().into());
        assert_eq!(serde_json::from_slice::<Value>(&dropped).unwrap(), serde_json::json!({"amount": "1"}));
        let kept = without_cashier_false(br#"{"cashier": 1}"#.as_slice().into());
        assert_eq!(&kept[..], br#"{"cashier": 1}"#);
    }
}
