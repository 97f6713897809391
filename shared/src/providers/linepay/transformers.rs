//! LINE Pay's wire types (Online API v3 and the offline/POS API v2) and their conversions to and
//! from our terms.
//!
//! - Amounts: LINE Pay takes whole currency units for TWD and JPY (PROVIDERS.md: "LINE Pay uses
//!   currency units"); ours are minor units ([`to_wire`], [`from_wire`]). An amount that is not a
//!   whole number of units (TWD 10.50) cannot be sent exactly and is refused before sending. THB
//!   and USD are refused too: whether LINE Pay takes their decimals is not confirmed
//!   (docs/providers/linepay.md).
//! - Transaction ids are 19-digit numbers above 2^53: they are read as strings, from a JSON
//!   string or an integer, never through a float ([`TxnId`]).
//! - Every answer is `{returnCode, returnMessage, info}` ([`Envelope`]).

use crate::domain::{Currency, Money};
use crate::providers::adapter::PayRequest;
use serde::{Deserialize, Deserializer, Serialize};

/// Why a request cannot be sent: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSendable {
    pub field: &'static str,
    pub rule: String,
}

impl std::fmt::Display for NotSendable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// An answer we cannot read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// The currencies the adapter sends, each in whole units at LINE Pay.
pub const WHOLE_UNIT_CURRENCIES: [Currency; 2] = [Currency::TWD, Currency::JPY];

/// Our amount in LINE Pay's units, or why it cannot be sent exactly.
pub fn to_wire(amount: Money, field: &'static str) -> Result<i64, NotSendable> {
    let currency = amount.currency();
    if !WHOLE_UNIT_CURRENCIES.contains(&currency) {
        return Err(NotSendable {
            field,
            rule: format!(
                "the LINE Pay adapter takes TWD and JPY only (whole units at LINE Pay); {} is not sent: \
                 whether LINE Pay takes its decimals is not confirmed",
                currency.as_str()
            ),
        });
    }
    let per_unit = currency.minor_per_unit();
    let minor = amount.minor_units();
    if minor <= 0 {
        return Err(NotSendable { field, rule: "must be more than 0".into() });
    }
    if minor % per_unit != 0 {
        return Err(NotSendable {
            field,
            rule: format!(
                "LINE Pay takes {} in whole units only; {} cannot be sent exactly",
                currency.as_str(),
                amount.to_decimal_string()
            ),
        });
    }
    Ok(minor / per_unit)
}

/// LINE Pay's whole-unit `amount` of `currency` in our minor units.
pub fn from_wire(amount: i64, currency: Currency) -> Result<Money, Unreadable> {
    amount
        .checked_mul(currency.minor_per_unit())
        .and_then(|minor| Money::from_minor(minor, currency).ok())
        .ok_or_else(|| Unreadable(format!("the amount {amount} {} is out of range", currency.as_str())))
}

/// A LINE Pay transaction id: digits, from a JSON string or an integer (never a float).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnId(pub String);

impl<'de> Deserialize<'de> for TxnId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
        }
        let id = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Int(n) => n.to_string(),
        };
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!("a transaction id must be digits (got {id:?})")));
        }
        Ok(TxnId(id))
    }
}

/// Whether `id` looks like a LINE Pay transaction id (digits only): what is put in a path.
pub fn is_txn_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Every answer's envelope; `info` is read per operation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub return_code: String,
    #[serde(default)]
    pub return_message: String,
    #[serde(default)]
    pub info: Option<serde_json::Value>,
}

/// Reads an answer's envelope.
pub fn envelope(body: &str) -> Result<Envelope, Unreadable> {
    serde_json::from_str(body).map_err(|e| Unreadable(format!("the answer is not a LINE Pay envelope: {e}")))
}

/// Reads an envelope's `info` as `T` (`what` names it for the error).
pub fn info<T: serde::de::DeserializeOwned>(envelope: &Envelope, what: &str) -> Result<T, Unreadable> {
    let info = envelope.info.clone().ok_or_else(|| Unreadable(format!("{what}: info is missing")))?;
    serde_json::from_value(info).map_err(|e| Unreadable(format!("{what}: {e}")))
}

// ---- Online API v3: request -------------------------------------------------------------------

/// The longest product name we send (LINE Pay's `products[].name` takes up to 4000 characters).
const MAX_NAME_CHARS: usize = 4000;

/// `POST /v3/payments/request`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest<'a> {
    pub amount: i64,
    pub currency: &'static str,
    pub order_id: &'a str,
    pub packages: [Package; 1],
    pub redirect_urls: RedirectUrls,
    /// `options.payment.capture: false` for a manual-capture payment; absent otherwise (LINE Pay
    /// captures at confirm by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<RequestOptions>,
}

/// `options` of a request: only `payment.capture` is sent.
#[derive(Debug, Serialize)]
pub struct RequestOptions {
    pub payment: PaymentOptions,
}

#[derive(Debug, Serialize)]
pub struct PaymentOptions {
    pub capture: bool,
}

#[derive(Debug, Serialize)]
pub struct Package {
    pub id: &'static str,
    pub amount: i64,
    pub products: [Product; 1],
}

