//! Alipay's wire types and their conversions to and from ours (../shared/PROVIDERS.md, "Alipay
//! open platform"; issue 14).
//!
//! - A request is the common parameters (`app_id`, `method`, `format=JSON`, `charset=utf-8`,
//!   `sign_type=RSA2`, `timestamp` in Beijing time, `version=1.0`, `notify_url`, `return_url`)
//!   and `biz_content`, the method's own parameters as JSON ([`request_params`]). `mod.rs` signs
//!   them and either posts them to the gateway (precreate, pay, query, close, cancel, refund,
//!   refund query) or hands them to the customer as a signed URL or form on the gateway
//!   (`alipay.trade.page.pay` and `alipay.trade.wap.pay`: no call is made).
//! - Amounts (`total_amount`, `refund_amount`) are yuan strings with 2 decimals: [`yuan`] writes
//!   one from a [`Money`] in CNY (any other currency is refused: [`NotCny`]), [`money_of`] reads
//!   one exactly with `rust_decimal` (no float anywhere).
//! - An answer is the signed `*_response` object, read here after `signing` verified it: its
//!   `code`, `msg`, `sub_code`, `sub_msg`, and the method's fields ([`Answer`]). Unknown fields
//!   are tolerated.
//! - `trade_status` maps to our [`PaymentStatus`]: `WAIT_BUYER_PAY` waits for the customer,
//!   `TRADE_SUCCESS` and `TRADE_FINISHED` are paid, `TRADE_CLOSED` is closed, **unless the trade
//!   was paid** (it has a `send_pay_date`): a paid trade is also `TRADE_CLOSED` once fully
//!   refunded, and that is a payment that succeeded.
//! - A refund answered `10000` has succeeded only with `fund_change=Y`; otherwise it is processing
//!   and the refund query decides. A refund query without `refund_status` has not succeeded:
//!   still processing when the answer names the refund, not found when it names nothing.
//!
//! A conversion that cannot be made (an unknown status, a missing field, an answer about another
//! order) is an [`Unreadable`] error: the caller treats the call as UNKNOWN, never as success or
//! failure.

use crate::domain::{Currency, Money};
use crate::messages::events::{CustomerAction, HttpGet, HttpPost};
use crate::providers::adapter::{PayRequest, RefundRequest};
use crate::providers::answers::{PaymentFacts, PaymentStatus, RefundFacts, RefundStatus};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::str::FromStr;

/// Alipay's limit on `subject`, in characters.
pub const SUBJECT_MAX_CHARS: usize = 256;
/// `product_code` of PC web pay.
pub const PRODUCT_PAGE: &str = "FAST_INSTANT_TRADE_PAY";
/// `product_code` of mobile web pay.
pub const PRODUCT_WAP: &str = "QUICK_WAP_WAY";
/// `product_code` of face-to-face (barcode) pay.
pub const PRODUCT_FACE_TO_FACE: &str = "FACE_TO_FACE_PAYMENT";
/// `scene` of a barcode payment.
pub const SCENE_BAR_CODE: &str = "bar_code";

/// An answer we cannot turn into facts; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable Alipay answer: {0}")]
pub struct Unreadable(pub String);

/// An amount in a currency Alipay does not take here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Alipay takes CNY only (its amounts are yuan strings); this amount is in {0}")]
pub struct NotCny(pub String);

// ---------------------------------------------------------------------------------------------
// Amounts and times

/// `money` as Alipay's yuan string with 2 decimals (`12345` fen is `"123.45"`), CNY only.
pub fn yuan(money: Money) -> Result<String, NotCny> {
    check_cny(money.currency())?;
    Ok(money.to_decimal_string())
}

/// Refuses a currency other than CNY.
pub fn check_cny(currency: Currency) -> Result<(), NotCny> {
    if currency == Currency::CNY { Ok(()) } else { Err(NotCny(currency.code().to_owned())) }
}

