//! What the HTTP API shows of a payment and a refund (`data` of their answers), and the request
//! bodies as the OpenAPI document describes them. Amounts are decimal strings in whole units with
//! their currency, as the commands take them.
//!
//! The request types only describe: a body is read by the commands' own parser
//! (`paygate::messages::commands::Command::parse`), field by field, so that the HTTP API and the
//! AMQP commands refuse the same things with the same words.

use chrono::{DateTime, Utc};
use paygate::domain::Currency;
use paygate::store::payments::Payment;
use paygate::store::refunds::Refund;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub merchant_order_no: String,
    /// created, pending, action_required, unknown, succeeded, failed, closed, expired,
    /// partially_refunded, refunded; with manual capture also authorized, capturing, voiding,
    /// voided.
    pub state: String,
    /// Decimal string in whole units, e.g. "12.34".
    pub amount: String,
    pub currency: String,
    pub provider: String,
    pub pay_method: String,
    pub order_type: String,
    pub subject: String,
    /// What the customer must do, once the provider said: `{"method": "GET", "url"}`,
    /// `{"method": "POST", "url", "form"}`, `{"qr_code"}` or `{"client_secret"}` (at Stripe with a
    /// publishable key configured, `{"client_secret", "publishable_key", "api_base"}`: what a
    /// browser needs to confirm with Stripe itself; never a secret key).
    #[schema(value_type = Object, nullable)]
    pub action: Option<Value>,
    pub provider_txn_id: Option<String>,
    /// What was captured of a manual-capture payment, decimal string, once captured.
    pub captured: Option<String>,
    /// How much has been refunded, decimal string.
    pub refunded: String,
    pub flags: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where to read this payment again (signed GET).
    pub poll_url: String,
}

impl PaymentView {
    pub fn of(p: &Payment) -> Self {
        PaymentView {
            payment_id: p.id,
            merchant_order_no: p.merchant_order_no.clone(),
            state: p.state.to_string(),
            amount: p.amount.to_decimal_string(),
            currency: p.amount.currency().code().to_owned(),
            provider: p.provider.as_str().to_owned(),
            pay_method: p.pay_method.to_string(),
            order_type: p.order_type.clone(),
            subject: p.subject.clone(),
            action: p.customer_action.clone(),
            provider_txn_id: p.provider_txn_id.clone(),
            captured: p.captured.map(|c| c.to_decimal_string()),
            refunded: p.refunded.to_decimal_string(),
            flags: p.flags.clone(),
            expires_at: p.expires_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
            poll_url: payment_url(&p.merchant_order_no),
        }
    }
}

/// A refund.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    pub refund_id: Uuid,
    pub refund_no: String,
    pub payment_id: Uuid,
    /// requested, awaiting_approval, rejected, processing, succeeded, failed, …
    pub state: String,
    pub amount: String,
    pub currency: String,
    pub reason: Option<String>,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub provider_refund_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where to read this refund again (signed GET).
    pub poll_url: String,
}

impl RefundView {
    pub fn of(r: &Refund) -> Self {
        RefundView {
            refund_id: r.id,
            refund_no: r.refund_no.clone(),
            payment_id: r.payment_id,
            state: r.state.to_string(),
            amount: r.amount.to_decimal_string(),
            currency: r.amount.currency().code().to_owned(),
            reason: r.reason.clone(),
            requested_by: r.requested_by.clone(),
            approved_by: r.approved_by.clone(),
            provider_refund_id: r.provider_refund_id.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            poll_url: refund_url(&r.refund_no),
        }
    }
}

/// A path segment, percent-encoded where it must be (order numbers are mostly URL-safe).
fn segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

pub fn payment_url(merchant_order_no: &str) -> String {
    format!("/v1/payments/{}", segment(merchant_order_no))
}

pub fn refund_url(refund_no: &str) -> String {
    format!("/v1/refunds/{}", segment(refund_no))
}

/// A signed amount of minor units as a decimal string in whole units (fees may be negative).
pub fn decimal(minor: i64, currency: Currency) -> String {
    let exponent = usize::from(currency.exponent());
    let per_unit = currency.minor_per_unit();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let per = per_unit.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    format!("{sign}{}.{:0exponent$}", abs / per, abs % per)
}

/// A success carrying a payment (the OpenAPI document's description of [`super::response::Body`]
/// when `data` is a payment).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PaymentAnswer {
    /// `ok`, `created` or `accepted`.
    pub code: String,
    pub message: String,
    pub data: PaymentView,
}

/// What a create answers: a payment, or with `cashier: true` a cashier session. Only the
/// OpenAPI document's schema: never built, so the size of its variants does not matter.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
pub enum CreateAnswer {
    Payment(PaymentAnswer),
    Cashier(crate::cashier::open::CashierAnswer),
}

