//! mockpay's wire types and their conversions to and from ours (tests/mockpay/README.md,
//! "Conventions", "Payments", "Refunds").
//!
//! - Requests are camelCase JSON; amounts are integer minor units, exactly our [`Money`]'s, so
//!   the conversion is the identity with the currency checked.
//! - Every answer is the envelope `{returnCode, returnMessage, info}`. `info` is read into the
//!   operation's own type; unknown fields in answers are tolerated (mockpay refuses them only in
//!   requests).
//! - Transaction ids stay strings (they exceed 2^53). Statuses are [`super::statuses`].
//! - A `WAITING` payment's `action` becomes our [`CustomerAction`]: `{method:GET,url}`,
//!   `{method:POST,url,form}`, `{qr_code}`, `{client_secret}`.
//!
//! A conversion that cannot be made (an unknown status, a missing field, an answer about another
//! order) is an [`Unreadable`] error: the caller treats the call as UNKNOWN, never as success or
//! failure.

use super::statuses::{MockpayPaymentStatus, MockpayRefundStatus};
use crate::domain::{Currency, Money};
use crate::messages::commands::PayMethod;
use crate::messages::events::{CustomerAction, HttpGet, HttpPost};
use crate::providers::adapter::{PayRequest, RefundRequest};
use crate::providers::answers::{PaymentFacts, PaymentStatus, RefundFacts};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// mockpay's limit on `description`, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 256;

/// An answer we cannot turn into facts; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable mockpay answer: {0}")]
pub struct Unreadable(pub String);

// ---------------------------------------------------------------------------------------------
// Requests

/// `POST /v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreate {
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    pub pay_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `manual` to authorise only (captured later); absent for mockpay's default, automatic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_method: Option<&'static str>,
}

/// `POST /v1/payments/{orderId}/capture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureCreate {
    pub amount: i64,
}

impl PaymentCreate {
    /// The create request for `request`, with the notification URL already chosen. The subject
    /// is cut to mockpay's 256 characters (the same cut every time, so a repeat stays identical).
    pub fn from_request(request: &PayRequest, notify_url: Option<String>) -> Self {
        Self {
            order_id: request.trade_no.clone(),
            amount: request.amount.minor_units(),
            currency: request.amount.currency().code().to_owned(),
            description: request.subject.chars().take(DESCRIPTION_MAX_CHARS).collect(),
            pay_method: pay_method(request.pay_method),
            notify_url,
            return_url: request.return_url.clone(),
            expires_at: request.expires_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            capture_method: request.capture.is_manual().then_some("manual"),
        }
    }
}

/// `POST /v1/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundCreate {
    pub order_id: String,
    pub refund_id: String,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

impl RefundCreate {
    pub fn from_request(request: &RefundRequest, notify_url: Option<String>) -> Self {
        Self {
            order_id: request.trade_no.clone(),
            refund_id: request.refund_trade_no.clone(),
            amount: request.amount.minor_units(),
            reason: request.reason.clone(),
            notify_url,
        }
    }
}

/// Our pay method as mockpay's `payMethod`. mockpay has no barcode payments: the adapter refuses
/// them before building a request (and ingest refuses them at the door), so none reaches here.
pub fn pay_method(method: PayMethod) -> &'static str {
    match method {
        PayMethod::Barcode => "barcode",
        PayMethod::Redirect => "redirect",
        PayMethod::Form => "form",
        PayMethod::Qr => "qr",
        PayMethod::ClientSecret => "client_secret",
        PayMethod::Direct => "direct",
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// The envelope of every answer: `{returnCode, returnMessage, info}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseEnvelope {
    pub return_code: String,
    #[serde(default)]
    pub return_message: String,
    #[serde(default)]
    pub info: Option<Value>,
}

impl ResponseEnvelope {
    pub fn parse(body: &str) -> Result<Self, Unreadable> {
        serde_json::from_str(body).map_err(|e| {
            Unreadable(format!(
                "the body is not a {{returnCode, returnMessage, info}} envelope ({e}): {}",
                excerpt(body)
            ))
        })
    }

    /// `info` read as `T`; an error if it is absent or has another shape.
    pub fn info<T: DeserializeOwned>(&self, what: &str) -> Result<T, Unreadable> {
        let info = self
            .info
            .as_ref()
            .ok_or_else(|| Unreadable(format!("{} answer has no info, expected {what}", self.return_code)))?;
        serde_json::from_value(info.clone())
            .map_err(|e| Unreadable(format!("{} answer's info is not {what}: {e}", self.return_code)))
    }
}

