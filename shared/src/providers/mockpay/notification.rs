//! mockpay's notifications (tests/mockpay/README.md, "Notifications"): verifying the signed
//! webhook and reading its body into a [`Notification`].
//!
//! - Headers: `X-Mockpay-Timestamp` (Unix seconds), `X-Mockpay-Nonce`, `X-Mockpay-Signature`
//!   (lowercase hex HMAC-SHA256 with the merchant secret over `TIMESTAMP\nNONCE\nBODY`). There is
//!   no merchant header; the merchant is in the body.
//! - The signature is checked first (in constant time), then the timestamp window (±300 s by
//!   default, as mockpay itself uses): a stale timestamp on a genuine signature is a replay.
//! - Body: `{notificationId, eventType, merchantId, orderId, transactionId, refundId?, amount,
//!   currency, occurredAt}`; amounts are integer minor units. Every field is checked and a
//!   refusal names the field and the rule. Unknown fields are tolerated (a provider may add some).
//! - Acknowledgement: HTTP 200 `{"returnCode":"0000"}`; anything else makes mockpay retry, and
//!   our failures say so in the same envelope (`9000`).

use super::codes::ReturnCode;
use super::signing::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, Secret};
use crate::domain::{Currency, Money};
use crate::providers::notification::{
    Acknowledgement, ClaimedEvent, Notification, NotificationRejection, NotificationVerifier, RejectReason,
};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The acknowledgement body mockpay expects.
pub const ACK_BODY: &str = r#"{"returnCode":"0000"}"#;
/// How far a notification's timestamp may be from our clock, by default.
pub const DEFAULT_WINDOW_SECS: i64 = 300;
/// mockpay's `eventType`s, and what each claims happened.
const EVENT_TYPES: [(&str, ClaimedEvent); 6] = [
    ("PAYMENT.SUCCEEDED", ClaimedEvent::PaymentSucceeded),
    ("PAYMENT.DECLINED", ClaimedEvent::PaymentDeclined),
    ("PAYMENT.CLOSED", ClaimedEvent::PaymentClosed),
    ("PAYMENT.EXPIRED", ClaimedEvent::PaymentExpired),
    ("REFUND.SUCCEEDED", ClaimedEvent::RefundSucceeded),
    ("REFUND.FAILED", ClaimedEvent::RefundFailed),
];
/// The longest notification id we keep.
const MAX_ID_CHARS: usize = 128;

/// Verifies mockpay notifications for one merchant. Holds the signing secret only.
#[derive(Debug, Clone)]
pub struct MockpayNotifications {
    /// The provider's configured name (`mockpay` unless configured otherwise).
    name: &'static str,
    merchant_id: String,
    secret: Secret,
    window_secs: i64,
}

impl MockpayNotifications {
    pub fn new(merchant_id: impl Into<String>, secret: Secret) -> Self {
        Self { name: super::NAME, merchant_id: merchant_id.into(), secret, window_secs: DEFAULT_WINDOW_SECS }
    }

    /// Under another configured name than `mockpay`.
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    pub fn with_window_secs(mut self, secs: i64) -> Self {
        self.window_secs = secs;
        self
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, RejectReason> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(RejectReason::MissingHeader(name))
}

impl NotificationVerifier for MockpayNotifications {
    fn provider(&self) -> &'static str {
        self.name
    }

    fn content_types(&self) -> &'static [&'static str] {
        &["application/json"]
    }

    fn account(&self) -> &str {
        &self.merchant_id
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection> {
        let timestamp = header(headers, HEADER_TIMESTAMP)?;
        let nonce = header(headers, HEADER_NONCE)?;
        let signature = header(headers, HEADER_SIGNATURE)?;
        if !signing::verify_notification(&self.secret, timestamp, nonce, body, signature) {
            return Err(RejectReason::BadSignature(format!(
                "{HEADER_SIGNATURE} is not the HMAC-SHA256 of TIMESTAMP\\nNONCE\\nBODY under our merchant secret"
            )));
        }
        let stale = || RejectReason::StaleTimestamp {
            header: HEADER_TIMESTAMP,
            window_secs: self.window_secs,
            got: timestamp.chars().take(32).collect(),
            now: now.timestamp(),
        };
        let at: i64 = timestamp.parse().map_err(|_| stale())?;
        if now.timestamp().abs_diff(at) > self.window_secs.unsigned_abs() {
            return Err(stale());
        }
        self.parse(body)
    }

    fn parse(&self, body: &[u8]) -> Result<Notification, NotificationRejection> {
        parse(body)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { status: 200, content_type: "application/json", body: ACK_BODY.to_owned() }
    }

    fn failure(&self, status: u16, message: &str) -> Acknowledgement {
        let body =
            serde_json::json!({"returnCode": ReturnCode::InternalError.wire(), "returnMessage": message})
                .to_string();
        Acknowledgement { status, content_type: "application/json", body }
    }
}

