//! The header names of signed requests and notifications.

/// Request header naming the merchant (requests only).
pub const MERCHANT: &str = "X-Mockpay-Merchant";
/// Unix time in seconds of the request or notification attempt.
pub const TIMESTAMP: &str = "X-Mockpay-Timestamp";
/// A unique string per request or notification attempt (at most 128 characters).
pub const NONCE: &str = "X-Mockpay-Nonce";
/// Lowercase hex HMAC-SHA256 with the merchant's secret.
pub const SIGNATURE: &str = "X-Mockpay-Signature";
