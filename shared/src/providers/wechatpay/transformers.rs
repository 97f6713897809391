//! WeChat Pay API v3's wire types and their conversions to and from ours (shared PROVIDERS.md,
//! "WeChat Pay API v3"; the v3 merchant pages of each API).
//!
//! - Pay methods ([`PayKind`]): `qr` is **Native** (`POST /v3/pay/transactions/native` →
//!   `{code_url}`, shown as a QR code); `client_secret` is **JSAPI / mini-program**
//!   (`…/jsapi` → `{prepay_id}`; the customer's action is the client's signed parameters,
//!   [`super::client_params`]); `redirect` is **H5** (`…/h5` → `{h5_url}`, a GET redirect).
//!   `form` and `direct` have no API v3 equivalent for a direct merchant and are refused.
//! - JSAPI needs the payer's `openid` and H5 the payer's IP (`scene_info.payer_client_ip`),
//!   both from the pay command's `payer` ([`PayRequest::payer`]); without them the request is
//!   refused before it is sent, naming the command's field ([`PayKind::payer_fields`]; ingest
//!   applies the same rule at the door, `super::pay_terms`).
//! - Amounts are integer fen, exactly our [`Money`]'s minor units for CNY; any other currency is
//!   refused naming the field. Times sent are Beijing time (`+08:00`), RFC 3339.
//! - Answers: a create's `{code_url | prepay_id | h5_url}`; a query's transaction; a refund's
//!   (create and query share it). Unknown fields are tolerated. An answer about another order or
//!   refund, an unknown state, or a missing field is [`Unreadable`]: the call is UNKNOWN.

use super::client_params::{self, ClientParams};
use super::codes;
use super::notification::{RefundState, TradeState};
use super::signing::MerchantKey;
use crate::domain::{Currency, Money, Payer};
use crate::messages::commands::PayMethod;
use crate::messages::events::{CustomerAction, HttpGet};
use crate::providers::adapter::{PayRequest, RefundRequest};
use crate::providers::answers::{PaymentFacts, PaymentStatus, RefundFacts};
use crate::providers::codes::MappedCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// WeChat Pay's limit on `description`, in characters (documented as string(127)).
pub const DESCRIPTION_MAX_CHARS: usize = 127;
/// WeChat Pay's limit on a refund's `reason`, in characters (string(80)).
pub const REASON_MAX_CHARS: usize = 80;
/// The only currency API v3's domestic payments take.
pub const CURRENCY: &str = "CNY";
/// Beijing time, the zone of every time WeChat Pay writes.
pub use crate::providers::provider_day::china_standard_time as beijing;

/// An answer we cannot turn into facts; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable WeChat Pay answer: {0}")]
pub struct Unreadable(pub String);

/// A request we refuse to send: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct NotSendable {
    pub field: &'static str,
    pub rule: String,
}

impl NotSendable {
    fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self { field, rule: rule.into() }
    }
}

// ---------------------------------------------------------------------------------------------
// Pay methods

/// Which create API a pay method uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayKind {
    Native,
    Jsapi,
    H5,
}

impl PayKind {
    /// Our pay method as a create API, or why it has none.
    pub fn of(method: PayMethod) -> Result<Self, NotSendable> {
        match method {
            PayMethod::Qr => Ok(Self::Native),
            PayMethod::ClientSecret => Ok(Self::Jsapi),
            PayMethod::Redirect => Ok(Self::H5),
            PayMethod::Form | PayMethod::Direct | PayMethod::Barcode => Err(NotSendable::new(
                PayMethod::FIELD,
                format!(
                    "WeChat Pay API v3 takes qr (Native), client_secret (JSAPI / mini-program) or redirect (H5), not {method}"
                ),
            )),
        }
    }

    /// The create API's path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Native => "/v3/pay/transactions/native",
            Self::Jsapi => "/v3/pay/transactions/jsapi",
            Self::H5 => "/v3/pay/transactions/h5",
        }
    }
}

