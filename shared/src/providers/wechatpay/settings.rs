//! A WeChat Pay provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `MCHID` | required | our merchant id (商户号) |
//! | `APPID` | required | the app id bound to it (公众号 / 小程序 / 移动应用) |
//! | `MERCHANT_SERIAL` | required | the serial number of our merchant API certificate |
//! | `MERCHANT_KEY` or `MERCHANT_KEY_FILE` | required | our API private key, PEM (PKCS#8 `apiclient_key.pem`, or PKCS#1) |
//! | `PLATFORM_SERIAL` | required | the serial (or `PUB_KEY_ID_…`) of WeChat Pay's public key |
//! | `PLATFORM_KEY` or `PLATFORM_KEY_FILE` | required | that public key, PEM |
//! | `PLATFORM_SERIAL_2`, `PLATFORM_KEY_2` or `PLATFORM_KEY_2_FILE` | none | a second platform key, for a rotation |
//! | `APIV3_KEY` or `APIV3_KEY_FILE` | required | the 32-byte APIv3 key (decrypts notifications) |
//! | `URL` | `https://api.mch.weixin.qq.com` | the API's base URL |
//! | `NOTIFY_URL` | none | the notification URL when a request names none (WeChat Pay requires one) |
//! | `TIMEOUT` | `10s` | how long one call may take before its outcome is unknown |
//! | `NOTIFICATION_POLICY` | `query_back` | `query_back` or `verified` |
//! | `NOT_FOUND_FINAL_AFTER` | `120s` | how long after our last pay request "no such order" is believed |
//! | `NOTIFY_WINDOW` | `300s` | how far a signed answer's or notification's timestamp may be from our clock |
//!
//! Keys are read once at start; an error names the variable, never the key.

use super::signing::{ApiV3Key, MerchantKey, PlatformKeys};
use super::{
    DEFAULT_BASE_URL, DEFAULT_NOT_FOUND_FINAL_AFTER, DEFAULT_TIMEOUT, WechatpayAdapter, WechatpayConfig,
    WechatpaySetupError,
};
use crate::providers::adapter::ProviderAdapter;
use crate::providers::notification::NotificationPolicy;
use crate::providers::settings::{ProviderConfigError, ProviderSettings};
use std::sync::Arc;
use std::time::Duration;

/// The adapter for the WeChat Pay provider `settings` names.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError> {
    Ok(Arc::new(adapter(settings)?))
}

/// The adapter itself (tests and callers that need its own methods).
pub fn adapter(settings: &ProviderSettings<'_>) -> Result<WechatpayAdapter, ProviderConfigError> {
    let mchid = settings.require("MCHID", "our WeChat Pay merchant id (商户号)")?;
    let appid = settings.require("APPID", "the app id bound to the merchant id")?;
    let serial = settings.require("MERCHANT_SERIAL", "the serial number of our merchant API certificate")?;
    let pem = settings.secret("MERCHANT_KEY", "our merchant API private key, PEM")?;
    let merchant_key =
        MerchantKey::from_pem(serial, &pem).map_err(|e| settings.invalid("MERCHANT_KEY", e.to_string()))?;
    let mut platform_keys = PlatformKeys::new();
    let platform_serial =
        settings.require("PLATFORM_SERIAL", "the serial or PUB_KEY_ID_… of WeChat Pay's public key")?;
    let platform_pem = settings.secret("PLATFORM_KEY", "WeChat Pay's public key, PEM")?;
    platform_keys
        .insert_pem(platform_serial, &platform_pem)
        .map_err(|e| settings.invalid("PLATFORM_KEY", e.to_string()))?;
    if let Some(second) = settings.get("PLATFORM_SERIAL_2") {
        let pem = settings.secret("PLATFORM_KEY_2", "WeChat Pay's second public key, PEM")?;
        platform_keys
            .insert_pem(second, &pem)
            .map_err(|e| settings.invalid("PLATFORM_KEY_2", e.to_string()))?;
    }
    let apiv3 = settings.secret("APIV3_KEY", "the 32-byte APIv3 key")?;
    let apiv3_key = ApiV3Key::new(&apiv3).map_err(|e| settings.invalid("APIV3_KEY", e.to_string()))?;
    let notification_policy = match settings.get("NOTIFICATION_POLICY") {
        None => NotificationPolicy::AlwaysQueryBack,
        Some(p) => {
            NotificationPolicy::parse(&p).map_err(|reason| settings.invalid("NOTIFICATION_POLICY", reason))?
        }
    };
    let window = settings.wait("NOTIFY_WINDOW", Duration::from_secs(300))?;
    if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
        return Err(settings.invalid("NOTIFY_WINDOW", "must be from 1s to 24h"));
    }
    let notify_url = settings.get("NOTIFY_URL");
    if let Some(url) = &notify_url
        && !url.starts_with("https://")
        && !url.starts_with("http://")
    {
        return Err(settings.invalid("NOTIFY_URL", "must be an http(s) URL (WeChat Pay wants https)"));
    }
    let config = WechatpayConfig {
        name: settings.name(),
        base_url: settings.get("URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        request_timeout: settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?,
        notify_url,
        notification_policy,
        not_found_final_after: settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?,
        window_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
        ..WechatpayConfig::new(mchid, appid, merchant_key, platform_keys, apiv3_key)
    };
    WechatpayAdapter::new(config).map_err(|e| {
        let key = match &e {
            WechatpaySetupError::Empty { field: "mchid" } => "MCHID",
            WechatpaySetupError::Empty { .. } => "APPID",
            WechatpaySetupError::NoPlatformKey => "PLATFORM_KEY",
            WechatpaySetupError::ZeroTimeout => "TIMEOUT",
            WechatpaySetupError::BaseUrl { .. } | WechatpaySetupError::HttpClient(_) => "URL",
        };
        settings.invalid(key, e.to_string())
    })
}
