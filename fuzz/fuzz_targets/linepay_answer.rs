//! Fuzzes the reading of LINE Pay's answers, with the functions the adapter reads them with
//! (`linepay::transformers`): the `{returnCode, returnMessage, info}` envelope, then its `info`
//! as a request answer, a confirm answer, payment details (the payment of an order, its amount
//! paid and refunded) or a refund answer, chosen by the first byte; the return code through the
//! code table. Every transaction id read is digits only (never a float's rounding); an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate::domain::Currency;
use paygate::providers::linepay::codes;
use paygate::providers::linepay::transformers::{
    self, ConfirmInfo, RefundInfo, RequestInfo, Transaction,
};

fn digits(id: &str) {
    assert!(transformers::is_txn_id(id), "a transaction id that is not digits: {id:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(body) = std::str::from_utf8(rest) else { return };
    let Ok(envelope) = transformers::envelope(body) else { return };
    let (code, _) = codes::map(&envelope.return_code, &envelope.return_message);
    assert!(!code.describe().is_empty());
    let _ = codes::check_status(&envelope.return_code);
    match mode % 4 {
        0 => {
            if let Ok(info) = transformers::info::<RequestInfo>(&envelope, "request") {
                digits(&info.transaction_id.0);
            }
        }
        1 => {
            if let Ok(info) = transformers::info::<ConfirmInfo>(&envelope, "confirm") {
                digits(&info.transaction_id.0);
            }
        }
        2 => {
            if let Ok(list) = transformers::info::<Vec<Transaction>>(&envelope, "details") {
                if let Ok(Some(t)) = transformers::payment_of(list, "order") {
                    digits(&t.transaction_id.0);
                    for r in &t.refund_list {
                        digits(&r.refund_transaction_id.0);
                    }
                    for currency in [Currency::JPY, Currency::TWD] {
                        let _ = t.paid(currency);
                        let _ = t.refunded(currency);
                    }
                }
            }
        }
        _ => {
            if let Ok(info) = transformers::info::<RefundInfo>(&envelope, "refund") {
                digits(&info.refund_transaction_id.0);
            }
        }
    }
});
