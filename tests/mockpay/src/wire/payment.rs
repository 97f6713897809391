//! Payment requests and answers on the wire, and their conversions.

use crate::model::{NewPayment, PayMethod, PaymentStatus, PaymentView};
use crate::wire::{check_id, check_url, time};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the customer is asked to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WirePayMethod {
    Redirect,
    Form,
    Qr,
    ClientSecret,
    Direct,
}

/// `POST /v1/payments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePaymentRequest {
    /// The merchant's trade number; the idempotency key of the payment.
    pub order_id: String,
    /// Integer minor units, > 0.
    pub amount: i64,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    pub description: String,
    pub pay_method: WirePayMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `automatic` (default) or `manual`: paying only authorises; a capture takes the money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_method: Option<WireCaptureMethod>,
}

/// When the money is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireCaptureMethod {
    Automatic,
    Manual,
}

/// `POST /v1/payments/{orderId}/capture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaptureRequest {
    /// Integer minor units, > 0, at most the authorised amount.
    pub amount: i64,
}

impl CreatePaymentRequest {
    pub(crate) fn into_new_payment(self) -> Result<NewPayment, String> {
        check_id("orderId", &self.order_id)?;
        if self.amount <= 0 {
            return Err("amount: must be a positive integer in minor units".into());
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("currency: must be an ISO 4217 code of three upper-case letters".into());
        }
        if self.description.chars().count() > 256 {
            return Err("description: at most 256 characters".into());
        }
        check_url("notifyUrl", &self.notify_url)?;
        check_url("returnUrl", &self.return_url)?;
        Ok(NewPayment {
            order_id: self.order_id,
            amount: self.amount,
            currency: self.currency,
            description: self.description,
            pay_method: match self.pay_method {
                WirePayMethod::Redirect => PayMethod::Redirect,
                WirePayMethod::Form => PayMethod::Form,
                WirePayMethod::Qr => PayMethod::Qr,
                WirePayMethod::ClientSecret => PayMethod::ClientSecret,
                WirePayMethod::Direct => PayMethod::Direct,
            },
            notify_url: self.notify_url,
            return_url: self.return_url,
            expires_at: self.expires_at,
            capture_manual: self.capture_method == Some(WireCaptureMethod::Manual),
        })
    }
}

/// What the customer must do to pay a WAITING payment. Exactly one shape is present:
/// `{method:"GET",url}`, `{method:"POST",url,form}`, `{qrCode}` or `{clientSecret}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `info` of `POST /v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePaymentInfo {
    /// 19 digits, above 2^53: keep it a string.
    pub transaction_id: String,
    pub order_id: String,
    /// WAITING, SUCCEEDED, DECLINED, CLOSED or EXPIRED.
    pub status: String,
    /// Present while the payment is WAITING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PayAction>,
}

/// A refund as listed in a payment query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundSummary {
    pub refund_id: String,
    pub amount: i64,
    /// PROCESSING, SUCCEEDED or FAILED.
    pub status: String,
}

/// `info` of `GET /v1/payments/{orderId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInfo {
    pub transaction_id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// For a DECLINED payment: 1101 or 1102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    pub refunds: Vec<RefundSummary>,
    /// The sum of the SUCCEEDED refunds.
    pub refunded_amount: i64,
    /// What a capture took of a manual-capture payment, once captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_amount: Option<i64>,
}

/// `info` of close and of the customer/admin pay and decline actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStatusInfo {
    pub transaction_id: String,
    pub order_id: String,
    pub status: String,
}

pub(crate) fn action(view: &PaymentView, base_url: &str) -> Option<PayAction> {
    let p = &view.payment;
    if p.status != PaymentStatus::Waiting {
        return None;
    }
    let pay_url = format!("{base_url}/pay/{}", p.transaction_id);
    Some(match p.pay_method {
        PayMethod::Redirect => {
            PayAction { method: Some("GET".into()), url: Some(pay_url), ..PayAction::default() }
        }
        PayMethod::Form => PayAction {
            method: Some("POST".into()),
            url: Some(pay_url),
            form: Some(BTreeMap::from([
                ("transactionId".to_owned(), p.transaction_id.clone()),
                ("orderId".to_owned(), p.key.order_id.clone()),
                ("amount".to_owned(), p.amount.to_string()),
                ("currency".to_owned(), p.currency.clone()),
            ])),
            ..PayAction::default()
        },
        PayMethod::Qr => {
            PayAction { qr_code: Some(format!("mockpay://pay/{}", p.transaction_id)), ..PayAction::default() }
        }
        PayMethod::ClientSecret => {
            PayAction { client_secret: p.client_secret.clone(), ..PayAction::default() }
        }
        PayMethod::Direct => return None,
    })
}

pub(crate) fn create_info(view: &PaymentView, base_url: &str) -> CreatePaymentInfo {
    CreatePaymentInfo {
        transaction_id: view.payment.transaction_id.clone(),
        order_id: view.payment.key.order_id.clone(),
        status: view.payment.status.as_str().to_owned(),
        action: action(view, base_url),
    }
}

pub(crate) fn payment_info(view: &PaymentView) -> PaymentInfo {
    let p = &view.payment;
    PaymentInfo {
        transaction_id: p.transaction_id.clone(),
        order_id: p.key.order_id.clone(),
        amount: p.amount,
        currency: p.currency.clone(),
        status: p.status.as_str().to_owned(),
        paid_at: p.paid_at.map(time),
        decline_code: p.decline_code.map(|c| c.code().to_owned()),
        refunds: view
            .refunds
            .iter()
            .map(|r| RefundSummary {
                refund_id: r.key.refund_id.clone(),
                amount: r.amount,
                status: r.status.as_str().to_owned(),
            })
            .collect(),
        refunded_amount: view.refunded_amount(),
        captured_amount: p.captured_amount,
    }
}

pub(crate) fn status_info(view: &PaymentView) -> PaymentStatusInfo {
    PaymentStatusInfo {
        transaction_id: view.payment.transaction_id.clone(),
        order_id: view.payment.key.order_id.clone(),
        status: view.payment.status.as_str().to_owned(),
    }
}