fn excerpt(body: &str) -> String {
    const MAX: usize = 200;
    if body.is_empty() {
        "(empty body)".to_owned()
    } else if body.chars().count() > MAX {
        format!("{}…", body.chars().take(MAX).collect::<String>())
    } else {
        body.to_owned()
    }
}

/// `info` of a create answer (and of a decline, which carries the DECLINED payment).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreated {
    pub transaction_id: String,
    pub order_id: String,
    pub status: MockpayPaymentStatus,
    #[serde(default)]
    pub action: Option<PaymentAction>,
}

/// `action`, in any of its four shapes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAction {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub form: Option<Map<String, Value>>,
    #[serde(default)]
    pub qr_code: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl PaymentAction {
    /// Our unified shape of the action.
    pub fn to_customer_action(&self) -> Result<CustomerAction, Unreadable> {
        if let Some(qr_code) = &self.qr_code {
            return Ok(CustomerAction::QrCode { qr_code: qr_code.clone() });
        }
        if let Some(client_secret) = &self.client_secret {
            return Ok(CustomerAction::client_secret(client_secret.clone()));
        }
        match (self.method.as_deref(), &self.url, &self.form) {
            (Some("GET"), Some(url), None) => {
                Ok(CustomerAction::Redirect { method: HttpGet::Get, url: url.clone() })
            }
            (Some("POST"), Some(url), Some(form)) => {
                Ok(CustomerAction::Form { method: HttpPost::Post, url: url.clone(), form: form.clone() })
            }
            _ => Err(Unreadable(format!(
                "action is none of {{method:GET,url}}, {{method:POST,url,form}}, {{qrCode}}, {{clientSecret}}: {self:?}"
            ))),
        }
    }
}

/// `info` of a payment query.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    pub transaction_id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: MockpayPaymentStatus,
    #[serde(default)]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub refunds: Vec<PaymentRefund>,
    #[serde(default)]
    pub refunded_amount: Option<i64>,
    /// What was captured of a manual-capture payment, once captured.
    #[serde(default)]
    pub captured_amount: Option<i64>,
}

/// One entry of a payment's `refunds`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefund {
    pub refund_id: String,
    pub amount: i64,
    pub status: MockpayRefundStatus,
}

/// `info` of a close answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStatusInfo {
    pub transaction_id: String,
    pub order_id: String,
    pub status: MockpayPaymentStatus,
}

/// `info` of a refund create or refund query answer (`amount` only in the query).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundInfo {
    pub refund_transaction_id: String,
    pub refund_id: String,
    pub order_id: String,
    pub status: MockpayRefundStatus,
    #[serde(default)]
    pub amount: Option<i64>,
}

// ---------------------------------------------------------------------------------------------
// Conversions

fn money(field: &str, minor: i64, currency: Currency) -> Result<Money, Unreadable> {
    Money::from_minor(minor, currency).map_err(|e| Unreadable(format!("{field}: {e}")))
}

fn same(field: &str, got: &str, expected: &str) -> Result<(), Unreadable> {
    if got == expected {
        Ok(())
    } else {
        Err(Unreadable(format!("the answer is about {field} {got:?}, the request was about {expected:?}")))
    }
}

impl PaymentCreated {
    /// Facts from a create answer. A WAITING payment must come with its action: without it the
    /// customer cannot pay, and that is not an answer we can act on.
    pub fn into_facts(self, order_id: &str) -> Result<PaymentFacts, Unreadable> {
        same("orderId", &self.order_id, order_id)?;
        let status = self.status.ours()?;
        let action = match (&status, &self.action) {
            (PaymentStatus::WaitingForCustomer, Some(a)) => Some(a.to_customer_action()?),
            (PaymentStatus::WaitingForCustomer, None) => {
                return Err(Unreadable("a WAITING payment came without its action".to_owned()));
            }
            _ => None,
        };
        Ok(PaymentFacts {
            status,
            provider_txn_id: Some(self.transaction_id),
            action,
            amount: None,
            refunded: None,
            paid_at: None,
        })
    }
}

impl PaymentInfo {
    /// Facts from a query answer. The amounts are in the currency mockpay states for the payment
    /// (it must be one we know), so a currency that differs from ours shows as an amount mismatch
    /// rather than being relabelled.
    pub fn into_facts(self, order_id: &str) -> Result<PaymentFacts, Unreadable> {
        same("orderId", &self.order_id, order_id)?;
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Unreadable(format!("the payment's currency: {e}")))?;
        Ok(PaymentFacts {
            status: self.status.ours()?,
            provider_txn_id: Some(self.transaction_id),
            action: None,
            amount: Some(money("amount", self.amount, currency)?),
            refunded: self.refunded_amount.map(|r| money("refundedAmount", r, currency)).transpose()?,
            paid_at: self.paid_at,
        })
    }
}