/// Reads a notification body (no signature check). Public for the fuzz target.
pub fn parse(body: &[u8]) -> Result<Notification, RejectReason> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RejectReason::malformed("(body)", format!("must be a JSON object ({e})")))?;
    let Value::Object(o) = value else {
        return Err(RejectReason::malformed("(body)", "must be a JSON object"));
    };
    let notification_id = string(&o, "notificationId")?;
    if notification_id.chars().count() > MAX_ID_CHARS {
        return Err(RejectReason::malformed(
            "notificationId",
            format!("must be at most {MAX_ID_CHARS} characters"),
        ));
    }
    let event_type = string(&o, "eventType")?;
    let event = EVENT_TYPES.iter().find(|(name, _)| *name == event_type).map(|(_, event)| *event);
    let Some(event) = event else {
        let names: Vec<&str> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
        return Err(RejectReason::malformed(
            "eventType",
            format!(
                "must be one of {} (got {:?})",
                names.join(", "),
                event_type.chars().take(64).collect::<String>()
            ),
        ));
    };
    let account = string(&o, "merchantId")?;
    let trade_no = number(&o, "orderId")?;
    let provider_txn_id = string(&o, "transactionId")?;
    if provider_txn_id.len() > 32 || !provider_txn_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RejectReason::malformed(
            "transactionId",
            "must be a string of at most 32 decimal digits",
        ));
    }
    let refund_trade_no = match (event.is_refund(), o.get("refundId")) {
        (true, _) => Some(number(&o, "refundId")?),
        (false, None | Some(Value::Null)) => None,
        (false, Some(_)) => {
            return Err(RejectReason::malformed("refundId", "must be absent for a PAYMENT.* event"));
        }
    };
    let amount = match o.get("amount") {
        Some(Value::Number(n)) => n.as_i64().filter(|a| *a > 0).ok_or_else(|| {
            RejectReason::malformed("amount", "must be a whole number of minor units above 0")
        })?,
        Some(_) => return Err(RejectReason::malformed("amount", "must be a JSON integer (minor units)")),
        None => return Err(RejectReason::malformed("amount", "is required")),
    };
    let currency = string(&o, "currency")?;
    let currency =
        Currency::parse(&currency).map_err(|e| RejectReason::malformed("currency", e.to_string()))?;
    let amount =
        Money::from_minor(amount, currency).map_err(|e| RejectReason::malformed("amount", e.to_string()))?;
    let occurred_at = string(&o, "occurredAt")?;
    let occurred_at = DateTime::parse_from_rfc3339(&occurred_at)
        .map_err(|e| RejectReason::malformed("occurredAt", format!("must be an RFC 3339 time ({e})")))?
        .with_timezone(&Utc);
    Ok(Notification {
        notification_id,
        trade_no,
        refund_trade_no,
        event,
        amount,
        account,
        provider_txn_id: Some(provider_txn_id),
        occurred_at,
    })
}

fn string(o: &Map<String, Value>, field: &'static str) -> Result<String, RejectReason> {
    match o.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(RejectReason::malformed(field, "must not be empty")),
        Some(_) => Err(RejectReason::malformed(field, "must be a string")),
        None => Err(RejectReason::malformed(field, "is required")),
    }
}

/// An order or refund number: 1 to 64 characters of `A-Z a-z 0-9 - _ . :`.
fn number(o: &Map<String, Value>, field: &'static str) -> Result<String, RejectReason> {
    let s = string(o, field)?;
    if super::valid_number(&s) {
        Ok(s)
    } else {
        Err(RejectReason::malformed(field, "must be 1 to 64 characters of A-Z a-z 0-9 - _ . :"))
    }
}

