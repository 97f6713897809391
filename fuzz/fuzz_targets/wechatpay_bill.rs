//! Fuzzes WeChat Pay's trade bill parser: the input, read as text, goes line by line through
//! `TradeBill` (backtick fields by header name, the totals trailer checked against the lines),
//! then `finish`. Lines or an error naming the line and the field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::wechatpay::bill::TradeBill;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut bill = TradeBill::new();
    let mut last = 0;
    for (i, line) in text.split('\n').enumerate() {
        last = i as u64 + 1;
        if bill.line(last, line.trim_end_matches('\r')).is_err() {
            return;
        }
    }
    let _ = bill.finish(last);
});
