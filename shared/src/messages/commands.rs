//! The commands upstream systems publish to the commands exchange, and how ingest parses them.
//!
//! Each command arrives as an [`Envelope`](crate::broker::envelope::Envelope) whose
//! `message_type` names it (`command.pay`, …) and whose `payload` is a JSON object. [`Command::parse`]
//! turns the pair into domain types (serde, field by field: [`fields`]) or into the first
//! [`ValidationError`] found, which names the field and the rule (`amount: CNY allows at most 2
//! decimal places (got 3)`); ingest answers it with a `command.rejected` event. docs/messages.md
//! shows one example of each.

use super::fields::{self, optional, optional_with, parsed, text, with};
/// How the customer pays: a domain type, named here too because the pay command carries it.
pub use crate::domain::PayMethod;
use crate::domain::{
    AuthCode, CaptureMode, Currency, MerchantId, MerchantOrderNo, Money, OperatorId, Payer, ProviderName,
    RefundNo, ValidationError,
};
use chrono::{DateTime, Utc};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PAY: &str = "command.pay";
pub const REFUND: &str = "command.refund";
pub const CLOSE: &str = "command.close";
pub const QUERY: &str = "command.query";
pub const APPROVE_REFUND: &str = "command.approve_refund";
pub const REJECT_REFUND: &str = "command.reject_refund";
pub const CAPTURE: &str = "command.capture";
pub const VOID: &str = "command.void";
pub const ALL: [&str; 8] = [PAY, REFUND, CLOSE, QUERY, APPROVE_REFUND, REJECT_REFUND, CAPTURE, VOID];

/// The schema version of every command this build reads (the envelope's `schema_version`).
/// Ingest refuses any other: a version it does not know may mean fields it would misread. A new
/// version of a command's schema is added beside this one, never in its place.
pub const SCHEMA_VERSION: u16 = 1;

/// The largest `metadata` object we keep, serialised.
pub const METADATA_MAX_BYTES: usize = 4096;

/// A lower-case token used in names and routing keys: order types (provider names are
/// [`ProviderName`]s, with the same rule).
fn token(field: &'static str, input: &str) -> Result<String, ValidationError> {
    let ok = (1..=32).contains(&input.len())
        && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(input.to_owned())
    } else {
        Err(ValidationError::new(field, format!("must be 1 to 32 characters of a-z 0-9 _ (got {input:?})")))
    }
}

fn url(field: &'static str, input: &str) -> Result<String, ValidationError> {
    let ok = (input.starts_with("https://") || input.starts_with("http://"))
        && input.len() <= 1024
        && !input.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(input.to_owned())
    } else {
        Err(ValidationError::new(
            field,
            "must be an http:// or https:// URL of at most 1024 characters without spaces",
        ))
    }
}

fn timestamp(field: &'static str, input: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(input).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ValidationError::new(
            field,
            format!("must be an RFC 3339 timestamp such as 2026-11-22T08:15:30Z (got {input:?})"),
        )
    })
}

/// Amount and currency together: the currency decides how many decimals the amount may have.
fn money(amount: &str, currency: Currency) -> Result<Money, ValidationError> {
    let money = Money::parse(amount, currency).map_err(|e| e.with_field("amount"))?;
    if money.is_zero() {
        return Err(ValidationError::new("amount", "must be greater than zero"));
    }
    Ok(money)
}

/// The fields whose rule is not a domain type's own, as `#[serde(deserialize_with)]` reads them.
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    with(d, |s| Ok(s.to_owned()))
}
fn provider<'de, D: Deserializer<'de>>(d: D) -> Result<ProviderName, D::Error> {
    with(d, ProviderName::parse)
}
fn pay_method<'de, D: Deserializer<'de>>(d: D) -> Result<PayMethod, D::Error> {
    with(d, PayMethod::parse)
}
fn order_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    with(d, |s| token("order_type", s))
}
fn subject<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    with(d, |s| text("subject", s, 128))
}
fn return_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_with(d, |s| url("return_url", s))
}
fn expires_at<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    optional_with(d, |s| timestamp("expires_at", s))
}
fn reason<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_with(d, |s| text("reason", s, 256))
}
fn auth_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AuthCode>, D::Error> {
    optional_with(d, AuthCode::parse)
}
fn openid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_with(d, Payer::parse_openid)
}
fn client_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::net::IpAddr>, D::Error> {
    optional_with(d, Payer::parse_client_ip)
}
fn capture<'de, D: Deserializer<'de>>(d: D) -> Result<CaptureMode, D::Error> {
    with(d, CaptureMode::parse)
}
fn metadata<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let metadata = fields::object(d)?;
    let size = serde_json::to_vec(&metadata).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > METADATA_MAX_BYTES {
        return Err(D::Error::custom(format!(
            "must be at most {METADATA_MAX_BYTES} bytes as JSON (got {size})"
        )));
    }
    Ok(metadata)
}

