//! Stripe webhooks (events) behind the common [`NotificationVerifier`] trait.
//!
//! - Verify `Stripe-Signature` over the exact raw body first ([`signing::verify`]: any `v1`
//!   matches, constant time, 300 s tolerance).
//! - Body: an event `{id: "evt_…", object: "event", type, created, livemode, account?,
//!   data: {object: {…}}}`. The notification id is `event.id`, so the inbox de-duplicates Stripe's
//!   retries and duplicates on it. Order is not guaranteed: the policy is query-back, so an older
//!   event only makes the dispatcher ask Stripe for the current state, it never moves the order
//!   by itself (and the state machine never moves a final state back).
//! - Event types we take ([`EventType`]): `payment_intent.succeeded` (paid),
//!   `payment_intent.payment_failed` (a declined attempt), `payment_intent.canceled` (closed):
//!   `data.object` is a PaymentIntent carrying our trade number in `metadata.trade_no`;
//!   `refund.updated` and `refund.failed` with a Refund in a final status (`succeeded`, `failed`,
//!   `canceled`) carrying `metadata.trade_no` and `metadata.refund_no`. Any other type, or a
//!   refund event whose refund is still `pending`, is refused as malformed (400): the webhook
//!   endpoint at Stripe should subscribe to the types above only (docs/providers/stripe.md).
//! - The account: an event for a connected account names it in `account`; otherwise the endpoint
//!   secret that signed it is the account's own, and the claim names our configured account.
//! - Acknowledgement: 200 with `{}`; a failure is the status with `{"error": "…"}`, and Stripe
//!   retries (for up to three days in live mode).
//!
//! Every refusal names the field (`data.object.metadata.trade_no`, …) and the rule broken.

use super::signing::{self, SIGNATURE_HEADER, WebhookSecret};
use super::transformers::{META_REFUND_NO, META_TRADE_NO, PaymentIntentStatus, RefundState};
use crate::domain::{Currency, Money};
use crate::providers::notification::{
    Acknowledgement, ClaimedEvent, Notification, NotificationRejection, NotificationVerifier, RejectReason,
};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The media type Stripe posts events with.
pub const CONTENT_TYPE: &str = "application/json";
/// The longest event id we keep (Stripe's are about 30 characters).
const MAX_ID_CHARS: usize = 255;

/// An event `type` we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    PaymentIntentCanceled,
    RefundUpdated,
    RefundFailed,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        Self::PaymentIntentSucceeded,
        Self::PaymentIntentPaymentFailed,
        Self::PaymentIntentCanceled,
        Self::RefundUpdated,
        Self::RefundFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentIntentSucceeded => "payment_intent.succeeded",
            Self::PaymentIntentPaymentFailed => "payment_intent.payment_failed",
            Self::PaymentIntentCanceled => "payment_intent.canceled",
            Self::RefundUpdated => "refund.updated",
            Self::RefundFailed => "refund.failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    account: Option<String>,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct IntentObject {
    id: String,
    amount: i64,
    currency: String,
    status: PaymentIntentStatus,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    amount: i64,
    currency: String,
    status: RefundState,
    payment_intent: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T, RejectReason> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        RejectReason::malformed(format!("data.object.{}", e.path()), format!("must be {what}: {}", e.inner()))
    })
}

fn money(field: &str, minor: i64, currency: &str) -> Result<Money, RejectReason> {
    let c = Currency::parse(&currency.to_ascii_uppercase())
        .map_err(|e| RejectReason::malformed(format!("{field}.currency"), e.to_string()))?;
    Money::from_minor(minor, c).map_err(|e| RejectReason::malformed(field, e.to_string()))
}

fn metadata(map: &BTreeMap<String, String>, key: &str) -> Result<String, RejectReason> {
    map.get(key).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
        RejectReason::malformed(
            format!("data.object.metadata.{key}"),
            "is required: paygate puts it on every object it creates",
        )
    })
}