/// A signed notification as mockpay would send it: the headers, for tests and the benchmark.
pub fn signed_headers(
    secret: &Secret,
    body: &[u8],
    at: DateTime<Utc>,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = at.timestamp().to_string();
    let signature = signing::notification_signature(secret, &timestamp, nonce, body);
    vec![
        ("Content-Type", "application/json".to_owned()),
        (HEADER_TIMESTAMP, timestamp),
        (HEADER_NONCE, nonce.to_owned()),
        (HEADER_SIGNATURE, signature),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BODY: &str = r#"{"notificationId":"ntf_0199a0c0e7d07c3f8e7a4b5c6d7e8f90","eventType":"PAYMENT.SUCCEEDED","merchantId":"m1","orderId":"ord-1001","transactionId":"2000000123456789012","amount":1500,"currency":"JPY","occurredAt":"2026-01-01T00:00:05.123Z"}"#;

    fn verifier() -> MockpayNotifications {
        MockpayNotifications::new("m1", Secret::new("secret1"))
    }

    fn headers(body: &str, at: DateTime<Utc>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in signed_headers(&Secret::new("secret1"), body.as_bytes(), at, "n-1") {
            map.insert(k, v.parse().unwrap());
        }
        map
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn the_readmes_notification_verifies_and_reads() {
        let mut map = HeaderMap::new();
        map.insert(HEADER_TIMESTAMP, "1767225606".parse().unwrap());
        map.insert(HEADER_NONCE, "b1946ac92492d2347c6235b4d2611184".parse().unwrap());
        map.insert(
            HEADER_SIGNATURE,
            "a688d860df29f594f07b7237074fabd54bf16948bceeb5bbc93100aad4a6da26".parse().unwrap(),
        );
        let n = verifier().verify(&map, BODY.as_bytes(), at(1_767_225_610)).unwrap();
        assert_eq!(n.event, ClaimedEvent::PaymentSucceeded);
        assert_eq!(n.amount, Money::from_minor(1500, Currency::parse("JPY").unwrap()).unwrap());
        assert_eq!((n.account.as_str(), n.trade_no.as_str()), ("m1", "ord-1001"));
        assert_eq!(n.provider_txn_id.as_deref(), Some("2000000123456789012"));
        assert_eq!(n.refund_trade_no, None);
    }

    #[test]
    fn a_forged_or_stale_notification_is_refused_with_its_reason() {
        let now = at(1_767_225_600);
        let mut forged = headers(BODY, now);
        forged.insert(HEADER_SIGNATURE, "00".repeat(32).parse().unwrap());
        assert_eq!(verifier().verify(&forged, BODY.as_bytes(), now).unwrap_err().token(), "bad_signature");
        let tampered = BODY.replace("1500", "15");
        let err = verifier().verify(&headers(BODY, now), tampered.as_bytes(), now).unwrap_err();
        assert_eq!(err.token(), "bad_signature");
        let err = verifier().verify(&headers(BODY, at(1_767_225_000)), BODY.as_bytes(), now).unwrap_err();
        assert_eq!(err.token(), "stale_timestamp");
        assert_eq!(err.http_status(), 401);
        let mut missing = headers(BODY, now);
        missing.remove(HEADER_NONCE);
        let err = verifier().verify(&missing, BODY.as_bytes(), now).unwrap_err();
        assert_eq!(err, RejectReason::MissingHeader(HEADER_NONCE));
        let err = MockpayNotifications::new("m1", Secret::new("other"))
            .verify(&headers(BODY, now), BODY.as_bytes(), now)
            .unwrap_err();
        assert_eq!(err.token(), "bad_signature");
    }

    #[test]
    fn a_malformed_body_names_the_field() {
        let cases = [
            ("not json", "(body)"),
            ("[]", "(body)"),
            (&BODY.replace("\"amount\":1500", "\"amount\":15.5"), "amount"),
            (&BODY.replace("\"amount\":1500", "\"amount\":-1"), "amount"),
            (&BODY.replace("\"amount\":1500", "\"amount\":\"1500\""), "amount"),
            (&BODY.replace("PAYMENT.SUCCEEDED", "PAYMENT.WHATEVER"), "eventType"),
            (&BODY.replace("REFUND", "x").replace("PAYMENT.SUCCEEDED", "REFUND.SUCCEEDED"), "refundId"),
            (&BODY.replace("\"JPY\"", "\"yen\""), "currency"),
            (&BODY.replace("ord-1001", "ord/1001"), "orderId"),
            (&BODY.replace("2026-01-01T00:00:05.123Z", "yesterday"), "occurredAt"),
            (&BODY.replace("\"merchantId\":\"m1\",", ""), "merchantId"),
        ];
        for (body, field) in cases {
            match parse(body.as_bytes()) {
                Err(RejectReason::MalformedBody { field: f, rule }) => assert_eq!(f, field, "{body}: {rule}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_refund_notification_names_its_refund() {
        let body = BODY
            .replace("PAYMENT.SUCCEEDED", "REFUND.SUCCEEDED")
            .replace("\"amount\"", "\"refundId\":\"r-1\",\"amount\"");
        let n = parse(body.as_bytes()).unwrap();
        assert_eq!(n.event, ClaimedEvent::RefundSucceeded);
        assert_eq!(n.refund_trade_no.as_deref(), Some("r-1"));
    }

    #[test]
    fn the_acknowledgement_is_mockpays() {
        let ack = verifier().acknowledgement();
        assert_eq!((ack.status, ack.body.as_str()), (200, ACK_BODY));
        assert_eq!(ACK_BODY, format!(r#"{{"returnCode":"{}"}}"#, ReturnCode::Success.wire()));
        let fail = verifier().failure(503, "database unavailable");
        assert_eq!(fail.status, 503);
        assert!(fail.body.contains("9000"));
    }
}