/// A yuan string (`"88.88"`, `"10.5"`, `"3"`) as CNY [`Money`], exactly: digits with at most one
/// point, at most 2 decimals, not negative.
pub fn money_of(field: &str, value: &str) -> Result<Money, Unreadable> {
    let bad = |rule: &str| Unreadable(format!("{field}: {rule} (got {value:?})"));
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(bad("must be a yuan amount such as 88.88"));
    }
    let decimal = Decimal::from_str(value).map_err(|_| bad("must be a yuan amount such as 88.88"))?;
    Money::from_decimal(decimal, Currency::CNY).map_err(|e| bad(&e.to_string()))
}

use crate::providers::provider_day::china_standard_time as beijing;

/// A time as Alipay writes it: Beijing time, `yyyy-MM-dd HH:mm:ss`.
pub fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A Beijing time `yyyy-MM-dd HH:mm:ss` read back, in UTC.
pub fn utc_of(field: &str, value: &str) -> Result<DateTime<Utc>, Unreadable> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| {
        Unreadable(format!("{field}: must be a Beijing time yyyy-MM-dd HH:mm:ss (got {value:?})"))
    })?;
    Ok(beijing()
        .from_local_datetime(&naive)
        .single()
        .expect("a fixed offset maps every local time once")
        .with_timezone(&Utc))
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Who we are at Alipay, and the URLs of one request: the common parameters.
#[derive(Debug, Clone)]
pub struct Common<'a> {
    pub app_id: &'a str,
    pub method: &'a str,
    pub now: DateTime<Utc>,
    pub notify_url: Option<&'a str>,
    pub return_url: Option<&'a str>,
}

/// Every parameter of a request but `sign`: the common ones and `biz_content`.
pub fn request_params(common: &Common<'_>, biz_content: String) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("app_id", common.app_id.to_owned()),
        ("method", common.method.to_owned()),
        ("format", "JSON".to_owned()),
        ("charset", "utf-8".to_owned()),
        ("sign_type", super::signing::SIGN_TYPE.to_owned()),
        ("timestamp", beijing_time(common.now)),
        ("version", "1.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(url) = common.notify_url {
        params.push(("notify_url".to_owned(), url.to_owned()));
    }
    if let Some(url) = common.return_url {
        params.push(("return_url".to_owned(), url.to_owned()));
    }
    params.push(("biz_content".to_owned(), biz_content));
    params
}

/// `biz_content` as JSON.
pub fn biz_json<B: Serialize>(biz: &B) -> String {
    // Plain structs of strings: serialising them cannot fail.
    serde_json::to_string(biz).expect("Alipay biz_content serialises")
}

fn subject(request: &PayRequest) -> String {
    request.subject.chars().take(SUBJECT_MAX_CHARS).collect()
}

/// `biz_content` of `alipay.trade.precreate`, `alipay.trade.page.pay` and `alipay.trade.wap.pay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeCreate {
    pub out_trade_no: String,
    pub total_amount: String,
    pub subject: String,
    /// Page and wap pay only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_code: Option<&'static str>,
    /// When the unpaid trade closes, Beijing time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
}

impl TradeCreate {
    /// For `request`, with the product code of page or wap pay (`None` for precreate).
    pub fn from_request(
        request: &PayRequest,
        product_code: Option<&'static str>,
        seller_id: Option<&str>,
    ) -> Result<Self, NotCny> {
        Ok(Self {
            out_trade_no: request.trade_no.clone(),
            total_amount: yuan(request.amount)?,
            subject: subject(request),
            product_code,
            time_expire: request.expires_at.map(beijing_time),
            seller_id: seller_id.map(str::to_owned),
        })
    }
}

/// `biz_content` of `alipay.trade.pay` with the customer's barcode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BarcodePay {
    pub out_trade_no: String,
    pub scene: &'static str,
    /// The code the customer's Alipay app shows (read by the POS scanner).
    pub auth_code: String,
    pub product_code: &'static str,
    pub total_amount: String,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
}

impl BarcodePay {
    pub fn from_request(
        request: &PayRequest,
        auth_code: &str,
        seller_id: Option<&str>,
    ) -> Result<Self, NotCny> {
        Ok(Self {
            out_trade_no: request.trade_no.clone(),
            scene: SCENE_BAR_CODE,
            auth_code: auth_code.to_owned(),
            product_code: PRODUCT_FACE_TO_FACE,
            total_amount: yuan(request.amount)?,
            subject: subject(request),
            seller_id: seller_id.map(str::to_owned),
        })
    }
}