impl PayKind {
    /// What the create needs of the payer: JSAPI the `openid` (under our app id), H5 the
    /// payer's IP address; Native nothing. The refusal names the pay command's field.
    pub fn payer_fields(
        self,
        payer: &Payer,
    ) -> Result<(Option<CreatePayer>, Option<SceneInfo>), NotSendable> {
        match self {
            Self::Native => Ok((None, None)),
            Self::Jsapi => {
                let openid = payer.openid.clone().filter(|o| !o.trim().is_empty()).ok_or_else(|| {
                    NotSendable::new(
                        "payer.openid",
                        "is required for a client_secret (JSAPI / mini-program) payment through WeChat Pay: the payer's openid under the merchant's app id",
                    )
                })?;
                Ok((Some(CreatePayer { openid }), None))
            }
            Self::H5 => {
                let ip = payer.client_ip.ok_or_else(|| {
                    NotSendable::new(
                        "payer.client_ip",
                        "is required for a redirect (H5) payment through WeChat Pay: the payer's IP address",
                    )
                })?;
                let scene = SceneInfo { payer_client_ip: ip.to_string(), h5_info: H5Info { kind: "Wap" } };
                Ok((None, Some(scene)))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// `amount` of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateAmount {
    pub total: i64,
    pub currency: &'static str,
}

/// `payer` of a JSAPI create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatePayer {
    pub openid: String,
}

/// `scene_info` of an H5 create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SceneInfo {
    pub payer_client_ip: String,
    pub h5_info: H5Info,
}

/// `scene_info.h5_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct H5Info {
    /// `Wap` (a mobile web page); WeChat Pay also knows `iOS` and `Android`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `POST /v3/pay/transactions/{native,jsapi,h5}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionCreate {
    pub appid: String,
    pub mchid: String,
    pub description: String,
    pub out_trade_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    pub notify_url: String,
    pub amount: CreateAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<CreatePayer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
}

/// Integer fen of `money`, which must be CNY; `field` names it in the refusal.
pub fn fen(field: &'static str, money: Money) -> Result<i64, NotSendable> {
    if money.currency() != Currency::CNY {
        return Err(NotSendable::new(
            field,
            format!("WeChat Pay takes CNY only (got {})", money.currency().code()),
        ));
    }
    let fen = money.minor_units();
    if fen < 1 {
        return Err(NotSendable::new(field, format!("must be at least 1 fen (got {fen})")));
    }
    Ok(fen)
}

/// A time as WeChat Pay takes it: RFC 3339 in Beijing time, to the second.
pub fn wechat_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl TransactionCreate {
    /// The create request for `request`, with the notification URL already chosen (WeChat Pay
    /// requires one). The subject is cut to 127 characters, the same cut every time, so that a
    /// repeat stays identical (a different body is OUT_TRADE_NO_USED).
    pub fn from_request(
        kind: PayKind,
        request: &PayRequest,
        appid: &str,
        mchid: &str,
        notify_url: Option<String>,
    ) -> Result<Self, NotSendable> {
        let total = fen("amount", request.amount)?;
        let notify_url = notify_url.ok_or_else(|| {
            NotSendable::new(
                "notify_url",
                "WeChat Pay requires a notification URL: set NOTIFY_BASE_URL or the provider's NOTIFY_URL",
            )
        })?;
        let description: String = request.subject.chars().take(DESCRIPTION_MAX_CHARS).collect();
        if description.trim().is_empty() {
            return Err(NotSendable::new("subject", "must not be empty (WeChat Pay's description)"));
        }
        let (payer, scene_info) = kind.payer_fields(&request.payer)?;
        Ok(Self {
            appid: appid.to_owned(),
            mchid: mchid.to_owned(),
            description,
            out_trade_no: request.trade_no.clone(),
            time_expire: request.expires_at.map(wechat_time),
            notify_url,
            amount: CreateAmount { total, currency: CURRENCY },
            payer,
            scene_info,
        })
    }
}