impl PaymentStatusInfo {
    pub fn into_facts(self, order_id: &str) -> Result<PaymentFacts, Unreadable> {
        same("orderId", &self.order_id, order_id)?;
        Ok(PaymentFacts {
            provider_txn_id: Some(self.transaction_id),
            ..PaymentFacts::status(self.status.ours()?)
        })
    }
}

impl RefundInfo {
    /// Facts from a refund or refund query answer, in the payment's currency (a refund is always
    /// in its payment's currency).
    pub fn into_facts(
        self,
        order_id: &str,
        refund_id: &str,
        currency: Currency,
    ) -> Result<RefundFacts, Unreadable> {
        same("refundId", &self.refund_id, refund_id)?;
        same("orderId", &self.order_id, order_id)?;
        Ok(RefundFacts {
            status: self.status.ours()?,
            provider_refund_id: Some(self.refund_transaction_id),
            amount: self.amount.map(|a| money("amount", a, currency)).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pay_request() -> PayRequest {
        PayRequest {
            capture: Default::default(),
            trade_no: "ord-1001".into(),
            amount: Money::from_minor(1500, Currency::JPY).unwrap(),
            subject: "coffee beans".into(),
            pay_method: PayMethod::Redirect,
            notify_url: None,
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer: Default::default(),
        }
    }

    #[test]
    fn a_create_request_serialises_as_the_readme_shows() {
        let body =
            PaymentCreate::from_request(&pay_request(), Some("http://127.0.0.1:8083/notify/mockpay".into()));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"orderId":"ord-1001","amount":1500,"currency":"JPY","description":"coffee beans","payMethod":"redirect","notifyUrl":"http://127.0.0.1:8083/notify/mockpay"}"#
        );
    }

    #[test]
    fn minor_units_travel_unchanged() {
        let mut r = pay_request();
        r.amount = Money::from_minor(12345, Currency::CNY).unwrap();
        let body = PaymentCreate::from_request(&r, None);
        assert_eq!((body.amount, body.currency.as_str()), (12345, "CNY"));
    }

    #[test]
    fn every_action_shape_becomes_the_unified_one() {
        let cases = [
            (json!({"method":"GET","url":"http://x/pay/2"}), json!({"method":"GET","url":"http://x/pay/2"})),
            (
                json!({"method":"POST","url":"http://x/pay/2","form":{"amount":"1500"}}),
                json!({"method":"POST","url":"http://x/pay/2","form":{"amount":"1500"}}),
            ),
            (json!({"qrCode":"mockpay://pay/2"}), json!({"qr_code":"mockpay://pay/2"})),
            (json!({"clientSecret":"2_secret_ab"}), json!({"client_secret":"2_secret_ab"})),
        ];
        for (wire, ours) in cases {
            let action: PaymentAction = serde_json::from_value(wire).unwrap();
            assert_eq!(serde_json::to_value(action.to_customer_action().unwrap()).unwrap(), ours);
        }
        let odd: PaymentAction = serde_json::from_value(json!({"method":"PUT","url":"http://x"})).unwrap();
        assert!(odd.to_customer_action().is_err());
    }

    #[test]
    fn a_waiting_payment_without_an_action_is_unreadable() {
        let info = PaymentCreated {
            transaction_id: "2000000000000000001".into(),
            order_id: "ord-1001".into(),
            status: MockpayPaymentStatus::Waiting,
            action: None,
        };
        assert!(info.into_facts("ord-1001").is_err());
    }

    #[test]
    fn an_answer_about_another_order_is_unreadable() {
        let info = PaymentStatusInfo {
            transaction_id: "2000000000000000001".into(),
            order_id: "ord-2".into(),
            status: MockpayPaymentStatus::Closed,
        };
        assert!(info.into_facts("ord-1").unwrap_err().0.contains("ord-2"));
    }

    #[test]
    fn query_facts_keep_the_transaction_id_as_a_string() {
        let info: PaymentInfo = serde_json::from_value(json!({
            "transactionId": "2000000123456789012", "orderId": "o", "amount": 1500, "currency": "JPY",
            "status": "SUCCEEDED", "paidAt": "2026-01-01T00:00:05.123Z", "refunds": [], "refundedAmount": 500
        }))
        .unwrap();
        let facts = info.into_facts("o").unwrap();
        assert_eq!(facts.provider_txn_id.as_deref(), Some("2000000123456789012"));
        assert_eq!(facts.amount, Some(Money::from_minor(1500, Currency::JPY).unwrap()));
        assert_eq!(facts.refunded, Some(Money::from_minor(500, Currency::JPY).unwrap()));
        assert!(facts.paid_at.is_some());
    }
}