/// `biz_content` of `alipay.trade.query`, `alipay.trade.close` and `alipay.trade.cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRef {
    pub out_trade_no: String,
}

/// `biz_content` of `alipay.trade.refund`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundCreate {
    pub out_trade_no: String,
    pub refund_amount: String,
    /// Our refund number: the refund's idempotency key at Alipay.
    pub out_request_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

impl RefundCreate {
    pub fn from_request(request: &RefundRequest) -> Result<Self, NotCny> {
        Ok(Self {
            out_trade_no: request.trade_no.clone(),
            refund_amount: yuan(request.amount)?,
            out_request_no: request.refund_trade_no.clone(),
            refund_reason: request.reason.clone(),
        })
    }
}

/// `biz_content` of `alipay.trade.fastpay.refund.query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRef {
    pub out_trade_no: String,
    pub out_request_no: String,
}

/// The customer's action for page or wap pay: the signed parameters as a GET URL on the gateway
/// (`Redirect`), or as a form the browser posts to it (`Form`).
pub fn gateway_action(gateway: &str, signed_params: &[(String, String)], as_form: bool) -> CustomerAction {
    if as_form {
        let form: Map<String, Value> =
            signed_params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        CustomerAction::Form { method: HttpPost::Post, url: format!("{gateway}?charset=utf-8"), form }
    } else {
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(signed_params).finish();
        CustomerAction::Redirect { method: HttpGet::Get, url: format!("{gateway}?{query}") }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// The `*_response` object of any answer: its code, and the method's fields (read by
/// [`Answer::fields`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: String,
    pub msg: String,
    pub sub_code: Option<String>,
    pub sub_msg: Option<String>,
    object: Map<String, Value>,
}

impl Answer {
    /// Reads the verified `*_response` JSON text.
    pub fn parse(content: &str) -> Result<Self, Unreadable> {
        let object: Map<String, Value> = serde_json::from_str(content)
            .map_err(|e| Unreadable(format!("the response value is not a JSON object ({e})")))?;
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        let code = text("code").ok_or_else(|| Unreadable("code: is missing or not a string".into()))?;
        Ok(Self {
            msg: text("msg").unwrap_or_default(),
            sub_code: text("sub_code").filter(|s| !s.is_empty()),
            sub_msg: text("sub_msg").filter(|s| !s.is_empty()),
            code,
            object,
        })
    }

    /// `msg`, and `sub_msg` when there is one, for people.
    pub fn message(&self) -> String {
        match &self.sub_msg {
            Some(sub) => format!("{}: {sub}", self.msg),
            None => self.msg.clone(),
        }
    }

    /// The method's fields read as `T`.
    pub fn fields<T: DeserializeOwned>(&self, what: &str) -> Result<T, Unreadable> {
        serde_json::from_value(Value::Object(self.object.clone()))
            .map_err(|e| Unreadable(format!("{} answer is not {what}: {e}", self.code)))
    }
}

fn same_trade(got: Option<&str>, ours: &str) -> Result<(), Unreadable> {
    match got {
        Some(got) if got != ours => Err(Unreadable(format!(
            "out_trade_no {got:?} is not ours ({ours:?}): an answer about another order"
        ))),
        _ => Ok(()),
    }
}

/// `alipay_trade_precreate_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrecreateAnswer {
    #[serde(default)]
    pub out_trade_no: Option<String>,
    pub qr_code: String,
}

impl PrecreateAnswer {
    pub fn into_facts(self, trade_no: &str) -> Result<PaymentFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        if self.qr_code.is_empty() {
            return Err(Unreadable("qr_code: is empty".into()));
        }
        Ok(PaymentFacts {
            action: Some(CustomerAction::QrCode { qr_code: self.qr_code }),
            ..PaymentFacts::status(PaymentStatus::WaitingForCustomer)
        })
    }
}

/// `alipay_trade_pay_response` (barcode), success or in process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PayAnswer {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub out_trade_no: Option<String>,
    #[serde(default)]
    pub total_amount: Option<String>,
    #[serde(default)]
    pub gmt_payment: Option<String>,
}

