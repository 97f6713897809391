//! Alipay's asynchronous trade notifications (`notify_type=trade_status_sync`): reading the form
//! body, verifying it, checking it is for our app and seller, and the acknowledgement.
//!
//! - The body is `application/x-www-form-urlencoded`, UTF-8 (the `charset` parameter, when
//!   present, must say so). Values are URL-decoded (`+` and `%20` are spaces) before the check.
//! - The signature is verified first ([`signing::verify_notification`]: every parameter but
//!   `sign` and `sign_type`, sorted, empty ones kept as `k=`), then the fields are read, then
//!   `app_id` (and `seller_id`, when configured) are compared with ours.
//! - Amounts are yuan strings (`"88.88"`, `"10.5"`), read with `rust_decimal` into integer fen:
//!   at most 2 decimals, never negative, digits and one optional point only.
//! - Times (`notify_time`, `gmt_*`) are Beijing time `yyyy-MM-dd HH:mm:ss` (`gmt_refund` may add
//!   `.SSS`), returned in UTC.
//! - A parameter paygate does not read is tolerated (Alipay adds some, such as `fund_bill_list`);
//!   every one is still covered by the signature. A parameter given twice is refused.
//! - Acknowledgement: HTTP 200 and the body exactly [`ACK_SUCCESS`] (the 7 characters); anything
//!   else (we answer [`ACK_FAILURE`]) makes Alipay send it again: 8 times within about 25 h, at
//!   4m, 10m, 10m, 1h, 2h, 6h, 15h, with the same `notify_id` (open-platform notification notes).
//! - `WAIT_BUYER_PAY` is read, but Alipay does not send it by default; the same notes say a
//!   notification follows a change of trade status.
//!
//! Every refusal is a [`NotificationError`] that names the field and the rule broken.

use super::signing::{self, AlipayPublicKey, NotificationSignError};
use crate::domain::{Currency, Money};
use crate::providers::notification::{
    Acknowledgement, ClaimedEvent, Notification, NotificationRejection, NotificationVerifier, RejectReason,
};
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

/// The body that tells Alipay the notification was taken.
pub const ACK_SUCCESS: &str = "success";
/// What we answer when we did not take it: anything but `success` makes Alipay retry.
pub const ACK_FAILURE: &str = "fail";
/// The content type Alipay posts notifications with.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The `notify_type` of trade status notifications, the only kind read here.
pub const NOTIFY_TYPE_TRADE: &str = "trade_status_sync";

/// The acknowledgement body for a notification we took (`true`) or did not.
pub fn acknowledgement(taken: bool) -> &'static str {
    if taken { ACK_SUCCESS } else { ACK_FAILURE }
}

/// Who we are at Alipay, to check a notification is for us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Our app id: the notification's `app_id` must equal it.
    pub app_id: String,
    /// Our seller id (PID, `2088…`), if configured: the notification's `seller_id` must equal it.
    pub seller_id: Option<String>,
}

/// `trade_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    /// Created, not yet paid.
    WaitBuyerPay,
    /// Paid; still refundable. A partial refund leaves a trade here.
    TradeSuccess,
    /// Closed: unpaid until it timed out, or fully refunded. Final.
    TradeClosed,
    /// Paid and no longer refundable. Final.
    TradeFinished,
}

