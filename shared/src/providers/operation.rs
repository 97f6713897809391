//! The operations of a provider's API whose answers an adapter reads through its code table, for
//! the providers whose API has these (mockpay, WeChat Pay API v3, Stripe; capture and void only
//! where the provider authorises separately, `Unknown` throughout elsewhere; Alipay's
//! open platform has its own set, `alipay/codes.rs`). Each provider's code table has a column per
//! operation, in [`Operation::ALL`] order; which endpoint each one is lives in the adapter's own
//! module.

/// An operation of a provider's API whose answer carries a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create (and, where the method says so, charge) a payment.
    Pay,
    /// Read a payment by our trade number.
    Query,
    /// Close (cancel) an unpaid payment.
    Close,
    /// Create a refund.
    Refund,
    /// Read a refund.
    RefundQuery,
    /// Capture (all or part of) an authorised payment.
    Capture,
    /// Void (release) an authorised payment.
    Void,
}

impl Operation {
    /// In the code tables' column order.
    pub const ALL: [Operation; 7] = [
        Operation::Pay,
        Operation::Query,
        Operation::Close,
        Operation::Refund,
        Operation::RefundQuery,
        Operation::Capture,
        Operation::Void,
    ];

    /// Its name in the exchange log.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Pay => "pay",
            Operation::Query => "query",
            Operation::Close => "close",
            Operation::Refund => "refund",
            Operation::RefundQuery => "refund_query",
            Operation::Capture => "capture",
            Operation::Void => "void",
        }
    }
}