/// `POST …/out-trade-no/{out_trade_no}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseRequest {
    pub mchid: String,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundAmountRequest {
    pub refund: i64,
    pub total: i64,
    pub currency: &'static str,
}

/// `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundCreate {
    pub out_trade_no: String,
    pub out_refund_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    pub amount: RefundAmountRequest,
}

impl RefundCreate {
    pub fn from_request(request: &RefundRequest, notify_url: Option<String>) -> Result<Self, NotSendable> {
        let refund = fen("amount", request.amount)?;
        let total = fen("payment_amount", request.payment_amount)?;
        if refund > total {
            return Err(NotSendable::new(
                "amount",
                format!("must not exceed the payment's amount ({refund} > {total} fen)"),
            ));
        }
        Ok(Self {
            out_trade_no: request.trade_no.clone(),
            out_refund_no: request.refund_trade_no.clone(),
            reason: request
                .reason
                .as_ref()
                .map(|r| r.chars().take(REASON_MAX_CHARS).collect::<String>())
                .filter(|r| !r.trim().is_empty()),
            notify_url,
            amount: RefundAmountRequest { refund, total, currency: CURRENCY },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// An error answer: `{code, message}` (and sometimes `detail`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn parse(body: &str) -> Result<Self, Unreadable> {
        read(body, "an error {code, message}")
    }
}

/// Reads `body` as `T`; `what` names it in the error.
pub fn read<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, Unreadable> {
    serde_json::from_str(body)
        .map_err(|e| Unreadable(format!("the body is not {what} ({e}): {}", excerpt(body))))
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

/// A Native create's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NativeCreated {
    pub code_url: String,
}

/// A JSAPI create's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JsapiCreated {
    pub prepay_id: String,
}

/// An H5 create's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct H5Created {
    pub h5_url: String,
}

/// What a create's answer gives the customer to do, as our [`CustomerAction`]. A JSAPI answer's
/// action is the client's signed parameters as JSON text in `client_secret` (the customer's
/// client passes them to `WeixinJSBridge` / `wx.requestPayment` as they are).
pub fn created_action(
    kind: PayKind,
    body: &str,
    key: &MerchantKey,
    appid: &str,
    now: DateTime<Utc>,
) -> Result<CustomerAction, Unreadable> {
    let non_empty = |field: &str, v: String| {
        if v.trim().is_empty() { Err(Unreadable(format!("{field} is empty"))) } else { Ok(v) }
    };
    match kind {
        PayKind::Native => {
            let c: NativeCreated = read(body, "a Native create's {code_url}")?;
            Ok(CustomerAction::QrCode { qr_code: non_empty("code_url", c.code_url)? })
        }
        PayKind::H5 => {
            let c: H5Created = read(body, "an H5 create's {h5_url}")?;
            Ok(CustomerAction::Redirect { method: HttpGet::Get, url: non_empty("h5_url", c.h5_url)? })
        }
        PayKind::Jsapi => {
            let c: JsapiCreated = read(body, "a JSAPI create's {prepay_id}")?;
            let prepay_id = non_empty("prepay_id", c.prepay_id)?;
            let params: ClientParams = client_params::sign_now(key, appid, &prepay_id, now);
            let client_secret = serde_json::to_string(&params).expect("the client's parameters serialise");
            Ok(CustomerAction::client_secret(client_secret))
        }
    }
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransactionAmount {
    #[serde(default)]
    pub total: Option<i64>,
    #[serde(default)]
    pub payer_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// A query's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub appid: Option<String>,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub trade_type: Option<String>,
    pub trade_state: String,
    #[serde(default)]
    pub trade_state_desc: Option<String>,
    #[serde(default)]
    pub success_time: Option<String>,
    #[serde(default)]
    pub amount: Option<TransactionAmount>,
}

/// `amount` of a refund answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundAmountAnswer {
    pub total: i64,
    pub refund: i64,
    #[serde(default)]
    pub currency: Option<String>,
}

