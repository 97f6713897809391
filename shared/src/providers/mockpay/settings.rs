//! A mockpay provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `URL` | required | mockpay's base URL |
//! | `MERCHANT` | required | our merchant id at mockpay |
//! | `SECRET` or `SECRET_FILE` | required | that merchant's signing secret, inline or in a file |
//! | `TIMEOUT` | `10s` | how long one call may take before its outcome is unknown |
//! | `NOTIFICATION_POLICY` | `query_back` | `query_back` or `verified` (a verified notification is enough) |
//! | `NOT_FOUND_FINAL_AFTER` | `60s` | how long after our last pay request "no such trade" is believed |
//! | `NOTIFY_WINDOW` | `300s` | how far a notification's timestamp may be from our clock |

use super::{
    DEFAULT_NOT_FOUND_FINAL_AFTER, DEFAULT_TIMEOUT, MockpayAdapter, MockpayConfig, MockpaySetupError,
    notification,
};
use crate::providers::adapter::ProviderAdapter;
use crate::providers::notification::NotificationPolicy;
use crate::providers::settings::{ProviderConfigError, ProviderSettings};
use std::sync::Arc;
use std::time::Duration;

/// The adapter for the mockpay provider `settings` names.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError> {
    let url = settings.require("URL", "mockpay's base URL, such as http://127.0.0.1:7070")?;
    let merchant = settings.require("MERCHANT", "our merchant id at mockpay")?;
    let secret = settings.secret("SECRET", "the merchant's signing secret at mockpay")?;
    let policy = match settings.get("NOTIFICATION_POLICY") {
        None => NotificationPolicy::AlwaysQueryBack,
        Some(p) => {
            NotificationPolicy::parse(&p).map_err(|reason| settings.invalid("NOTIFICATION_POLICY", reason))?
        }
    };
    let window = settings
        .wait("NOTIFY_WINDOW", Duration::from_secs(notification::DEFAULT_WINDOW_SECS.unsigned_abs()))?;
    if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
        return Err(settings.invalid("NOTIFY_WINDOW", "must be from 1s to 24h"));
    }
    let config = MockpayConfig::new(url, merchant, secret)
        .named(settings.name())
        .with_timeout(settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?)
        .with_notification_policy(policy)
        .with_not_found_final_after(settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?)
        .with_notify_window_secs(i64::try_from(window.as_secs()).unwrap_or(i64::MAX));
    let adapter = MockpayAdapter::new(config).map_err(|e| {
        let key = match e {
            MockpaySetupError::EmptyMerchantId => "MERCHANT",
            MockpaySetupError::EmptySecret => "SECRET",
            MockpaySetupError::ZeroTimeout => "TIMEOUT",
            MockpaySetupError::BaseUrl { .. } | MockpaySetupError::HttpClient(_) => "URL",
        };
        settings.invalid(key, e.to_string())
    })?;
    Ok(Arc::new(adapter))
}
