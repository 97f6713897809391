//! Providers: one adapter per payment provider behind one trait (docs/architecture.md, decision 8).
//!
//! - [`adapter`]: the [`ProviderAdapter`] trait and what a call asks for;
//! - [`alipay`]: the Alipay adapter: RSA2 signing, verified responses and notifications, its code
//!   table, QR / web / barcode pay, query, close, cancel, refunds, and the GBK ZIP bill parser (the
//!   bill download is not there yet);
//! - [`bill`]: bill and settlement lines in our terms, streamed ([`bill::BillStream`]);
//! - [`answers`]: what a provider said, in our terms ([`PaymentFacts`], [`RefundFacts`]), and how a
//!   call ended ([`CallOutcome`]): an answer, a definitive refusal, "try later", or UNKNOWN;
//! - [`codes`]: the unified return codes and the per-provider code tables (decision 10);
//! - [`decided`]: what an answer means for its operation ([`decided::Decided`]), the readings
//!   every adapter shares;
//! - [`exchange`]: the raw request/response record of every call, redacted (decision 11);
//! - [`http`]: sending one signed request with a timeout, and recording its exchange redacted;
//! - [`linepay`]: the adapter for LINE Pay's Online API v3 (request, check, confirm inside the
//!   query, refunds; HMAC-signed requests; no webhook, no bills);
//! - [`mockpay`]: the adapter for the mockpay sandbox provider;
//! - [`notification`]: inbound notifications: the claim, its verifier, the provider's policy;
//! - [`registry`]: the adapters paygate has, and the configured ones by provider name;
//! - [`rsa_sha256`]: RSA keys from PEM and SHA256withRSA (PKCS#1 v1.5) signatures, shared by
//!   Alipay and WeChat Pay;
//! - [`settings`]: `PROVIDERS` and each provider's `PAYGATE_PROVIDER_<NAME>_<KEY>` settings;
//! - [`stripe`]: the adapter for Stripe's PaymentIntents and Refunds (client secret, search-based
//!   query, cancel, asynchronous refunds), its code table and its signed webhooks;
//! - [`wechatpay`]: the adapter for WeChat Pay API v3 (Native, JSAPI, H5; query, close, refunds,
//!   the trade bill), with its keys, signing, verification and notification decryption.
//!
//! Each provider lives in its own folder, with its wire types and their conversions
//! (`transformers.rs`) kept apart from the flow (`mod.rs`) and its code table (`codes.rs`).

pub mod adapter;
pub mod alipay;
pub mod answers;
pub mod bill;
pub mod codes;
pub mod decided;
pub mod exchange;
pub mod http;
pub mod linepay;
pub mod mockpay;
pub mod notification;
pub mod operation;
pub mod provider_day;
pub mod registry;
pub mod rsa_sha256;
pub mod settings;
pub mod stripe;
pub mod wechatpay;

pub use adapter::{CaptureRequest, PayRequest, ProviderAdapter, RefundRequest};
pub use answers::{
    CallOutcome, Called, PaymentFacts, PaymentStatus, RefundFacts, RefundStatus, ReversalFacts,
    ReversalStatus,
};
pub use bill::{BillDownload, BillError, BillItem, BillLine, BillLineKind, SettlementTotal};
pub use codes::{CodeRule, MappedCode, UnifiedCode};
pub use exchange::Exchange;
pub use notification::{ClaimedEvent, Notification, NotificationPolicy, NotificationVerifier, RejectReason};
pub use registry::ProviderRegistry;
pub use settings::{ProviderArgs, ProviderConfigError, ProviderNames};
