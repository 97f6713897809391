//! Alipay open platform (docs: /work/shared/PROVIDERS.md, "Alipay open platform"): the
//! cryptographic and notification foundation of the adapter. The adapter's flow (building and
//! sending requests, reading answers through a code table) is not here yet.
//!
//! - [`signing`]: keys, the request canonical string and its RSA2 signature, verifying a response
//!   over the exact raw text of its `_response` value, and the notification check string;
//! - [`bill`]: the trade bill, a ZIP of GBK CSV files, read line by line into our bill lines;
//! - [`codes`]: Alipay's return codes (`code`, and `sub_code` where it decides) in the unified
//!   table: retryable, definitive, what each means to each operation and what a person should do;
//! - [`notification`]: reading a form-encoded trade notification into [`AlipayNotification`],
//!   verified and checked against our app and seller, and the `success` acknowledgement;
//! - [`transformers`]: the wire types of each method and their conversions to and from ours
//!   (yuan strings to and from [`crate::domain::Money`], CNY only; `trade_status` to
//!   [`crate::providers::PaymentStatus`]).
//!
//! tests/vectors/alipay holds vectors made by Alipay's published Python SDKs; the tests in
//! shared/tests/alipay_vectors.rs check this module against them.

pub mod bill;
pub mod codes;
pub mod notification;
pub mod signing;
pub mod transformers;

pub use notification::{AlipayNotification, NotificationError, TradeStatus};
pub use signing::{AlipayPublicKey, AppPrivateKey, ResponseError};