impl PayAnswer {
    /// Facts of a `10000` (paid) or a `10003` (in process: `paid` false).
    pub fn into_facts(self, trade_no: &str, paid: bool) -> Result<PaymentFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        let amount = self.total_amount.as_deref().map(|v| money_of("total_amount", v)).transpose()?;
        if paid {
            let txn = self.trade_no.filter(|t| !t.is_empty()).ok_or_else(|| {
                Unreadable("trade_no: a paid barcode payment must have Alipay's trade number".into())
            })?;
            let paid_at = self.gmt_payment.as_deref().map(|v| utc_of("gmt_payment", v)).transpose()?;
            Ok(PaymentFacts {
                provider_txn_id: Some(txn),
                amount,
                paid_at,
                ..PaymentFacts::status(PaymentStatus::Succeeded)
            })
        } else {
            Ok(PaymentFacts {
                provider_txn_id: self.trade_no.filter(|t| !t.is_empty()),
                amount,
                ..PaymentFacts::status(PaymentStatus::Processing)
            })
        }
    }
}

/// `trade_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    TradeFinished,
    TradeClosed,
}

/// `alipay_trade_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueryAnswer {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub out_trade_no: Option<String>,
    pub trade_status: TradeStatus,
    pub total_amount: String,
    /// When the trade was paid, Beijing time; present once it was.
    #[serde(default)]
    pub send_pay_date: Option<String>,
}

impl QueryAnswer {
    pub fn into_facts(self, trade_no: &str) -> Result<PaymentFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        let amount = money_of("total_amount", &self.total_amount)?;
        let paid_at = self.send_pay_date.as_deref().map(|v| utc_of("send_pay_date", v)).transpose()?;
        let status = match self.trade_status {
            TradeStatus::WaitBuyerPay => PaymentStatus::WaitingForCustomer,
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => PaymentStatus::Succeeded,
            // A paid trade is TRADE_CLOSED once fully refunded: it was paid all the same.
            TradeStatus::TradeClosed if paid_at.is_some() => PaymentStatus::Succeeded,
            TradeStatus::TradeClosed => PaymentStatus::Closed,
        };
        let provider_txn_id = self.trade_no.filter(|t| !t.is_empty());
        if status == PaymentStatus::Succeeded && provider_txn_id.is_none() {
            return Err(Unreadable("trade_no: a paid trade must have Alipay's trade number".into()));
        }
        Ok(PaymentFacts {
            status,
            provider_txn_id,
            action: None,
            amount: Some(amount),
            refunded: None,
            paid_at,
        })
    }
}

/// `alipay_trade_close_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CloseAnswer {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub out_trade_no: Option<String>,
}

impl CloseAnswer {
    pub fn into_facts(self, trade_no: &str) -> Result<PaymentFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        Ok(PaymentFacts {
            provider_txn_id: self.trade_no.filter(|t| !t.is_empty()),
            ..PaymentFacts::status(PaymentStatus::Closed)
        })
    }
}

/// What `alipay.trade.cancel` did (`action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CancelAction {
    /// The trade was unpaid: it is closed.
    Close,
    /// The trade was paid: the payment is refunded in full.
    Refund,
}

/// `alipay_trade_cancel_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CancelAnswer {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// `Y`: the cancel did not finish and must be sent again.
    #[serde(default)]
    pub retry_flag: Option<String>,
    #[serde(default)]
    pub action: Option<CancelAction>,
}

/// A barcode payment's reversal, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelFacts {
    /// What Alipay did; `None` when it says to send the cancel again.
    pub action: Option<CancelAction>,
    /// Alipay asks for the cancel to be sent again (`retry_flag=Y`).
    pub retry: bool,
    pub provider_txn_id: Option<String>,
}

impl CancelAnswer {
    pub fn into_facts(self, trade_no: &str) -> Result<CancelFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        let retry = match self.retry_flag.as_deref() {
            None | Some("N") => false,
            Some("Y") => true,
            Some(other) => return Err(Unreadable(format!("retry_flag: must be Y or N (got {other:?})"))),
        };
        Ok(CancelFacts {
            action: if retry { None } else { self.action },
            retry,
            provider_txn_id: self.trade_no.filter(|t| !t.is_empty()),
        })
    }
}