impl TradeStatus {
    pub fn parse(value: &str) -> Result<Self, NotificationError> {
        match value {
            "WAIT_BUYER_PAY" => Ok(Self::WaitBuyerPay),
            "TRADE_SUCCESS" => Ok(Self::TradeSuccess),
            "TRADE_CLOSED" => Ok(Self::TradeClosed),
            "TRADE_FINISHED" => Ok(Self::TradeFinished),
            other => Err(NotificationError::Invalid {
                field: "trade_status",
                rule: format!(
                    "must be WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED or TRADE_FINISHED (got {other:?})"
                ),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitBuyerPay => "WAIT_BUYER_PAY",
            Self::TradeSuccess => "TRADE_SUCCESS",
            Self::TradeClosed => "TRADE_CLOSED",
            Self::TradeFinished => "TRADE_FINISHED",
        }
    }
}

/// A verified trade notification, its fields read. Amounts are integer fen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipayNotification {
    pub notify_id: String,
    pub notify_type: String,
    pub notify_time: DateTime<Utc>,
    pub app_id: String,
    /// Our trade number.
    pub out_trade_no: String,
    /// Alipay's trade number.
    pub trade_no: String,
    pub trade_status: TradeStatus,
    pub total_amount_fen: i64,
    pub receipt_amount_fen: Option<i64>,
    pub buyer_pay_amount_fen: Option<i64>,
    pub invoice_amount_fen: Option<i64>,
    /// The amount refunded so far on this trade (cumulative), when the notification is about a
    /// refund.
    pub refund_fee_fen: Option<i64>,
    /// The refund's request number (our `out_request_no`), on refund notifications.
    pub out_biz_no: Option<String>,
    pub seller_id: Option<String>,
    pub buyer_id: Option<String>,
    pub gmt_create: Option<DateTime<Utc>>,
    pub gmt_payment: Option<DateTime<Utc>>,
    pub gmt_refund: Option<DateTime<Utc>>,
    pub gmt_close: Option<DateTime<Utc>>,
}

impl AlipayNotification {
    /// What the notification claims, in our terms; `None` for `WAIT_BUYER_PAY` (nothing
    /// happened yet). A notification carrying a refund (`refund_fee` or `out_biz_no`) claims a
    /// refund, whether it left the trade `TRADE_SUCCESS` (partial) or `TRADE_CLOSED` (full).
    pub fn claim(&self) -> Option<ClaimedEvent> {
        let refund = self.refund_fee_fen.is_some() || self.out_biz_no.is_some();
        match self.trade_status {
            TradeStatus::WaitBuyerPay => None,
            _ if refund => Some(ClaimedEvent::RefundSucceeded),
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => Some(ClaimedEvent::PaymentSucceeded),
            TradeStatus::TradeClosed => Some(ClaimedEvent::PaymentClosed),
        }
    }
}

/// Why a notification was refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("body: must be UTF-8")]
    BodyNotUtf8,
    #[error("charset: must be utf-8 (got {0:?})")]
    Charset(String),
    #[error("{0}: is required")]
    Missing(&'static str),
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
    #[error("{field}: must be {expected:?}, ours (got {got:?})")]
    NotOurs { field: &'static str, expected: String, got: String },
    #[error(transparent)]
    Signature(#[from] NotificationSignError),
}

/// Reads, verifies and checks a notification body. The signature is checked before any field
/// is believed.
pub fn read(
    body: &[u8],
    key: &AlipayPublicKey,
    expected: &Expected,
) -> Result<AlipayNotification, NotificationError> {
    let params = decode_form(body)?;
    signing::verify_notification(key, &params)?;
    let notification = parse_fields(&params)?;
    if notification.app_id != expected.app_id {
        return Err(NotificationError::NotOurs {
            field: "app_id",
            expected: expected.app_id.clone(),
            got: notification.app_id,
        });
    }
    if let Some(seller) = &expected.seller_id
        && notification.seller_id.as_deref() != Some(seller.as_str())
    {
        return Err(NotificationError::NotOurs {
            field: "seller_id",
            expected: seller.clone(),
            got: notification.seller_id.unwrap_or_default(),
        });
    }
    Ok(notification)
}

/// Decodes the form body into its parameters, in order, values URL-decoded.
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, NotificationError> {
    std::str::from_utf8(body).map_err(|_| NotificationError::BodyNotUtf8)?;
    let mut params = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        // A percent-escape that decodes to invalid UTF-8 is replaced by U+FFFD: refuse it rather
        // than check a string Alipay did not sign.
        if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
            return Err(NotificationError::BodyNotUtf8);
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    if let Some((_, charset)) = params.iter().find(|(k, _)| k == "charset")
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        return Err(NotificationError::Charset(charset.clone()));
    }
    Ok(params)
}

/// Reads the fields of verified parameters (no signature check here; see [`read`]).
pub fn parse_fields(params: &[(String, String)]) -> Result<AlipayNotification, NotificationError> {
    let get = |name: &'static str| {
        params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    };
    let required = |name: &'static str| get(name).ok_or(NotificationError::Missing(name));
    let amount = |name: &'static str| get(name).map(|v| yuan_to_fen(name, v)).transpose();
    let time = |name: &'static str| get(name).map(|v| beijing_time(name, v)).transpose();

    let notify_type = required("notify_type")?;
    if notify_type != NOTIFY_TYPE_TRADE {
        return Err(NotificationError::Invalid {
            field: "notify_type",
            rule: format!("must be {NOTIFY_TYPE_TRADE} (got {notify_type:?})"),
        });
    }
    Ok(AlipayNotification {
        notify_id: required("notify_id")?.to_owned(),
        notify_type: notify_type.to_owned(),
        notify_time: beijing_time("notify_time", required("notify_time")?)?,
        app_id: required("app_id")?.to_owned(),
        out_trade_no: required("out_trade_no")?.to_owned(),
        trade_no: required("trade_no")?.to_owned(),
        trade_status: TradeStatus::parse(required("trade_status")?)?,
        total_amount_fen: yuan_to_fen("total_amount", required("total_amount")?)?,
        receipt_amount_fen: amount("receipt_amount")?,
        buyer_pay_amount_fen: amount("buyer_pay_amount")?,
        invoice_amount_fen: amount("invoice_amount")?,
        refund_fee_fen: amount("refund_fee")?,
        out_biz_no: get("out_biz_no").map(str::to_owned),
        seller_id: get("seller_id").map(str::to_owned),
        buyer_id: get("buyer_id").map(str::to_owned),
        gmt_create: time("gmt_create")?,
        gmt_payment: time("gmt_payment")?,
        gmt_refund: time("gmt_refund")?,
        gmt_close: time("gmt_close")?,
    })
}

/// A yuan amount (`"88.88"`, `"10.5"`, `"3"`) in integer fen. At most 2 decimals, not negative,
/// ASCII digits with at most one point that has digits on both sides.
pub fn yuan_to_fen(field: &'static str, value: &str) -> Result<i64, NotificationError> {
    let invalid = |rule: String| NotificationError::Invalid { field, rule };
    if value.starts_with('-') {
        return Err(invalid(format!("must not be negative (got {value:?})")));
    }
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(invalid(format!("must be a yuan amount such as 88.88 (got {value:?})")));
    }
    if fraction.len() > 2 {
        return Err(invalid(format!("must have at most 2 decimals (got {value:?})")));
    }
    let yuan = Decimal::from_str(value).map_err(|e| invalid(format!("is not a decimal ({e}): {value:?}")))?;
    (yuan * Decimal::ONE_HUNDRED)
        .trunc()
        .try_into()
        .map_err(|_| invalid(format!("is too large (got {value:?})")))
}