/// A refund's answer (create and query).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundAnswer {
    pub refund_id: String,
    pub out_refund_no: String,
    #[serde(default)]
    pub transaction_id: Option<String>,
    pub out_trade_no: String,
    pub status: String,
    #[serde(default)]
    pub success_time: Option<String>,
    pub amount: RefundAmountAnswer,
}

// ---------------------------------------------------------------------------------------------
// Conversions

fn same(field: &str, got: &str, expected: &str) -> Result<(), Unreadable> {
    if got == expected {
        Ok(())
    } else {
        Err(Unreadable(format!("the answer is about {field} {got:?}, the request was about {expected:?}")))
    }
}

fn currency_of(field: &str, code: Option<&str>) -> Result<Currency, Unreadable> {
    Currency::parse(code.unwrap_or(CURRENCY)).map_err(|e| Unreadable(format!("{field}: {e}")))
}

fn money(field: &str, fen: i64, currency: Currency) -> Result<Money, Unreadable> {
    Money::from_minor(fen, currency).map_err(|e| Unreadable(format!("{field}: {e}")))
}

fn time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, Unreadable> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| Unreadable(format!("{field} must be an RFC 3339 time (got {v:?})"))),
    }
}

impl Transaction {
    /// The code the answer that found this transaction stands for: a declined payment's
    /// (`PAYERROR`), definitive; `None` for every other state.
    pub fn declined_code(&self) -> Option<MappedCode> {
        codes::declined_code(TradeState::parse(&self.trade_state)?, self.trade_state_desc.as_deref())
    }

    /// Facts from a query answer. The answer must be about our order and merchant (and app, when
    /// it names one); a paid one must carry its transaction id. The amount is in the currency the
    /// answer states, so a currency that is not ours shows as an amount mismatch.
    pub fn into_facts(
        self,
        out_trade_no: &str,
        mchid: &str,
        appid: &str,
    ) -> Result<PaymentFacts, Unreadable> {
        same("out_trade_no", &self.out_trade_no, out_trade_no)?;
        same("mchid", &self.mchid, mchid)?;
        if let Some(a) = &self.appid {
            same("appid", a, appid)?;
        }
        let state = TradeState::parse(&self.trade_state)
            .ok_or_else(|| Unreadable(format!("unknown trade_state {:?}", self.trade_state)))?;
        let status = codes::payment_status(state);
        let transaction_id = self.transaction_id.filter(|t| !t.trim().is_empty());
        if status == PaymentStatus::Succeeded && transaction_id.is_none() {
            return Err(Unreadable(format!("a {} transaction without its transaction_id", state.as_str())));
        }
        let amount = match &self.amount {
            Some(TransactionAmount { total: Some(total), currency, .. }) => {
                let currency = currency_of("amount.currency", currency.as_deref())?;
                Some(money("amount.total", *total, currency)?)
            }
            _ => None,
        };
        let paid_at = time("success_time", self.success_time.as_deref())?;
        Ok(PaymentFacts {
            status,
            provider_txn_id: transaction_id,
            action: None,
            amount,
            refunded: None,
            paid_at,
        })
    }
}