/// `alipay_trade_refund_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundAnswer {
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// `Y` when this call moved money; `N` or absent: not (yet), the refund query decides.
    #[serde(default)]
    pub fund_change: Option<String>,
    /// The total refunded on the trade so far (not this refund's amount).
    #[serde(default)]
    pub refund_fee: Option<String>,
}

impl RefundAnswer {
    pub fn into_facts(self, request: &RefundRequest) -> Result<RefundFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), &request.trade_no)?;
        if let Some(fee) = &self.refund_fee {
            money_of("refund_fee", fee)?;
        }
        let status = match self.fund_change.as_deref() {
            Some("Y") => RefundStatus::Succeeded,
            None | Some("N") => RefundStatus::Processing,
            Some(other) => return Err(Unreadable(format!("fund_change: must be Y or N (got {other:?})"))),
        };
        Ok(RefundFacts { status, provider_refund_id: None, amount: Some(request.amount) })
    }
}

/// `alipay_trade_fastpay_refund_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundQueryAnswer {
    #[serde(default)]
    pub out_trade_no: Option<String>,
    #[serde(default)]
    pub out_request_no: Option<String>,
    #[serde(default)]
    pub refund_amount: Option<String>,
    /// `REFUND_SUCCESS`; absent means the refund has not succeeded.
    #[serde(default)]
    pub refund_status: Option<String>,
}