/// `pay`: take a payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayCommand {
    pub merchant_id: MerchantId,
    pub merchant_order_no: MerchantOrderNo,
    pub amount: Money,
    /// Which provider takes the money (`mockpay`, …); ingest checks it is configured.
    pub provider: ProviderName,
    pub pay_method: PayMethod,
    /// The merchant's kind of order (`retail`, `subscription`, …); events are routed by it.
    pub order_type: String,
    /// What the customer sees on the provider's page.
    pub subject: String,
    pub return_url: Option<String>,
    /// When an unpaid order expires; the provider's default when absent.
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
    /// The customer's payment code, for (and only for) a `barcode` payment. Never serialised:
    /// not part of the command's fingerprint (a one-time credential, not a parameter of the
    /// payment), and never in a log or a stored JSON.
    #[serde(skip)]
    pub auth_code: Option<AuthCode>,
    /// Who pays, where the provider needs it (WeChat Pay JSAPI: `openid`; H5: `client_ip`).
    /// Left out of the serialised command when absent, so the fingerprint of a command without
    /// it is what it was before the field existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// When the money is taken: `automatic` (the default) or `manual` (authorised now, taken by
    /// a `capture` command). Left out of the serialised command when automatic, so the
    /// fingerprint of a command without it is what it was before the field existed.
    #[serde(skip_serializing_if = "is_automatic")]
    pub capture: CaptureMode,
}

fn is_automatic(mode: &CaptureMode) -> bool {
    *mode == CaptureMode::Automatic
}

/// `payer` as it arrives: each field checked by its rule, unknown ones refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayerFields {
    #[serde(default, deserialize_with = "openid")]
    openid: Option<String>,
    #[serde(default, deserialize_with = "client_ip")]
    client_ip: Option<std::net::IpAddr>,
}

/// `pay`'s fields as they arrive: the amount is a decimal string, read with its currency.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayFields {
    #[serde(deserialize_with = "parsed")]
    merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    merchant_order_no: MerchantOrderNo,
    #[serde(deserialize_with = "amount")]
    amount: String,
    #[serde(deserialize_with = "parsed")]
    currency: Currency,
    #[serde(deserialize_with = "provider")]
    provider: ProviderName,
    #[serde(deserialize_with = "pay_method")]
    pay_method: PayMethod,
    #[serde(deserialize_with = "order_type")]
    order_type: String,
    #[serde(deserialize_with = "subject")]
    subject: String,
    #[serde(default, deserialize_with = "return_url")]
    return_url: Option<String>,
    #[serde(default, deserialize_with = "expires_at")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "metadata")]
    metadata: Map<String, Value>,
    #[serde(default, deserialize_with = "auth_code")]
    auth_code: Option<AuthCode>,
    #[serde(default)]
    payer: Option<PayerFields>,
    #[serde(default, deserialize_with = "capture")]
    capture: CaptureMode,
}

impl TryFrom<PayFields> for PayCommand {
    type Error = ValidationError;

    fn try_from(f: PayFields) -> Result<Self, ValidationError> {
        match (f.pay_method, &f.auth_code) {
            (PayMethod::Barcode, None) => return Err(AuthCode::required()),
            (PayMethod::Barcode, Some(_)) | (_, None) => {}
            (other, Some(_)) => {
                return Err(ValidationError::new(
                    AuthCode::FIELD,
                    format!("is only for pay_method barcode (got pay_method {other})"),
                ));
            }
        }
        let payer =
            f.payer.map(|p| Payer { openid: p.openid, client_ip: p.client_ip }).filter(|p| !p.is_empty());
        Ok(PayCommand {
            merchant_id: f.merchant_id,
            merchant_order_no: f.merchant_order_no,
            amount: money(&f.amount, f.currency)?,
            provider: f.provider,
            pay_method: f.pay_method,
            order_type: f.order_type,
            subject: f.subject,
            return_url: f.return_url,
            expires_at: f.expires_at,
            metadata: f.metadata,
            auth_code: f.auth_code,
            payer,
            capture: f.capture,
        })
    }
}

/// `refund`: give back all or part of a captured payment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundCommand {
    pub merchant_id: MerchantId,
    pub refund_no: RefundNo,
    /// The payment being refunded.
    pub merchant_order_no: MerchantOrderNo,
    pub amount: Money,
    pub reason: Option<String>,
    /// Who asked for the refund (normalised); an approver must be someone else.
    pub requested_by: OperatorId,
}

