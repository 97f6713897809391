//! An Alipay provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `APP_ID` | required | our app id at the open platform |
//! | `APP_PRIVATE_KEY` or `APP_PRIVATE_KEY_FILE` | required | the app's RSA private key (PKCS#1 or PKCS#8 PEM, or its bare Base64), inline or in a file |
//! | `ALIPAY_PUBLIC_KEY` or `ALIPAY_PUBLIC_KEY_FILE` | required | Alipay's public key (SPKI PEM or bare Base64) |
//! | `GATEWAY_URL` | `https://openapi.alipay.com/gateway.do` | the gateway (the sandbox's, or a simulator's) |
//! | `SELLER_ID` | none | our seller id (PID, `2088…`): sent with payments, checked in notifications |
//! | `NOTIFY_URL` | none | notify-handler's public base URL; Alipay is told `<it>/notify/<name>` |
//! | `WEB_PAY` | `page` | what `redirect` and `form` payments are: `page` (PC) or `wap` (mobile) |
//! | `TIMEOUT` | `10s` | how long one call may take before its outcome is unknown |
//! | `NOT_FOUND_FINAL_AFTER` | `300s` | how long after our last pay request "no such trade" is believed |
//! | `BILL_DIR` | the system's temporary directory | where a bill ZIP is written while it is read (removed once read) |
//! | `BILL_MAX_BYTES` | `536870912` (512 MiB) | the largest bill ZIP downloaded, in bytes |
//! | `REVERSE_AFTER` | `30s` | how long after its creation an unfinished barcode payment is reversed (`alipay.trade.cancel`) instead of queried again (Alipay's face-to-face guidance: poll about 30 s, then cancel) |

use super::{
    AlipayAdapter, AlipayConfig, AlipaySetupError, DEFAULT_NOT_FOUND_FINAL_AFTER, DEFAULT_REVERSE_AFTER,
    DEFAULT_TIMEOUT, WebPay,
    signing::{AlipayPublicKey, AppPrivateKey},
};
use crate::providers::adapter::ProviderAdapter;
use crate::providers::settings::{ProviderConfigError, ProviderSettings};
use std::sync::Arc;

/// The adapter for the Alipay provider `settings` names.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError> {
    let app_id = settings.require("APP_ID", "our app id at the Alipay open platform")?;
    let app_key = settings.secret("APP_PRIVATE_KEY", "the app's RSA private key, PEM")?;
    // The key's own error never quotes the key.
    let app_key =
        AppPrivateKey::from_pem(&app_key).map_err(|e| settings.invalid("APP_PRIVATE_KEY", e.to_string()))?;
    let alipay_key = settings.secret("ALIPAY_PUBLIC_KEY", "Alipay's RSA public key, PEM")?;
    let alipay_key = AlipayPublicKey::from_pem(&alipay_key)
        .map_err(|e| settings.invalid("ALIPAY_PUBLIC_KEY", e.to_string()))?;
    let mut config = AlipayConfig::new(app_id, app_key, alipay_key);
    config.name = settings.name();
    if let Some(url) = settings.get("GATEWAY_URL") {
        config.gateway_url = url;
    }
    config.seller_id = settings.get("SELLER_ID");
    config.notify_url_base = settings.get("NOTIFY_URL");
    if let Some(web) = settings.get("WEB_PAY") {
        config.web_pay = WebPay::parse(&web).map_err(|reason| settings.invalid("WEB_PAY", reason))?;
    }
    config.request_timeout = settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?;
    config.not_found_final_after = settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?;
    config.bill_dir = settings.get("BILL_DIR").map(std::path::PathBuf::from);
    if let Some(max) = settings.get("BILL_MAX_BYTES") {
        config.max_bill_bytes = max.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            settings.invalid("BILL_MAX_BYTES", format!("must be a number of bytes above 0 (got {max:?})"))
        })?;
    }
    config.reverse_after = settings.wait("REVERSE_AFTER", DEFAULT_REVERSE_AFTER)?;
    let adapter = AlipayAdapter::new(config).map_err(|e| {
        let key = match e {
            AlipaySetupError::EmptyAppId => "APP_ID",
            AlipaySetupError::ZeroTimeout => "TIMEOUT",
            AlipaySetupError::Gateway { .. } | AlipaySetupError::HttpClient(_) => "GATEWAY_URL",
        };
        settings.invalid(key, e.to_string())
    })?;
    Ok(Arc::new(adapter))
}