/// A success carrying a refund.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RefundAnswer {
    /// `ok` or `accepted`.
    pub code: String,
    pub message: String,
    pub data: RefundView,
}

/// `POST /v1/payments`: the pay command's fields (docs/messages.md), without `merchant_id`
/// (the key's). The patterns are the commands' own rules where a pattern can say them.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PayRequest {
    /// The merchant's number for the order; a repeat with the same parameters is the same payment.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001")]
    pub merchant_order_no: String,
    /// Decimal string in whole units, at most the currency's decimals, greater than zero.
    #[schema(pattern = "^[0-9]{1,12}(\\.[0-9]{1,3})?$", example = "12.34")]
    pub amount: String,
    /// ISO 4217, one paygate supports.
    #[schema(pattern = "^[A-Z]{3}$", example = "CNY")]
    pub currency: String,
    /// A configured provider. Required, unless `cashier` is true (then left out).
    #[schema(pattern = "^[a-z0-9_]{1,32}$", example = "mockpay")]
    pub provider: Option<String>,
    /// What the provider takes. Required, unless `cashier` is true (then left out).
    #[schema(example = "qr")]
    pub pay_method: Option<PayMethodName>,
    /// `true`: the customer chooses the provider and method on paygate's hosted cashier; the
    /// answer carries `data.cashier_url` (docs/cashier.md).
    pub cashier: Option<bool>,
    #[schema(pattern = "^[a-z0-9_]{1,32}$", example = "retail")]
    pub order_type: String,
    #[schema(min_length = 1, max_length = 128, example = "Coffee")]
    pub subject: String,
    #[schema(pattern = "^https?://[^\\s]{1,1016}$")]
    pub return_url: Option<String>,
    /// RFC 3339, in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// At most 4096 bytes as JSON.
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
    /// The customer's payment code: for pay_method barcode only, and required there.
    pub auth_code: Option<String>,
    /// Who pays, where the provider needs it.
    pub payer: Option<PayerRequest>,
    /// `manual`: only authorise; capture or void later (providers that authorise separately).
    pub capture: Option<CaptureModeName>,
}

/// `capture`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CaptureModeName {
    Automatic,
    Manual,
}

/// `POST /v1/payments/{merchant_order_no}/capture`: the capture command's fields (docs/messages.md).
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CaptureRequest {
    /// Decimal string in whole units, more than zero and at most the authorised amount.
    #[schema(pattern = "^[0-9]{1,12}(\\.[0-9]{1,3})?$", example = "12.34")]
    pub amount: String,
    /// The payment's currency.
    #[schema(pattern = "^[A-Z]{3}$", example = "USD")]
    pub currency: String,
}

/// `pay_method`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PayMethodName {
    Redirect,
    Form,
    Qr,
    ClientSecret,
    Direct,
    Barcode,
}

/// `payer`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PayerRequest {
    /// WeChat Pay JSAPI's payer.
    pub openid: Option<String>,
    /// WeChat Pay H5's payer's IP address.
    pub client_ip: Option<String>,
}

/// `POST /v1/refunds`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RefundRequest {
    /// The merchant's number for the refund; a repeat with the same parameters is the same refund.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "refund-1")]
    pub refund_no: String,
    /// The payment to refund.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "order-1001")]
    pub merchant_order_no: String,
    #[schema(pattern = "^[0-9]{1,12}(\\.[0-9]{1,3})?$", example = "2.00")]
    pub amount: String,
    #[schema(pattern = "^[A-Z]{3}$", example = "CNY")]
    pub currency: String,
    /// Who asks for it (an approver must be someone else).
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", example = "alice")]
    pub requested_by: String,
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

/// `POST /v1/refunds/{refund_no}/approve` and `/reject`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DecisionRequest {
    /// Who decides; to approve, not whoever requested the refund.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", example = "bob")]
    pub approver: String,
    /// Why: required to reject.
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use paygate::domain::PayMethod;

    /// The document's pay methods are the commands' own.
    #[test]
    fn the_documented_pay_methods_are_the_ones_the_commands_take() {
        let documented = [
            PayMethodName::Redirect,
            PayMethodName::Form,
            PayMethodName::Qr,
            PayMethodName::ClientSecret,
            PayMethodName::Direct,
            PayMethodName::Barcode,
        ];
        for name in &documented {
            let text = serde_json::to_value(name).unwrap();
            assert!(PayMethod::parse(text.as_str().unwrap()).is_ok(), "{text}");
        }
        let refused = PayMethod::parse("nope").unwrap_err().rule().to_owned();
        let listed = refused.matches(", ").count() + 1;
        assert_eq!(listed, documented.len(), "every pay method is documented: {refused}");
    }
}