impl RefundAnswer {
    /// Facts from a refund or refund query answer. Must be about our order and refund.
    pub fn into_facts(self, out_trade_no: &str, out_refund_no: &str) -> Result<RefundFacts, Unreadable> {
        same("out_refund_no", &self.out_refund_no, out_refund_no)?;
        same("out_trade_no", &self.out_trade_no, out_trade_no)?;
        let state = RefundState::parse(&self.status)
            .ok_or_else(|| Unreadable(format!("unknown refund status {:?}", self.status)))?;
        if self.refund_id.trim().is_empty() {
            return Err(Unreadable("refund_id is empty".to_owned()));
        }
        let currency = currency_of("amount.currency", self.amount.currency.as_deref())?;
        Ok(RefundFacts {
            status: codes::refund_status(state),
            provider_refund_id: Some(self.refund_id),
            amount: Some(money("amount.refund", self.amount.refund, currency)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::answers::RefundStatus;
    use serde_json::json;

    fn cny(fen: i64) -> Money {
        Money::from_minor(fen, Currency::CNY).unwrap()
    }

    fn pay_request(method: PayMethod) -> PayRequest {
        PayRequest {
            capture: Default::default(),
            trade_no: "0190a1b2c3d4e5f60718293a4b5c6d7e".into(),
            amount: cny(1999),
            subject: "测试商品 coffee".into(),
            pay_method: method,
            notify_url: Some("https://example.com/notify/wechatpay/0190".into()),
            return_url: None,
            expires_at: Some(
                DateTime::parse_from_rfc3339("2026-01-01T02:00:00Z").unwrap().with_timezone(&Utc),
            ),
            auth_code: None,
            payer: Default::default(),
        }
    }

    fn create(method: PayMethod, payer: &Payer) -> Result<TransactionCreate, NotSendable> {
        let r = PayRequest { payer: payer.clone(), ..pay_request(method) };
        let kind = PayKind::of(method)?;
        TransactionCreate::from_request(kind, &r, "wxd678efh567hg6787", "1900000109", r.notify_url.clone())
    }

    #[test]
    fn a_native_create_serialises_with_fen_and_beijing_time() {
        let body = serde_json::to_value(create(PayMethod::Qr, &Payer::default()).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "appid": "wxd678efh567hg6787", "mchid": "1900000109", "description": "测试商品 coffee",
                "out_trade_no": "0190a1b2c3d4e5f60718293a4b5c6d7e", "time_expire": "2026-01-01T10:00:00+08:00",
                "notify_url": "https://example.com/notify/wechatpay/0190",
                "amount": {"total": 1999, "currency": "CNY"}
            })
        );
    }

    #[test]
    fn jsapi_needs_the_openid_and_h5_the_payers_ip() {
        let e = create(PayMethod::ClientSecret, &Payer::default()).unwrap_err();
        assert_eq!(e.field, "payer.openid");
        let jsapi = create(
            PayMethod::ClientSecret,
            &Payer { openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()), client_ip: None },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&jsapi).unwrap()["payer"],
            json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
        );
        let e =
            create(PayMethod::Redirect, &Payer { openid: Some("o1".into()), client_ip: None }).unwrap_err();
        assert_eq!(e.field, "payer.client_ip");
        let h5 = create(
            PayMethod::Redirect,
            &Payer { openid: None, client_ip: Some("203.0.113.7".parse().unwrap()) },
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&h5).unwrap()["scene_info"],
            json!({"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}})
        );
        for m in [PayMethod::Form, PayMethod::Direct, PayMethod::Barcode] {
            assert_eq!(PayKind::of(m).unwrap_err().field, "pay_method");
        }
    }

    #[test]
    fn other_currencies_and_a_missing_notify_url_are_refused_by_field() {
        let mut r = pay_request(PayMethod::Qr);
        r.amount = Money::from_minor(100, Currency::JPY).unwrap();
        let e = TransactionCreate::from_request(PayKind::Native, &r, "a", "m", None).unwrap_err();
        assert_eq!(e.to_string(), "amount: WeChat Pay takes CNY only (got JPY)");
        let r = pay_request(PayMethod::Qr);
        let e = TransactionCreate::from_request(PayKind::Native, &r, "a", "m", None).unwrap_err();
        assert_eq!(e.field, "notify_url");
        let refund = RefundRequest {
            trade_no: "t".into(),
            refund_trade_no: "r".into(),
            amount: cny(100),
            payment_amount: Money::from_minor(1000, Currency::USD).unwrap(),
            reason: None,
            notify_url: None,
        };
        assert_eq!(RefundCreate::from_request(&refund, None).unwrap_err().field, "payment_amount");
    }

    #[test]
    fn a_refund_request_carries_refund_total_and_currency_in_fen() {
        let refund = RefundRequest {
            trade_no: "t1".into(),
            refund_trade_no: "r1".into(),
            amount: cny(500),
            payment_amount: cny(1999),
            reason: Some("退货".into()),
            notify_url: Some("https://example.com/n".into()),
        };
        let body =
            serde_json::to_value(RefundCreate::from_request(&refund, refund.notify_url.clone()).unwrap())
                .unwrap();
        assert_eq!(
            body,
            json!({"out_trade_no": "t1", "out_refund_no": "r1", "reason": "退货", "notify_url": "https://example.com/n",
                   "amount": {"refund": 500, "total": 1999, "currency": "CNY"}})
        );
    }

    #[test]
    fn query_answers_become_facts_and_another_order_is_unreadable() {
        let t: Transaction = serde_json::from_value(json!({
            "appid": "wxd678efh567hg6787", "mchid": "1900000109", "out_trade_no": "o1",
            "transaction_id": "4200000000202601010000000001", "trade_type": "NATIVE", "trade_state": "SUCCESS",
            "success_time": "2026-01-01T10:00:05+08:00", "amount": {"total": 1999, "payer_total": 1999, "currency": "CNY"},
            "payer": {"openid": "x"}
        }))
        .unwrap();
        let facts = t.clone().into_facts("o1", "1900000109", "wxd678efh567hg6787").unwrap();
        assert_eq!(facts.status, PaymentStatus::Succeeded);
        assert_eq!(facts.amount, Some(cny(1999)));
        assert_eq!(facts.paid_at.unwrap().to_rfc3339(), "2026-01-01T02:00:05+00:00");
        assert!(t.clone().into_facts("o2", "1900000109", "wxd678efh567hg6787").unwrap_err().0.contains("o2"));
        assert!(t.clone().into_facts("o1", "1900000110", "wxd678efh567hg6787").is_err());
        let notpay: Transaction = serde_json::from_value(json!({
            "mchid": "m", "out_trade_no": "o1", "trade_state": "NOTPAY", "amount": {"total": 1}
        }))
        .unwrap();
        assert_eq!(notpay.into_facts("o1", "m", "a").unwrap().status, PaymentStatus::WaitingForCustomer);
        let paid_without_id: Transaction =
            serde_json::from_value(json!({"mchid": "m", "out_trade_no": "o1", "trade_state": "SUCCESS"}))
                .unwrap();
        assert!(paid_without_id.into_facts("o1", "m", "a").is_err());
        let odd: Transaction =
            serde_json::from_value(json!({"mchid": "m", "out_trade_no": "o1", "trade_state": "PAID"}))
                .unwrap();
        assert!(odd.into_facts("o1", "m", "a").is_err());
    }

    #[test]
    fn refund_answers_become_facts() {
        let r: RefundAnswer = serde_json::from_value(json!({
            "refund_id": "50000000382019052709732678859", "out_refund_no": "r1", "transaction_id": "42",
            "out_trade_no": "t1", "channel": "ORIGINAL", "status": "PROCESSING", "create_time": "2026-01-01T10:00:00+08:00",
            "amount": {"total": 1999, "refund": 500, "payer_total": 1999, "payer_refund": 500, "currency": "CNY"}
        }))
        .unwrap();
        let facts = r.clone().into_facts("t1", "r1").unwrap();
        assert_eq!(facts.status, RefundStatus::Processing);
        assert_eq!(facts.amount, Some(cny(500)));
        assert!(r.into_facts("t1", "r2").is_err());
    }
}
