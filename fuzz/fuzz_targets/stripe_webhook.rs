//! Fuzzes Stripe's webhook reading. An odd first byte: the rest is split at its first `\n` into a
//! `Stripe-Signature` header value and a body, verified with `signing::verify` (with a second odd
//! bit the correct `v1` for the body is appended, so the timestamp window and the parser behind the
//! signature are reached); an even one: the rest goes to the event parser
//! (`stripe::notification::parse`, the step after the signature check). A claim or a rejection
//! naming a field, never a panic; nothing verifies without the correct signature.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use paygate::providers::stripe::notification::parse;
use paygate::providers::stripe::signing::{self, Secret};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 1 {
        let secret = Secret::new("whsec_fuzz_only");
        let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let (header, body) = rest.split_at(split);
        let body = body.get(1..).unwrap_or(&[]);
        let Ok(header) = std::str::from_utf8(header) else { return };
        let now = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap();
        let mut header = header.to_owned();
        let signed = mode & 2 == 2;
        if signed {
            // The correct signature, at whatever t the header names (or now).
            let t = signing::SignatureHeader::parse(&header).map_or(now.timestamp(), |h| h.timestamp);
            header = format!("{header},v1={}", signing::sign(&secret, t, body));
        }
        let verified = signing::verify(&secret, &header, body, now, 300);
        if verified.is_ok() {
            assert!(signed, "a header without the correct v1 verified: {header:?}");
            let _ = parse(body, "acct_fuzz");
        }
    } else {
        match parse(rest, "acct_fuzz") {
            Ok(n) => {
                assert!(!n.notification_id.is_empty() && !n.trade_no.is_empty());
                assert_eq!(n.event.is_refund(), n.refund_trade_no.is_some());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});
