//! The outcome of creating an order idempotently: payments are created once per (merchant, order
//! number), refunds once per (merchant, refund number).

/// What a create found: its own new row, or the one that already had the merchant's number.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// The order is new; its creation is in the history.
    New(T),
    /// An order with this merchant number already existed; nothing was written. The caller
    /// compares fingerprints to tell a duplicate from a conflict.
    Existing(T),
}