/// Parses a (verified) event body into our terms, with `account` as the account it is for when
/// the event names none.
pub fn parse(body: &[u8], account: &str) -> Result<Notification, RejectReason> {
    let event: Event = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .map_err(|e| {
            RejectReason::malformed(e.path().to_string(), format!("must be a Stripe event: {}", e.inner()))
        })?;
    if event.id.is_empty() || event.id.chars().count() > MAX_ID_CHARS {
        return Err(RejectReason::malformed("id", format!("must be 1 to {MAX_ID_CHARS} characters")));
    }
    let kind = EventType::parse(&event.kind).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        RejectReason::malformed("type", format!("must be one of {} (got {:?})", known.join(", "), event.kind))
    })?;
    let occurred_at = DateTime::<Utc>::from_timestamp(event.created, 0)
        .ok_or_else(|| RejectReason::malformed("created", "must be Unix seconds"))?;
    let account = event.account.unwrap_or_else(|| account.to_owned());
    match kind {
        EventType::PaymentIntentSucceeded
        | EventType::PaymentIntentPaymentFailed
        | EventType::PaymentIntentCanceled => {
            let pi: IntentObject = object(event.data.object, "a PaymentIntent")?;
            let (claimed, expected) = match kind {
                EventType::PaymentIntentSucceeded => {
                    (ClaimedEvent::PaymentSucceeded, &[PaymentIntentStatus::Succeeded][..])
                }
                EventType::PaymentIntentCanceled => {
                    (ClaimedEvent::PaymentClosed, &[PaymentIntentStatus::Canceled][..])
                }
                _ => (
                    ClaimedEvent::PaymentDeclined,
                    &[PaymentIntentStatus::RequiresPaymentMethod, PaymentIntentStatus::Canceled][..],
                ),
            };
            if !expected.contains(&pi.status) {
                return Err(RejectReason::malformed(
                    "data.object.status",
                    format!("must be {expected:?} in a {} event (got {:?})", kind.as_str(), pi.status),
                ));
            }
            Ok(Notification {
                notification_id: event.id,
                trade_no: metadata(&pi.metadata, META_TRADE_NO)?,
                refund_trade_no: None,
                event: claimed,
                amount: money("data.object.amount", pi.amount, &pi.currency)?,
                account,
                provider_txn_id: Some(pi.id),
                occurred_at,
            })
        }
        EventType::RefundUpdated | EventType::RefundFailed => {
            let r: RefundObject = object(event.data.object, "a Refund")?;
            let claimed = match r.status {
                RefundState::Succeeded => ClaimedEvent::RefundSucceeded,
                RefundState::Failed | RefundState::Canceled => ClaimedEvent::RefundFailed,
                other => {
                    return Err(RejectReason::malformed(
                        "data.object.status",
                        format!(
                            "must be a final status (succeeded, failed, canceled) to claim an outcome (got {other:?})"
                        ),
                    ));
                }
            };
            Ok(Notification {
                notification_id: event.id,
                trade_no: metadata(&r.metadata, META_TRADE_NO)?,
                refund_trade_no: Some(metadata(&r.metadata, META_REFUND_NO)?),
                event: claimed,
                amount: money("data.object.amount", r.amount, &r.currency)?,
                account,
                provider_txn_id: r.payment_intent,
                occurred_at,
            })
        }
    }
}

/// The webhook side of the Stripe adapter: the endpoint's signing secret only (nothing here can
/// call Stripe or move money).
#[derive(Debug, Clone)]
pub struct StripeVerifier {
    name: &'static str,
    account: String,
    secret: WebhookSecret,
    tolerance_secs: i64,
}

impl StripeVerifier {
    pub fn new(name: &'static str, account: impl Into<String>, secret: WebhookSecret) -> Self {
        Self { name, account: account.into(), secret, tolerance_secs: signing::DEFAULT_TOLERANCE_SECS }
    }

    #[must_use]
    pub fn with_tolerance_secs(mut self, secs: i64) -> Self {
        self.tolerance_secs = secs;
        self
    }
}

