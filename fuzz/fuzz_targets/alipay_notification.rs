//! Fuzzes Alipay's notification reading: any bytes go through the form decoding and the field
//! parser (the steps after the RSA2 check, which the fuzzer cannot pass): a typed notification
//! or an error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::alipay::notification::{decode_form, parse_fields};

fuzz_target!(|body: &[u8]| {
    let Ok(params) = decode_form(body) else { return };
    if let Ok(n) = parse_fields(&params) {
        assert!(n.total_amount_fen >= 0, "a negative total_amount was accepted");
        assert!(!n.out_trade_no.is_empty() && !n.notify_id.is_empty());
    }
});
