//! WeChat Pay API v3: the cryptographic and notification foundation of the adapter
//! (docs: shared PROVIDERS.md, "WeChat Pay API v3"). There is no adapter flow yet.
//!
//! - [`signing`]: the keys (merchant private key and serial, platform public keys by serial, the
//!   APIv3 key), request signing (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), and verifying
//!   signed responses and notifications within a timestamp window;
//! - [`bill`]: the trade bill (backtick CSV read by header name, totals trailer, SHA-1 checked);
//! - [`client_params`]: the signed parameters a JSAPI / mini-program client pays with;
//! - [`codes`]: the API v3 error codes, `trade_state` and refund `status` in one table each;
//! - [`notification`]: the notification body, its AES-256-GCM `resource` decrypted with the APIv3
//!   key, the transaction and refund inside in typed form, and the acknowledgements;
//! - [`transformers`]: the wire types of Native, JSAPI and H5 pay, query, close, refund and
//!   refund query, and their conversions to and from ours (CNY fen only).
//!
//! Amounts are integer fen (`i64`). Tested against vectors made with the PyPI SDK `wechatpayv3`
//! (tests/vectors/wechatpay/).

pub mod bill;
pub mod client_params;
pub mod codes;
pub mod notification;
pub mod signing;
pub mod transformers;
#[cfg(test)]
mod vectors;

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "wechatpay";
