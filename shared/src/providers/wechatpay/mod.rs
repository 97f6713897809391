//! WeChat Pay API v3: the cryptographic and notification foundation of the adapter
//! (docs: shared PROVIDERS.md, "WeChat Pay API v3"). There is no adapter flow yet.
//!
//! - [`signing`]: the keys (merchant private key and serial, platform public keys by serial, the
//!   APIv3 key), request signing (`Authorization: WECHATPAY2-SHA256-RSA2048 …`), and verifying
//!   signed responses and notifications within a timestamp window;
//! - [`codes`]: the API v3 error codes, `trade_state` and refund `status` in one table each;
//! - [`notification`]: the notification body, its AES-256-GCM `resource` decrypted with the APIv3
//!   key, the transaction and refund inside in typed form, and the acknowledgements.
//!
//! Amounts are integer fen (`i64`). Tested against vectors made with the PyPI SDK `wechatpayv3`
//! (tests/vectors/wechatpay/).

pub mod codes;
pub mod notification;
pub mod signing;
#[cfg(test)]
mod vectors;

/// The provider's name in commands, rows and the registry.
pub const NAME: &str = "wechatpay";