/// A Beijing time `yyyy-MM-dd HH:mm:ss` (optionally `.SSS`), in UTC.
pub fn beijing_time(field: &'static str, value: &str) -> Result<DateTime<Utc>, NotificationError> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| {
        NotificationError::Invalid {
            field,
            rule: format!("must be a Beijing time yyyy-MM-dd HH:mm:ss (got {value:?})"),
        }
    })?;
    let beijing = crate::providers::provider_day::china_standard_time();
    Ok(beijing
        .from_local_datetime(&naive)
        .single()
        .expect("a fixed offset maps every local time once")
        .with_timezone(&Utc))
}

/// Alipay's notifications as notify-handler and the dispatcher read them
/// ([`NotificationVerifier`]): verified with Alipay's public key, checked against our app and
/// seller, and read into our [`Notification`]. A refund's claim carries `refund_fee`, which is
/// the trade's cumulative refunded amount, not this refund's: the dispatcher queries back
/// (Alipay's policy is always query-back).
#[derive(Debug, Clone)]
pub struct AlipayNotifications {
    name: &'static str,
    key: AlipayPublicKey,
    expected: Expected,
}

impl AlipayNotifications {
    pub fn new(name: &'static str, key: AlipayPublicKey, expected: Expected) -> Self {
        Self { name, key, expected }
    }
}

fn rejection(e: NotificationError) -> RejectReason {
    match e {
        NotificationError::Signature(s) => RejectReason::BadSignature(s.to_string()),
        NotificationError::BodyNotUtf8 => RejectReason::malformed("(body)", "must be UTF-8"),
        NotificationError::Charset(got) => {
            RejectReason::malformed("charset", format!("must be utf-8 (got {got:?})"))
        }
        NotificationError::Missing(field) => RejectReason::malformed(field, "is required"),
        NotificationError::Invalid { field, rule } => RejectReason::malformed(field, rule),
        NotificationError::NotOurs { field, expected, got } => {
            RejectReason::malformed(field, format!("must be {expected:?}, ours (got {got:?})"))
        }
    }
}

