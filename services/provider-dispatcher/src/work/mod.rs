//! One file per kind of order work, each reading top to bottom: what the work asks, the call to
//! the provider, and what the answer does to the order.
//!
//! - [`pay`]: send a new payment to its provider;
//! - [`query`]: ask the provider for the truth about a payment;
//! - [`close`]: close an unpaid payment;
//! - [`capture`]: capture (all or part of) an authorised payment;
//! - [`void`]: release an authorised payment uncaptured;
//! - [`reverse`]: reverse a barcode payment that did not finish in time, in place of a query;
//! - [`refund`]: reserve, approve, send and follow a refund;
//! - [`auto_refund`]: a payment paid after close, refunded by the merchant's policy;
//! - [`notification`]: check a provider's notification against the order and confirm it;
//! - [`report`]: tell upstream an order's current state again.

pub mod auto_refund;
pub mod capture;
pub mod close;
pub mod notification;
pub mod pay;
pub mod query;
pub mod refund;
pub mod report;
pub mod reverse;
pub mod void;