/// `refund`'s fields as they arrive: the amount is a decimal string, read with its currency.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundFields {
    #[serde(deserialize_with = "parsed")]
    merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    refund_no: RefundNo,
    #[serde(deserialize_with = "parsed")]
    merchant_order_no: MerchantOrderNo,
    #[serde(deserialize_with = "amount")]
    amount: String,
    #[serde(deserialize_with = "parsed")]
    currency: Currency,
    #[serde(default, deserialize_with = "reason")]
    reason: Option<String>,
    #[serde(deserialize_with = "parsed")]
    requested_by: OperatorId,
}

impl TryFrom<RefundFields> for RefundCommand {
    type Error = ValidationError;

    fn try_from(f: RefundFields) -> Result<Self, ValidationError> {
        Ok(RefundCommand {
            merchant_id: f.merchant_id,
            refund_no: f.refund_no,
            merchant_order_no: f.merchant_order_no,
            amount: money(&f.amount, f.currency)?,
            reason: f.reason,
            requested_by: f.requested_by,
        })
    }
}

/// `capture`: take all or part of an authorised payment (one paid with `capture: manual`), once.
/// The rest of the authorisation is released.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureCommand {
    pub merchant_id: MerchantId,
    pub merchant_order_no: MerchantOrderNo,
    /// At most the authorised amount, in the payment's currency.
    pub amount: Money,
}

/// `capture`'s fields as they arrive: the amount is a decimal string, read with its currency.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureFields {
    #[serde(deserialize_with = "parsed")]
    merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    merchant_order_no: MerchantOrderNo,
    #[serde(deserialize_with = "amount")]
    amount: String,
    #[serde(deserialize_with = "parsed")]
    currency: Currency,
}

impl TryFrom<CaptureFields> for CaptureCommand {
    type Error = ValidationError;

    fn try_from(f: CaptureFields) -> Result<Self, ValidationError> {
        Ok(CaptureCommand {
            merchant_id: f.merchant_id,
            merchant_order_no: f.merchant_order_no,
            amount: money(&f.amount, f.currency)?,
        })
    }
}

/// `close`: close an unpaid order; `void`: release an authorised payment's hold on the
/// customer's money without taking any of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    #[serde(deserialize_with = "parsed")]
    pub merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    pub merchant_order_no: MerchantOrderNo,
}

/// `query`: the current state of a payment, or of one of its refunds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryCommand {
    #[serde(deserialize_with = "parsed")]
    pub merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    pub merchant_order_no: MerchantOrderNo,
    #[serde(default, deserialize_with = "optional")]
    pub refund_no: Option<RefundNo>,
}

/// `approve_refund` / `reject_refund`: a person's decision on a refund awaiting approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundDecision {
    #[serde(deserialize_with = "parsed")]
    pub merchant_id: MerchantId,
    #[serde(deserialize_with = "parsed")]
    pub refund_no: RefundNo,
    /// Who decided (normalised).
    #[serde(deserialize_with = "parsed")]
    pub approver: OperatorId,
    /// Required to reject; optional to approve.
    #[serde(default, deserialize_with = "reason")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Pay(PayCommand),
    Refund(RefundCommand),
    Close(OrderRef),
    Query(QueryCommand),
    ApproveRefund(RefundDecision),
    RejectRefund(RefundDecision),
    Capture(CaptureCommand),
    Void(OrderRef),
}

impl Command {
    /// Parses a command from its envelope's `message_type` and `payload`.
    pub fn parse(message_type: &str, payload: Value) -> Result<Command, ValidationError> {
        fields::require_object(&payload)?;
        Ok(match message_type {
            PAY => Command::Pay(fields::read::<PayFields>(payload)?.try_into()?),
            REFUND => Command::Refund(fields::read::<RefundFields>(payload)?.try_into()?),
            CLOSE => Command::Close(fields::read(payload)?),
            QUERY => Command::Query(fields::read(payload)?),
            CAPTURE => Command::Capture(fields::read::<CaptureFields>(payload)?.try_into()?),
            VOID => Command::Void(fields::read(payload)?),
            APPROVE_REFUND => Command::ApproveRefund(fields::read(payload)?),
            REJECT_REFUND => {
                let decision: RefundDecision = fields::read(payload)?;
                if decision.reason.is_none() {
                    return Err(ValidationError::new("reason", "is required to reject a refund"));
                }
                Command::RejectRefund(decision)
            }
            other => {
                let other: String = other.chars().take(40).collect();
                let rule = format!("must be one of {} (got {other:?})", ALL.join(", "));
                return Err(ValidationError::new("message_type", rule));
            }
        })
    }

