//! The domain core: money, identifiers, operator identities, provider names, pay methods, the payer
//! and a merchant's display name.
//! Each type parses its input once, at the edge, and afterwards cannot hold an invalid value.
//!
//! Every parser returns a [`ValidationError`] that names the field and the rule it breaks, e.g.
//! `merchant_order_no: must be 1 to 64 characters of A-Z a-z 0-9 _ - . (got 70 characters)`.
//! Command validation reuses the same type, so a client always gets the same shape of answer.

mod capture_mode;
mod currency;
mod error;
mod ids;
mod merchant_name;
mod money;
mod operator;
mod pay_method;
mod payer;

pub use capture_mode::CaptureMode;
pub use currency::Currency;
pub use error::ValidationError;
pub(crate) use error::quote;
pub use ids::{MerchantId, MerchantOrderNo, PaymentId, ProviderName, ProviderTxnId, RefundId, RefundNo};
pub use merchant_name::MerchantName;
pub use money::{Money, MoneyError};
pub use operator::OperatorId;
pub use pay_method::PayMethod;
pub use payer::{AuthCode, Payer};