fn ours(n: AlipayNotification) -> Result<Notification, RejectReason> {
    let event = n.claim().ok_or_else(|| {
        RejectReason::malformed("trade_status", "WAIT_BUYER_PAY claims nothing that happened")
    })?;
    let fen =
        if event.is_refund() { n.refund_fee_fen.unwrap_or(n.total_amount_fen) } else { n.total_amount_fen };
    let amount = Money::from_minor(fen, Currency::CNY)
        .map_err(|e| RejectReason::malformed("total_amount", e.to_string()))?;
    let occurred_at = match event {
        ClaimedEvent::RefundSucceeded => n.gmt_refund,
        ClaimedEvent::PaymentClosed => n.gmt_close,
        _ => n.gmt_payment,
    }
    .unwrap_or(n.notify_time);
    Ok(Notification {
        notification_id: n.notify_id,
        refund_trade_no: if event.is_refund() { n.out_biz_no } else { None },
        trade_no: n.out_trade_no,
        event,
        amount,
        account: n.app_id,
        provider_txn_id: Some(n.trade_no),
        occurred_at,
    })
}

impl NotificationVerifier for AlipayNotifications {
    fn provider(&self) -> &'static str {
        self.name
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[CONTENT_TYPE]
    }

    fn account(&self) -> &str {
        &self.expected.app_id
    }

    fn verify(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection> {
        // Alipay's notifications carry no timestamp window of their own: a replay is a duplicate
        // `notify_id`, which the inbox de-duplicates.
        ours(read(body, &self.key, &self.expected).map_err(rejection)?)
    }

    fn parse(&self, body: &[u8]) -> Result<Notification, NotificationRejection> {
        let params = decode_form(body).map_err(rejection)?;
        ours(parse_fields(&params).map_err(rejection)?)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { status: 200, content_type: "text/plain", body: ACK_SUCCESS.to_owned() }
    }

    fn failure(&self, status: u16, _message: &str) -> Acknowledgement {
        Acknowledgement { status, content_type: "text/plain", body: ACK_FAILURE.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn minimal() -> Vec<(String, String)> {
        params(&[
            ("notify_id", "n1"),
            ("notify_type", "trade_status_sync"),
            ("notify_time", "2026-12-06 20:10:12"),
            ("app_id", "2021000000000001"),
            ("out_trade_no", "pg-1"),
            ("trade_no", "2026"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "88.88"),
        ])
    }

    fn with(name: &str, value: &str) -> Vec<(String, String)> {
        let mut p: Vec<_> = minimal().into_iter().filter(|(k, _)| k != name).collect();
        p.push((name.to_owned(), value.to_owned()));
        p
    }

    fn without(name: &str) -> Vec<(String, String)> {
        minimal().into_iter().filter(|(k, _)| k != name).collect()
    }

    #[test]
    fn yuan_amounts_become_fen_exactly() {
        assert_eq!(yuan_to_fen("total_amount", "88.88"), Ok(8888));
        assert_eq!(yuan_to_fen("total_amount", "10.5"), Ok(1050));
        assert_eq!(yuan_to_fen("total_amount", "3"), Ok(300));
        assert_eq!(yuan_to_fen("total_amount", "0.01"), Ok(1));
        assert_eq!(yuan_to_fen("total_amount", "0.00"), Ok(0));
        assert_eq!(yuan_to_fen("total_amount", "100000000.00"), Ok(10_000_000_000));
    }

    #[test]
    fn a_bad_amount_names_the_field_and_the_rule() {
        let msg = |field, v| yuan_to_fen(field, v).unwrap_err().to_string();
        assert_eq!(
            msg("total_amount", "1.001"),
            "total_amount: must have at most 2 decimals (got \"1.001\")"
        );
        assert_eq!(msg("refund_fee", "-1.00"), "refund_fee: must not be negative (got \"-1.00\")");
        for bad in ["1.", ".5", "1,00", "+1", "1e2", "1_000", " 1", "１"] {
            assert_eq!(
                msg("receipt_amount", bad),
                format!("receipt_amount: must be a yuan amount such as 88.88 (got {bad:?})")
            );
        }
        assert!(msg("total_amount", "99999999999999999999").contains("too large"));
    }

    #[test]
    fn times_are_beijing_time() {
        let t = beijing_time("gmt_payment", "2026-12-06 08:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-06T00:00:00+00:00");
        let t = beijing_time("gmt_refund", "2026-12-07 09:00:00.123").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-07T01:00:00.123+00:00");
        assert_eq!(
            beijing_time("gmt_close", "2026-12-06T08:00:00Z").unwrap_err().to_string(),
            "gmt_close: must be a Beijing time yyyy-MM-dd HH:mm:ss (got \"2026-12-06T08:00:00Z\")"
        );
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        for name in [
            "notify_id",
            "notify_type",
            "notify_time",
            "app_id",
            "out_trade_no",
            "trade_no",
            "trade_status",
            "total_amount",
        ] {
            assert_eq!(parse_fields(&without(name)).unwrap_err(), NotificationError::Missing(name), "{name}");
            // An empty value is as good as missing.
            assert_eq!(
                parse_fields(&with(name, "")).unwrap_err(),
                NotificationError::Missing(name),
                "{name}"
            );
        }
        let msg = |p: Vec<(String, String)>| parse_fields(&p).unwrap_err().to_string();
        assert_eq!(
            msg(with("trade_status", "TRADE_PENDING")),
            "trade_status: must be WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED or TRADE_FINISHED (got \"TRADE_PENDING\")"
        );
        assert_eq!(
            msg(with("notify_type", "fund_sync")),
            "notify_type: must be trade_status_sync (got \"fund_sync\")"
        );
        assert_eq!(
            msg(with("refund_fee", "1.234")),
            "refund_fee: must have at most 2 decimals (got \"1.234\")"
        );
        assert_eq!(msg(with("total_amount", "-0.01")), "total_amount: must not be negative (got \"-0.01\")");
        assert!(msg(with("gmt_payment", "yesterday")).starts_with("gmt_payment: must be a Beijing time"));
        assert!(
            msg(with("notify_time", "2026-13-01 00:00:00"))
                .starts_with("notify_time: must be a Beijing time")
        );
    }

    #[test]
    fn statuses_map_to_claims() {
        let claim = |p: Vec<(String, String)>| parse_fields(&p).unwrap().claim();
        assert_eq!(claim(with("trade_status", "WAIT_BUYER_PAY")), None);
        assert_eq!(claim(with("trade_status", "TRADE_SUCCESS")), Some(ClaimedEvent::PaymentSucceeded));
        assert_eq!(claim(with("trade_status", "TRADE_FINISHED")), Some(ClaimedEvent::PaymentSucceeded));
        assert_eq!(claim(with("trade_status", "TRADE_CLOSED")), Some(ClaimedEvent::PaymentClosed));
        let mut refunded = with("trade_status", "TRADE_CLOSED");
        refunded.push(("refund_fee".into(), "88.88".into()));
        assert_eq!(claim(refunded), Some(ClaimedEvent::RefundSucceeded));
        let mut partial = minimal();
        partial.push(("out_biz_no".into(), "rf-1".into()));
        assert_eq!(claim(partial), Some(ClaimedEvent::RefundSucceeded));
    }

    #[test]
    fn the_form_body_is_utf8_with_a_utf8_charset() {
        assert_eq!(decode_form(b"a=\xff").unwrap_err(), NotificationError::BodyNotUtf8);
        assert_eq!(decode_form(b"a=%ff").unwrap_err(), NotificationError::BodyNotUtf8);
        assert_eq!(decode_form(b"charset=GBK&a=1").unwrap_err(), NotificationError::Charset("GBK".into()));
        assert_eq!(
            decode_form(b"charset=UTF-8&s=a+b%20c%2B%26&e=").unwrap(),
            params(&[("charset", "UTF-8"), ("s", "a b c+&"), ("e", "")])
        );
    }

    #[test]
    fn acknowledgements() {
        assert_eq!(acknowledgement(true), "success");
        assert_eq!(acknowledgement(false), "fail");
    }
}
