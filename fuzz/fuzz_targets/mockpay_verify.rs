//! Fuzzes the mockpay notification verifier with arbitrary headers and bodies. The input is
//! split on `\n` into timestamp, nonce, signature and body; when the first byte is odd the
//! signature is replaced by the correct one, so the timestamp window and the body parser behind
//! the signature check are reached too. A forged signature must never verify.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use paygate::providers::NotificationVerifier;
use paygate::providers::mockpay::notification::MockpayNotifications;
use paygate::providers::mockpay::signing::{self, Secret};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(4, |b| *b == b'\n');
    let timestamp = parts.next().unwrap_or_default();
    let nonce = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let secret = Secret::new("fuzz-secret");
    let verifier = MockpayNotifications::new("m1", secret.clone());
    let now = Utc.timestamp_opt(1_767_225_600, 0).unwrap();

    let mut headers = HeaderMap::new();
    let put = |headers: &mut HeaderMap, name: &'static str, value: &[u8]| {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    };
    put(&mut headers, signing::HEADER_TIMESTAMP, timestamp);
    put(&mut headers, signing::HEADER_NONCE, nonce);
    let genuine = mode & 1 == 1;
    let (ts, nc) = (
        headers.get(signing::HEADER_TIMESTAMP).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or(""),
        headers.get(signing::HEADER_NONCE).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or(""),
    );
    let correct = signing::notification_signature(&secret, ts, nc, body);
    if genuine {
        put(&mut headers, signing::HEADER_SIGNATURE, correct.as_bytes());
    } else {
        put(&mut headers, signing::HEADER_SIGNATURE, signature);
    }
    let result = verifier.verify(&headers, body, now);
    let sent = headers.get(signing::HEADER_SIGNATURE).and_then(|v| v.to_str().ok()).map(str::trim);
    if result.is_ok() {
        // Whatever verified carried the right signature.
        assert_eq!(sent.map(str::to_ascii_lowercase).as_deref(), Some(correct.as_str()));
    }
});
