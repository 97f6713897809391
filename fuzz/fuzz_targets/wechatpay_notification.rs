//! Fuzzes WeChat Pay's notification reading. An odd first byte feeds the rest to the envelope
//! parser and its AES-256-GCM decryption (`WechatpayNotifications::parse`, the step after the
//! signature check); an even one to the decrypted-resource parsers (transaction, then refund), as
//! if it had decrypted to those bytes. A typed notification or a rejection naming a field, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::RejectReason;
use paygate::providers::wechatpay::notification::{WechatpayNotifications, parse_refund, parse_transaction};
use paygate::providers::wechatpay::signing::{ApiV3Key, PlatformKeys};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 1 {
        let key = ApiV3Key::new("T3stOnlyApiV3Key0123456789abcdef").unwrap();
        let notifications = WechatpayNotifications::new("1900000109", "wxd678efh567hg6787", PlatformKeys::new(), key);
        match notifications.parse(rest) {
            Ok(_) | Err(RejectReason::MalformedBody { .. }) => {}
            Err(other) => assert!(!other.to_string().is_empty()),
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(t) = parse_transaction(text) {
            assert!(!t.out_trade_no.is_empty());
        }
        let _ = parse_refund(text);
    }
});