#[derive(Debug, Serialize)]
pub struct Product {
    pub name: String,
    pub quantity: i64,
    pub price: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectUrls {
    pub confirm_url: String,
    pub cancel_url: String,
}

/// The request body of `request`: one package of one product (the subject), the whole amount.
pub fn payment_request<'a>(
    request: &'a PayRequest,
    confirm_url: String,
    cancel_url: String,
) -> Result<PaymentRequest<'a>, NotSendable> {
    let amount = to_wire(request.amount, "amount")?;
    let name: String = request.subject.chars().take(MAX_NAME_CHARS).collect();
    if name.trim().is_empty() {
        return Err(NotSendable {
            field: "subject",
            rule: "LINE Pay needs a product name: must not be empty".into(),
        });
    }
    Ok(PaymentRequest {
        amount,
        currency: request.amount.currency().as_str(),
        order_id: &request.trade_no,
        packages: [Package { id: "1", amount, products: [Product { name, quantity: 1, price: amount }] }],
        redirect_urls: RedirectUrls { confirm_url, cancel_url },
        options: request
            .capture
            .is_manual()
            .then_some(RequestOptions { payment: PaymentOptions { capture: false } }),
    })
}

/// `info` of a `request` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestInfo {
    pub payment_url: PaymentUrl,
    pub transaction_id: TxnId,
}

#[derive(Debug, Deserialize)]
pub struct PaymentUrl {
    pub web: String,
    #[serde(default)]
    pub app: Option<String>,
}

// ---- confirm, details, refund -----------------------------------------------------------------

/// `POST /v3/payments/{transactionId}/confirm`, and
/// `POST /v3/payments/authorizations/{transactionId}/capture` (the same body).
#[derive(Debug, Serialize)]
pub struct ConfirmRequest {
    pub amount: i64,
    pub currency: &'static str,
}

/// One payment method's share of a payment.
#[derive(Debug, Deserialize)]
pub struct PayInfo {
    pub amount: i64,
}

/// `info` of a `confirm` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmInfo {
    pub transaction_id: TxnId,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub pay_info: Vec<PayInfo>,
    /// Given when the payment was only authorised (`capture: false`): until when LINE Pay holds
    /// it.
    #[serde(default)]
    pub authorization_expire_date: Option<String>,
}

/// A payment's `payStatus` in the details: only an authorisation (`capture: false`) has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayStatus {
    /// Captured (at confirm, or by a capture): no `payStatus`, or `CAPTURE`.
    Captured,
    /// `AUTHORIZATION`: authorised, held, nothing taken yet.
    Authorized,
    /// `VOIDED_AUTHORIZATION`: released by our void.
    Voided,
    /// `EXPIRED_AUTHORIZATION`: released by LINE Pay at its expiry.
    Expired,
}

/// The `payStatus` values paygate knows (LINE Pay's authorisation statuses); any other is
/// unreadable, never guessed.
pub fn pay_status(status: Option<&str>) -> Option<PayStatus> {
    match status {
        None | Some("CAPTURE") => Some(PayStatus::Captured),
        Some("AUTHORIZATION") => Some(PayStatus::Authorized),
        Some("VOIDED_AUTHORIZATION") => Some(PayStatus::Voided),
        Some("EXPIRED_AUTHORIZATION") => Some(PayStatus::Expired),
        Some(_) => None,
    }
}

/// One refund in a payment's `refundList`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundEntry {
    pub refund_transaction_id: TxnId,
    pub refund_amount: i64,
    #[serde(default)]
    pub refund_transaction_date: Option<String>,
}

/// One transaction in a payment details answer (`GET /v3/payments?orderId=…`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub transaction_id: TxnId,
    #[serde(default)]
    pub transaction_date: Option<String>,
    #[serde(default)]
    pub transaction_type: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub pay_info: Vec<PayInfo>,
    #[serde(default)]
    pub pay_status: Option<String>,
    #[serde(default)]
    pub refund_list: Vec<RefundEntry>,
}

impl Transaction {
    /// The amount paid: the sum of the pay infos, in our units of `currency`.
    pub fn paid(&self, currency: Currency) -> Result<Money, Unreadable> {
        let whole = self
            .pay_info
            .iter()
            .try_fold(0_i64, |sum, p| sum.checked_add(p.amount))
            .ok_or_else(|| Unreadable("the pay infos' sum overflows".into()))?;
        from_wire(whole, currency)
    }

    /// The amount refunded so far, in our units of `currency`.
    pub fn refunded(&self, currency: Currency) -> Result<Money, Unreadable> {
        let whole = self
            .refund_list
            .iter()
            .try_fold(0_i64, |sum, r| sum.checked_add(r.refund_amount))
            .ok_or_else(|| Unreadable("the refunds' sum overflows".into()))?;
        from_wire(whole, currency)
    }

    /// Whether the transaction says it is in another currency than ours.
    pub fn currency_differs(&self, ours: Currency) -> bool {
        self.currency.as_deref().is_some_and(|c| c != ours.as_str())
    }
}