    /// The merchant the command is about.
    pub fn merchant_id(&self) -> &MerchantId {
        match self {
            Command::Pay(c) => &c.merchant_id,
            Command::Refund(c) => &c.merchant_id,
            Command::Close(c) | Command::Void(c) => &c.merchant_id,
            Command::Capture(c) => &c.merchant_id,
            Command::Query(c) => &c.merchant_id,
            Command::ApproveRefund(c) | Command::RejectRefund(c) => &c.merchant_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pay() -> Value {
        json!({
            "merchant_id": "m-1001", "merchant_order_no": "order-0001", "amount": "12.34",
            "currency": "CNY", "provider": "mockpay", "pay_method": "qr", "order_type": "retail",
            "subject": "Coffee", "metadata": {"table": 7}
        })
    }

    fn rejected(message_type: &str, payload: Value) -> String {
        Command::parse(message_type, payload).unwrap_err().to_string()
    }

    #[test]
    fn a_pay_command_parses_into_domain_types() {
        let Command::Pay(p) = Command::parse(PAY, pay()).unwrap() else { panic!("not a pay") };
        assert_eq!(p.amount.minor_units(), 1234);
        assert_eq!(p.amount.currency(), Currency::CNY);
        assert_eq!(p.pay_method, PayMethod::Qr);
        assert_eq!(p.metadata["table"], 7);
    }

    #[test]
    fn every_mistake_names_the_field_and_the_rule() {
        let with = |k: &str, v: Value| {
            let mut p = pay();
            p[k] = v;
            p
        };
        let without = |k: &str| {
            let mut p = pay();
            p.as_object_mut().unwrap().remove(k);
            p
        };
        let cases = [
            (without("merchant_id"), "merchant_id: is required"),
            (with("amount", json!(12.34)), "amount: must be a string (got a number)"),
            (with("amount", json!("12.345")), "amount: CNY allows at most 2 decimal places (got 3)"),
            (with("amount", json!("-1")), "amount: must not be negative"),
            (with("amount", json!("0")), "amount: must be greater than zero"),
            (with("currency", json!("XYZ")), "currency: must be an ISO 4217 currency code we support"),
            (
                with("pay_method", json!("cash")),
                "pay_method: must be one of redirect, form, qr, client_secret, direct, barcode",
            ),
            (with("order_type", json!("Retail.X")), "order_type: must be 1 to 32 characters of a-z 0-9 _"),
            (with("return_url", json!("ftp://x")), "return_url: must be an http:// or https:// URL"),
            (with("expires_at", json!("tomorrow")), "expires_at: must be an RFC 3339 timestamp"),
            (with("metadata", json!([1])), "metadata: must be a JSON object (got an array)"),
            (with("metadata", json!({"x": "y".repeat(5000)})), "metadata: must be at most 4096 bytes"),
            (with("amonut", json!("1")), "amonut: is not a known field"),
            (with("pay_method", json!("barcode")), "auth_code: is required for pay_method barcode"),
            (
                with("auth_code", json!("281234567890123456")),
                "auth_code: is only for pay_method barcode (got pay_method qr)",
            ),
            (with("auth_code", json!(281234567890123456u64)), "auth_code: must be a string (got a number)"),
            (with("payer", json!({"openid": "o x"})), "payer.openid: must be the payer's openid"),
            (
                with("payer", json!({"client_ip": "300.1.2.3"})),
                "payer.client_ip: must be the payer's IP address",
            ),
            (with("payer", json!({"ip": "203.0.113.7"})), "payer.ip: is not a known field"),
            (with("payer", json!("o1")), "payer: invalid type"),
        ];
        for (payload, expected) in cases {
            let got = rejected(PAY, payload);
            assert!(got.starts_with(expected), "expected {expected:?}, got {got:?}");
        }
    }

    fn barcode() -> Value {
        let mut p = pay();
        p["pay_method"] = json!("barcode");
        p["auth_code"] = json!("281234567890123456");
        p
    }

    #[test]
    fn a_barcode_pay_carries_its_auth_code_which_is_never_serialised() {
        let Command::Pay(p) = Command::parse(PAY, barcode()).unwrap() else { panic!("not a pay") };
        assert_eq!(p.pay_method, PayMethod::Barcode);
        assert_eq!(p.auth_code.as_ref().map(AuthCode::expose), Some("281234567890123456"));
        let shown = format!("{p:?} {}", serde_json::to_string(&p).unwrap());
        assert!(!shown.contains("281234567890123456"), "the code leaked: {shown}");
        let mut bad = barcode();
        bad["auth_code"] = json!("28123456789012345x");
        let e = rejected(PAY, bad);
        assert!(
            e.starts_with("auth_code: must be the customer's payment code") && !e.contains("2812345"),
            "{e}"
        );
    }

    #[test]
    fn a_payer_is_optional_and_an_old_command_serialises_as_before() {
        let Command::Pay(old) = Command::parse(PAY, pay()).unwrap() else { panic!("not a pay") };
        assert_eq!(old.payer, None);
        let json = serde_json::to_value(&old).unwrap();
        assert!(json.get("payer").is_none() && json.get("auth_code").is_none(), "{json}");
        let mut p = pay();
        p["pay_method"] = json!("client_secret");
        p["payer"] = json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "client_ip": "2001:db8::7"});
        let Command::Pay(jsapi) = Command::parse(PAY, p).unwrap() else { panic!("not a pay") };
        let payer = jsapi.payer.unwrap();
        assert_eq!(payer.openid.as_deref(), Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
        assert_eq!(payer.client_ip, Some("2001:db8::7".parse().unwrap()));
        let mut empty = pay();
        empty["payer"] = json!({});
        let Command::Pay(empty) = Command::parse(PAY, empty).unwrap() else { panic!("not a pay") };
        assert_eq!(empty, old, "an empty payer is no payer");
    }

    #[test]
    fn refunds_and_decisions() {
        let refund = json!({"merchant_id": "m", "refund_no": "r-1", "merchant_order_no": "o-1",
                            "amount": "5", "currency": "JPY", "requested_by": "alice"});
        assert!(matches!(Command::parse(REFUND, refund).unwrap(), Command::Refund(_)));
        let decision = json!({"merchant_id": "m", "refund_no": "r-1", "approver": "bob"});
        assert!(matches!(
            Command::parse(APPROVE_REFUND, decision.clone()).unwrap(),
            Command::ApproveRefund(_)
        ));
        assert_eq!(rejected(REJECT_REFUND, decision), "reason: is required to reject a refund");
    }

    #[test]
    fn an_unknown_command_names_the_known_ones() {
        assert!(
            rejected("command.settle", json!({})).starts_with("message_type: must be one of command.pay")
        );
    }

    #[test]
    fn a_pay_may_ask_for_manual_capture_and_an_automatic_one_serialises_as_before() {
        let Command::Pay(old) = Command::parse(PAY, pay()).unwrap() else { panic!("not a pay") };
        assert_eq!(old.capture, CaptureMode::Automatic);
        assert!(serde_json::to_value(&old).unwrap().get("capture").is_none());
        let mut p = pay();
        p["capture"] = json!("manual");
        let Command::Pay(manual) = Command::parse(PAY, p).unwrap() else { panic!("not a pay") };
        assert_eq!(manual.capture, CaptureMode::Manual);
        assert_eq!(serde_json::to_value(&manual).unwrap()["capture"], "manual");
        let mut auto = pay();
        auto["capture"] = json!("automatic");
        let Command::Pay(auto) = Command::parse(PAY, auto).unwrap() else { panic!("not a pay") };
        assert_eq!(auto, old, "an explicit automatic is the default");
        let mut bad = pay();
        bad["capture"] = json!("later");
        assert_eq!(rejected(PAY, bad), "capture: must be one of automatic, manual (got \"later\")");
    }

    #[test]
    fn captures_and_voids() {
        let capture =
            json!({"merchant_id": "m", "merchant_order_no": "o-1", "amount": "7.50", "currency": "USD"});
        let Command::Capture(c) = Command::parse(CAPTURE, capture.clone()).unwrap() else {
            panic!("not a capture")
        };
        assert_eq!(c.amount.minor_units(), 750);
        let mut zero = capture.clone();
        zero["amount"] = json!("0");
        assert_eq!(rejected(CAPTURE, zero), "amount: must be greater than zero");
        let mut without = capture.clone();
        without.as_object_mut().unwrap().remove("currency");
        assert_eq!(rejected(CAPTURE, without), "currency: is required");
        let void = json!({"merchant_id": "m", "merchant_order_no": "o-1"});
        assert!(matches!(Command::parse(VOID, void).unwrap(), Command::Void(_)));
        assert!(
            rejected(VOID, json!({"merchant_id": "m", "merchant_order_no": "o-1", "amount": "1"}))
                .starts_with("amount: is not a known field")
        );
    }
}
