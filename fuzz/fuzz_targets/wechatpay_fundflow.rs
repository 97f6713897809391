//! Fuzzes WeChat Pay's fund-flow bill parser (the settlement): the input, read as text, goes line
//! by line through `FundFlowBill` (backtick fields by header name, fee lines attached to their
//! payments and refunds, the totals trailer checked against the lines), then `finish`. Lines and
//! a total, or an error naming the line and the field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::providers::bill::BillItem;
use paygate::providers::wechatpay::bill_file::LineParser;
use paygate::providers::wechatpay::fundflow::FundFlowBill;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut bill = FundFlowBill::new();
    let mut emit = |item: BillItem| drop(item);
    let mut last = 0;
    for (i, line) in text.split('\n').enumerate() {
        last = i as u64 + 1;
        if bill.line(last, line.trim_end_matches('\r'), &mut emit).is_err() {
            return;
        }
    }
    let _ = bill.finish(last, &mut emit);
});