/// The payment of `order_id` among a details answer's transactions: the one of type `PAYMENT`
/// (or without a type) whose order id is ours, if any.
pub fn payment_of(list: Vec<Transaction>, order_id: &str) -> Result<Option<Transaction>, Unreadable> {
    let mut ours = list.into_iter().filter(|t| {
        t.transaction_type.as_deref().is_none_or(|k| k == "PAYMENT")
            && t.order_id.as_deref().is_none_or(|o| o == order_id)
    });
    let first = ours.next();
    if ours.next().is_some() {
        return Err(Unreadable(format!("more than one payment for order {order_id}")));
    }
    Ok(first)
}

/// `POST /v3/payments/{transactionId}/refund`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequestBody {
    pub refund_amount: i64,
}

/// `info` of a refund answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundInfo {
    pub refund_transaction_id: TxnId,
    #[serde(default)]
    pub refund_transaction_date: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PayMethod, Payer};

    fn money(minor: i64, c: Currency) -> Money {
        Money::from_minor(minor, c).unwrap()
    }

    #[test]
    fn whole_units_only_and_a_clear_refusal_otherwise() {
        assert_eq!(to_wire(money(100_000, Currency::TWD), "amount"), Ok(1000));
        assert_eq!(to_wire(money(1, Currency::JPY), "amount"), Ok(1));
        let e = to_wire(money(1050, Currency::TWD), "amount").unwrap_err();
        assert_eq!(e.field, "amount");
        assert!(e.rule.contains("whole units") && e.rule.contains("10.50"), "{e}");
        let e = to_wire(money(1000, Currency::THB), "amount").unwrap_err();
        assert!(e.rule.contains("THB"), "{e}");
        assert_eq!(from_wire(1000, Currency::TWD), Ok(money(100_000, Currency::TWD)));
        assert_eq!(from_wire(7, Currency::JPY), Ok(money(7, Currency::JPY)));
    }

    #[test]
    fn nineteen_digit_ids_stay_exact_from_a_number_or_a_string() {
        let n: TxnId = serde_json::from_str("2019060112345678910").unwrap();
        assert_eq!(n.0, "2019060112345678910");
        let s: TxnId = serde_json::from_str("\"2019060112345678910\"").unwrap();
        assert_eq!(s, n);
        assert!(serde_json::from_str::<TxnId>("2.019e18").is_err());
        assert!(serde_json::from_str::<TxnId>("\"12a\"").is_err());
        let env = envelope(r#"{"returnCode":"0000","returnMessage":"ok","info":{"transactionId":9007199254740993123,"paymentUrl":{"web":"https://w"}}}"#).unwrap();
        let info: RequestInfo = info(&env, "request").unwrap();
        assert_eq!(info.transaction_id.0, "9007199254740993123");
    }

    #[test]
    fn the_request_body_is_the_bytes_the_vectors_signed() {
        let request = PayRequest {
            trade_no: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            amount: money(100_000, Currency::TWD),
            subject: "測試商品 & more".into(),
            pay_method: PayMethod::Redirect,
            notify_url: None,
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer: Payer::default(),
            capture: Default::default(),
        };
        let body = payment_request(
            &request,
            "https://paygate.example/return/linepay/0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            "https://shop.example/cancel".into(),
        )
        .unwrap();
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../../tests/vectors/linepay/vectors.json")).unwrap();
        assert_eq!(
            crate::providers::http::json_body(&body),
            vectors["accepted"][0]["body_or_query"].as_str().unwrap()
        );
    }

    #[test]
    fn manual_capture_asks_for_capture_false_and_automatic_sends_no_options() {
        let mut request = PayRequest {
            trade_no: "t".into(),
            amount: money(100, Currency::JPY),
            subject: "s".into(),
            pay_method: PayMethod::Redirect,
            notify_url: None,
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer: Payer::default(),
            capture: crate::domain::CaptureMode::Automatic,
        };
        let body = |r: &PayRequest| -> serde_json::Value {
            serde_json::from_str(&crate::providers::http::json_body(
                &payment_request(r, "c".into(), "x".into()).unwrap(),
            ))
            .unwrap()
        };
        assert!(body(&request).get("options").is_none());
        request.capture = crate::domain::CaptureMode::Manual;
        assert_eq!(body(&request)["options"], serde_json::json!({"payment": {"capture": false}}));
    }

    #[test]
    fn the_payment_is_the_payment_type_of_our_order() {
        let list: Vec<Transaction> = serde_json::from_str(
            r#"[{"transactionId":"1","transactionType":"PAYMENT","orderId":"o","currency":"JPY","payInfo":[{"method":"BALANCE","amount":60},{"method":"DISCOUNT","amount":40}],
                 "refundList":[{"refundTransactionId":"2","refundAmount":30,"transactionType":"PARTIAL_REFUND"}]}]"#,
        )
        .unwrap();
        let t = payment_of(list, "o").unwrap().unwrap();
        assert_eq!(t.paid(Currency::JPY), Ok(money(100, Currency::JPY)));
        assert_eq!(t.refunded(Currency::JPY), Ok(money(30, Currency::JPY)));
        assert!(!t.currency_differs(Currency::JPY) && t.currency_differs(Currency::TWD));
    }
}