impl NotificationVerifier for StripeVerifier {
    fn provider(&self) -> &'static str {
        self.name
    }

    fn content_types(&self) -> &'static [&'static str] {
        &[CONTENT_TYPE]
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, NotificationRejection> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or(RejectReason::MissingHeader(SIGNATURE_HEADER))?;
        signing::verify(&self.secret, header, body, now, self.tolerance_secs)?;
        parse(body, &self.account)
    }

    fn parse(&self, body: &[u8]) -> Result<Notification, NotificationRejection> {
        parse(body, &self.account)
    }

    fn acknowledgement(&self) -> Acknowledgement {
        Acknowledgement { status: 200, content_type: "application/json", body: "{}".into() }
    }

    fn failure(&self, status: u16, message: &str) -> Acknowledgement {
        Acknowledgement {
            status,
            content_type: "application/json",
            body: serde_json::json!({ "error": message }).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pi_event(kind: &str, status: &str) -> String {
        format!(
            r#"{{"id":"evt_1","object":"event","type":"{kind}","created":1700000000,"livemode":false,"data":{{"object":{{"id":"pi_1","object":"payment_intent","amount":1234,"currency":"jpy","status":"{status}","metadata":{{"trade_no":"t1"}}}}}}}}"#
        )
    }

    fn refund_event(kind: &str, status: &str) -> String {
        format!(
            r#"{{"id":"evt_2","object":"event","type":"{kind}","created":1700000000,"data":{{"object":{{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"{status}","payment_intent":"pi_1","metadata":{{"trade_no":"t1","refund_no":"r1"}}}}}}}}"#
        )
    }

    #[test]
    fn payment_intent_events_become_claims() {
        let n = parse(pi_event("payment_intent.succeeded", "succeeded").as_bytes(), "acct").unwrap();
        assert_eq!(n.notification_id, "evt_1");
        assert_eq!(n.event, ClaimedEvent::PaymentSucceeded);
        assert_eq!(n.amount, Money::from_minor(1234, Currency::JPY).unwrap());
        assert_eq!((n.trade_no.as_str(), n.account.as_str()), ("t1", "acct"));
        assert_eq!(n.provider_txn_id.as_deref(), Some("pi_1"));
        assert_eq!(n.occurred_at, Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let n = parse(pi_event("payment_intent.payment_failed", "requires_payment_method").as_bytes(), "a")
            .unwrap();
        assert_eq!(n.event, ClaimedEvent::PaymentDeclined);
        let n = parse(pi_event("payment_intent.canceled", "canceled").as_bytes(), "a").unwrap();
        assert_eq!(n.event, ClaimedEvent::PaymentClosed);
    }

    #[test]
    fn refund_events_in_a_final_status_become_claims() {
        let n = parse(refund_event("refund.updated", "succeeded").as_bytes(), "a").unwrap();
        assert_eq!((n.event, n.refund_trade_no.as_deref()), (ClaimedEvent::RefundSucceeded, Some("r1")));
        assert_eq!(
            parse(refund_event("refund.failed", "failed").as_bytes(), "a").unwrap().event,
            ClaimedEvent::RefundFailed
        );
        assert_eq!(
            parse(refund_event("refund.updated", "canceled").as_bytes(), "a").unwrap().event,
            ClaimedEvent::RefundFailed
        );
        let e = parse(refund_event("refund.updated", "pending").as_bytes(), "a").unwrap_err();
        assert!(e.to_string().contains("data.object.status"), "{e}");
    }

    #[test]
    fn what_we_do_not_take_is_refused_naming_the_field() {
        let e = parse(pi_event("charge.captured", "succeeded").as_bytes(), "a").unwrap_err();
        assert!(e.to_string().starts_with("malformed_body: type: must be one of"), "{e}");
        let e = parse(pi_event("payment_intent.succeeded", "processing").as_bytes(), "a").unwrap_err();
        assert!(e.to_string().contains("data.object.status"), "{e}");
        let no_meta = pi_event("payment_intent.succeeded", "succeeded")
            .replace(r#""metadata":{"trade_no":"t1"}"#, r#""metadata":{}"#);
        let e = parse(no_meta.as_bytes(), "a").unwrap_err();
        assert!(e.to_string().contains("data.object.metadata.trade_no"), "{e}");
        let e = parse(b"not json", "a").unwrap_err();
        assert_eq!(e.token(), "malformed_body");
        let e =
            parse(pi_event("payment_intent.succeeded", "succeeded").replace("1234", "-1").as_bytes(), "a")
                .unwrap_err();
        assert!(e.to_string().contains("data.object.amount"), "{e}");
    }

    #[test]
    fn a_connected_accounts_event_names_its_account() {
        let body = pi_event("payment_intent.succeeded", "succeeded")
            .replace(r#""livemode":false"#, r#""account":"acct_other""#);
        assert_eq!(parse(body.as_bytes(), "acct_ours").unwrap().account, "acct_other");
    }

    #[test]
    fn the_verifier_checks_the_header_then_parses() {
        let secret = WebhookSecret::new("whsec_unit");
        let v = StripeVerifier::new("stripe", "acct", secret.clone());
        let body = pi_event("payment_intent.succeeded", "succeeded");
        let now = Utc.timestamp_opt(1_700_000_010, 0).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(v.verify(&headers, body.as_bytes(), now).unwrap_err().token(), "missing_header");
        let sig = signing::sign(&secret, 1_700_000_000, body.as_bytes());
        headers.insert(SIGNATURE_HEADER, signing::header(1_700_000_000, &[sig]).parse().unwrap());
        assert_eq!(v.verify(&headers, body.as_bytes(), now).unwrap().trade_no, "t1");
        let tampered = body.replace("1234", "1235");
        assert_eq!(v.verify(&headers, tampered.as_bytes(), now).unwrap_err().token(), "bad_signature");
        assert_eq!(v.acknowledgement().body, "{}");
        assert_eq!(v.acknowledgement().status, 200);
    }
}