impl RefundQueryAnswer {
    pub fn into_facts(self, trade_no: &str, refund_trade_no: &str) -> Result<RefundFacts, Unreadable> {
        same_trade(self.out_trade_no.as_deref(), trade_no)?;
        match self.out_request_no.as_deref() {
            Some(got) if got != refund_trade_no => {
                return Err(Unreadable(format!(
                    "out_request_no {got:?} is not ours ({refund_trade_no:?}): an answer about another refund"
                )));
            }
            _ => {}
        }
        let amount = self.refund_amount.as_deref().map(|v| money_of("refund_amount", v)).transpose()?;
        let status = match self.refund_status.as_deref() {
            Some("REFUND_SUCCESS") => RefundStatus::Succeeded,
            Some(other) => {
                return Err(Unreadable(format!(
                    "refund_status: must be REFUND_SUCCESS or absent (got {other:?})"
                )));
            }
            // Not succeeded: still on its way if Alipay names the refund, never made if not.
            None if self.out_request_no.is_some() || amount.is_some() => RefundStatus::Processing,
            None => RefundStatus::NotFound,
        };
        Ok(RefundFacts { status, provider_refund_id: None, amount })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::commands::PayMethod;

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::CNY).unwrap()
    }

    fn pay_request() -> PayRequest {
        PayRequest {
            capture: Default::default(),
            trade_no: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            amount: cny(12345),
            subject: "测试 & +商品".into(),
            pay_method: PayMethod::Qr,
            notify_url: None,
            return_url: None,
            expires_at: Some("2026-01-02T03:04:05Z".parse().unwrap()),
            auth_code: None,
            payer: Default::default(),
        }
    }

    #[test]
    fn yuan_strings_are_exact_both_ways() {
        assert_eq!(yuan(cny(12345)).unwrap(), "123.45");
        assert_eq!(yuan(cny(5)).unwrap(), "0.05");
        assert_eq!(yuan(cny(100)).unwrap(), "1.00");
        assert_eq!(money_of("total_amount", "123.45").unwrap(), cny(12345));
        assert_eq!(money_of("total_amount", "10.5").unwrap(), cny(1050));
        assert_eq!(money_of("total_amount", "3").unwrap(), cny(300));
        for bad in ["", "-1.00", "1.005", "1e3", "+1", "1.", ".5", "1,00", " 1"] {
            let e = money_of("total_amount", bad).unwrap_err();
            assert!(e.0.starts_with("total_amount: "), "{bad}: {e}");
        }
    }

    #[test]
    fn other_currencies_are_refused_by_name() {
        let usd = Money::from_minor(100, Currency::USD).unwrap();
        assert_eq!(
            yuan(usd).unwrap_err().to_string(),
            "Alipay takes CNY only (its amounts are yuan strings); this amount is in USD"
        );
        let request = PayRequest { amount: usd, ..pay_request() };
        assert!(TradeCreate::from_request(&request, None, None).is_err());
    }

    #[test]
    fn requests_carry_the_common_parameters_and_beijing_times() {
        let biz = TradeCreate::from_request(&pay_request(), Some(PRODUCT_PAGE), Some("2088")).unwrap();
        assert_eq!(biz.time_expire.as_deref(), Some("2026-01-02 11:04:05"));
        let json = biz_json(&biz);
        assert_eq!(
            json,
            r#"{"out_trade_no":"0190a1b2c3d4e5f60718293a4b5c6d7e","total_amount":"123.45","subject":"测试 & +商品","product_code":"FAST_INSTANT_TRADE_PAY","time_expire":"2026-01-02 11:04:05","seller_id":"2088"}"#
        );
        let common = Common {
            app_id: "2021",
            method: "alipay.trade.page.pay",
            now: "2026-01-01T16:00:00Z".parse().unwrap(),
            notify_url: Some("https://n/notify/alipay"),
            return_url: None,
        };
        let params = request_params(&common, json.clone());
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("timestamp"), Some("2026-01-02 00:00:00"));
        assert_eq!(get("sign_type"), Some("RSA2"));
        assert_eq!(get("biz_content"), Some(json.as_str()));
        assert_eq!(get("return_url"), None);
        let barcode = BarcodePay::from_request(&pay_request(), "281234567890123456", None).unwrap();
        assert!(biz_json(&barcode).contains(r#""scene":"bar_code","auth_code":"281234567890123456""#));
        let refund = RefundRequest {
            trade_no: "t1".into(),
            refund_trade_no: "r1".into(),
            amount: cny(50),
            payment_amount: cny(12345),
            reason: None,
            notify_url: None,
        };
        assert_eq!(
            biz_json(&RefundCreate::from_request(&refund).unwrap()),
            r#"{"out_trade_no":"t1","refund_amount":"0.50","out_request_no":"r1"}"#
        );
    }

    #[test]
    fn the_gateway_action_is_a_url_or_a_form_of_the_signed_parameters() {
        let params = vec![("a".to_owned(), "1 &+".to_owned()), ("sign".to_owned(), "x/y=".to_owned())];
        match gateway_action("https://gw/gateway.do", &params, false) {
            CustomerAction::Redirect { url, .. } => {
                assert_eq!(url, "https://gw/gateway.do?a=1+%26%2B&sign=x%2Fy%3D");
            }
            other => panic!("{other:?}"),
        }
        match gateway_action("https://gw/gateway.do", &params, true) {
            CustomerAction::Form { url, form, .. } => {
                assert_eq!(url, "https://gw/gateway.do?charset=utf-8");
                assert_eq!(form["a"], "1 &+");
            }
            other => panic!("{other:?}"),
        }
    }

    fn answer(json: &str) -> Answer {
        Answer::parse(json).unwrap()
    }

    #[test]
    fn trade_statuses_map_to_ours_and_a_refunded_closed_trade_stays_paid() {
        let q = |status: &str, paid: bool| {
            let date = if paid { r#","send_pay_date":"2026-01-02 08:00:00""# } else { "" };
            let json = format!(
                r#"{{"code":"10000","msg":"Success","trade_no":"2026","out_trade_no":"t","trade_status":"{status}","total_amount":"1.00"{date}}}"#
            );
            answer(&json).fields::<QueryAnswer>("a trade").and_then(|a| a.into_facts("t"))
        };
        assert_eq!(q("WAIT_BUYER_PAY", false).unwrap().status, PaymentStatus::WaitingForCustomer);
        let paid = q("TRADE_SUCCESS", true).unwrap();
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        assert_eq!(paid.amount, Some(cny(100)));
        assert_eq!(paid.paid_at, Some("2026-01-02T00:00:00Z".parse().unwrap()));
        assert_eq!(q("TRADE_FINISHED", true).unwrap().status, PaymentStatus::Succeeded);
        assert_eq!(q("TRADE_CLOSED", false).unwrap().status, PaymentStatus::Closed);
        assert_eq!(q("TRADE_CLOSED", true).unwrap().status, PaymentStatus::Succeeded);
        assert!(q("TRADE_PENDING", false).is_err());
        let other = answer(
            r#"{"code":"10000","out_trade_no":"x","trade_status":"WAIT_BUYER_PAY","total_amount":"1.00"}"#,
        );
        let e = other.fields::<QueryAnswer>("a trade").unwrap().into_facts("t").unwrap_err();
        assert!(e.0.contains("another order"), "{e}");
    }

    #[test]
    fn refunds_succeed_only_with_fund_change_and_a_query_without_status_has_not() {
        let refund = RefundRequest {
            trade_no: "t".into(),
            refund_trade_no: "r".into(),
            amount: cny(50),
            payment_amount: cny(100),
            reason: None,
            notify_url: None,
        };
        let r = |json: &str| answer(json).fields::<RefundAnswer>("a refund").unwrap().into_facts(&refund);
        assert_eq!(
            r(r#"{"code":"10000","out_trade_no":"t","fund_change":"Y","refund_fee":"0.50"}"#).unwrap().status,
            RefundStatus::Succeeded
        );
        assert_eq!(
            r(r#"{"code":"10000","out_trade_no":"t","fund_change":"N"}"#).unwrap().status,
            RefundStatus::Processing
        );
        assert_eq!(r(r#"{"code":"10000","out_trade_no":"t"}"#).unwrap().status, RefundStatus::Processing);
        let q =
            |json: &str| answer(json).fields::<RefundQueryAnswer>("a refund").unwrap().into_facts("t", "r");
        let done = q(r#"{"code":"10000","out_trade_no":"t","out_request_no":"r","refund_amount":"0.50","refund_status":"REFUND_SUCCESS"}"#).unwrap();
        assert_eq!((done.status, done.amount), (RefundStatus::Succeeded, Some(cny(50))));
        assert_eq!(
            q(r#"{"code":"10000","out_trade_no":"t","out_request_no":"r","refund_amount":"0.50"}"#)
                .unwrap()
                .status,
            RefundStatus::Processing
        );
        assert_eq!(q(r#"{"code":"10000","msg":"Success"}"#).unwrap().status, RefundStatus::NotFound);
        assert!(q(r#"{"code":"10000","out_request_no":"other"}"#).is_err());
    }

    #[test]
    fn qr_barcode_and_cancel_answers() {
        let qr = answer(r#"{"code":"10000","out_trade_no":"t","qr_code":"https://qr.alipay.com/x"}"#)
            .fields::<PrecreateAnswer>("a QR code")
            .unwrap()
            .into_facts("t")
            .unwrap();
        assert_eq!(qr.action, Some(CustomerAction::QrCode { qr_code: "https://qr.alipay.com/x".into() }));
        let pay =
            |json: &str, paid| answer(json).fields::<PayAnswer>("a payment").unwrap().into_facts("t", paid);
        let done = pay(r#"{"code":"10000","out_trade_no":"t","trade_no":"2026","total_amount":"1.00","gmt_payment":"2026-01-02 08:00:01"}"#, true).unwrap();
        assert_eq!((done.status, done.provider_txn_id.as_deref()), (PaymentStatus::Succeeded, Some("2026")));
        assert!(pay(r#"{"code":"10000","out_trade_no":"t"}"#, true).is_err(), "paid without a trade number");
        assert_eq!(
            pay(r#"{"code":"10003","out_trade_no":"t","trade_no":"2026"}"#, false).unwrap().status,
            PaymentStatus::Processing
        );
        let cancel = |json: &str| answer(json).fields::<CancelAnswer>("a cancel").unwrap().into_facts("t");
        assert_eq!(
            cancel(r#"{"code":"10000","out_trade_no":"t","retry_flag":"N","action":"refund"}"#)
                .unwrap()
                .action,
            Some(CancelAction::Refund)
        );
        let again = cancel(r#"{"code":"10000","out_trade_no":"t","retry_flag":"Y"}"#).unwrap();
        assert!(again.retry && again.action.is_none());
        let a = answer(
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#,
        );
        assert_eq!(a.message(), "Business Failed: 交易不存在");
        assert!(Answer::parse(r#"{"msg":"x"}"#).is_err());
    }
}
