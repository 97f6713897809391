//! The Stripe webhook vectors made and checked with Stripe's official Python SDK
//! (tests/vectors/stripe/README.md): paygate must verify every signature the SDK made and
//! accepted, and refuse every copy the SDK refused, for the same reason. Compiled into the tests
//! only; the secret in them is a throwaway test-only value.

use super::notification::StripeVerifier;
use super::signing::{self, SIGNATURE_HEADER, WebhookSecret};
use crate::providers::notification::{ClaimedEvent, NotificationVerifier};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Deserialize;

const JSON: &str = include_str!("../../../../tests/vectors/stripe/vectors.json");

#[derive(Debug, Deserialize)]
struct Vectors {
    sdk: Sdk,
    secret: String,
    tolerance: i64,
    accepted: Vec<Vector>,
    rejected: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Sdk {
    package: String,
    version: String,
}

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    now: i64,
    header: String,
    body: String,
    reason: Option<String>,
}

fn load() -> Vectors {
    let v: Vectors = serde_json::from_str(JSON).expect("tests/vectors/stripe/vectors.json parses");
    assert_eq!((v.sdk.package.as_str(), v.sdk.version.as_str()), ("stripe", "16.1.0"));
    v
}

fn now(v: &Vector) -> DateTime<Utc> {
    DateTime::from_timestamp(v.now, 0).unwrap()
}

#[test]
fn every_signature_the_sdk_accepted_verifies() {
    let vectors = load();
    let secret = WebhookSecret::new(vectors.secret.clone());
    assert!(vectors.accepted.len() >= 9);
    for v in &vectors.accepted {
        let r = signing::verify(&secret, &v.header, v.body.as_bytes(), now(v), vectors.tolerance);
        assert!(r.is_ok(), "{}: {r:?}", v.name);
    }
}

#[test]
fn every_copy_the_sdk_refused_is_refused_for_the_same_reason() {
    let vectors = load();
    let secret = WebhookSecret::new(vectors.secret.clone());
    assert!(vectors.rejected.len() >= 5);
    for v in &vectors.rejected {
        let e = signing::verify(&secret, &v.header, v.body.as_bytes(), now(v), vectors.tolerance)
            .expect_err(&v.name);
        assert_eq!(Some(e.token()), v.reason.as_deref(), "{}: {e}", v.name);
    }
}

#[test]
fn the_sdks_events_become_claims_through_the_verifier() {
    let vectors = load();
    let verifier = StripeVerifier::new("stripe", "acct_test", WebhookSecret::new(vectors.secret.clone()));
    let expected = [
        ("payment_succeeded", ClaimedEvent::PaymentSucceeded, "1234 USD"),
        ("payment_succeeded_jpy", ClaimedEvent::PaymentSucceeded, "500 JPY"),
        ("payment_failed", ClaimedEvent::PaymentDeclined, "1234 USD"),
        ("payment_canceled", ClaimedEvent::PaymentClosed, "1234 USD"),
        ("refund_succeeded", ClaimedEvent::RefundSucceeded, "500 USD"),
        ("refund_failed", ClaimedEvent::RefundFailed, "500 USD"),
    ];
    for (name, event, amount) in expected {
        let v = vectors.accepted.iter().find(|v| v.name == name).expect(name);
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, v.header.parse().unwrap());
        let n = verifier.verify(&headers, v.body.as_bytes(), now(v)).unwrap();
        assert_eq!(n.event, event, "{name}");
        let (minor, currency) = amount.split_once(' ').unwrap();
        assert_eq!(n.amount.minor_units().to_string(), minor, "{name}");
        assert_eq!(n.amount.currency().code(), currency, "{name}");
        assert_eq!(n.trade_no, "0190a1b2c3d4e5f60718293a4b5c6d7e");
        assert_eq!(n.account, "acct_test");
        assert!(n.notification_id.starts_with("evt_test_"));
        if event.is_refund() {
            assert_eq!(n.refund_trade_no.as_deref(), Some("0190a1b2c3d4e5f60718293a4b5c6d7f"));
        }
        // One byte more in the body, and the SDK's signature no longer holds.
        let mut tampered = v.body.clone().into_bytes();
        tampered.push(b' ');
        assert_eq!(
            verifier.verify(&headers, &tampered, now(v)).unwrap_err().token(),
            "bad_signature",
            "{name}"
        );
    }
}
