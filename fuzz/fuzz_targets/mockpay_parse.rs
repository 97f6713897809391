//! Fuzzes the raw mockpay notification body parser: any bytes must give a `Notification` or a
//! `MalformedBody` rejection naming a field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::RejectReason;
use paygate::providers::mockpay::notification::parse;

fuzz_target!(|body: &[u8]| {
    match parse(body) {
        Ok(n) => {
            assert!(n.amount.minor_units() > 0);
            assert_eq!(n.event.is_refund(), n.refund_trade_no.is_some());
        }
        Err(RejectReason::MalformedBody { field, .. }) => assert!(!field.is_empty()),
        Err(other) => panic!("the parser refused with a non-body reason: {other}"),
    }
});
