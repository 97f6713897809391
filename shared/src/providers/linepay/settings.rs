//! A LINE Pay provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `CHANNEL_ID` | required | the channel id (`X-LINE-ChannelId`) |
//! | `CHANNEL_SECRET` or `CHANNEL_SECRET_FILE` | required | the channel secret key (signs every request) |
//! | `DEVICE_PROFILE_ID` | none | `X-LINE-MerchantDeviceProfileId`, when the channel wants it |
//! | `DEVICE_TYPE` | `POS` | `X-LINE-MerchantDeviceType` of the offline (POS) API's requests |
//! | `REVERSE_AFTER` | `60s` | how long after its creation an unfinished one-time-key payment is voided instead of checked again (the key is valid 5 minutes) |
//! | `URL` | `https://api-pay.line.me` | the API's base URL (the sandbox: `https://sandbox-api-pay.line.me`) |
//! | `TIMEOUT` | `20s` | how long one call but confirm may take before its outcome is unknown |
//! | `CONFIRM_TIMEOUT` | `40s` | the same for confirm; at least 40 s (LINE Pay's reference) |
//! | `NOT_FOUND_FINAL_AFTER` | `5m` | how long after our last request "no such transaction" is believed |
//! | `NOTIFY_URL` | none | notify-handler's public base URL, for when the dispatcher gives no notify URL (`NOTIFY_BASE_URL` unset): the confirmUrl is then `<it>/return/<name>/<trade no>` |
//!
//! LINE Pay has no webhook, so there is no notification secret or policy to set. Secrets are read
//! once at start; an error names the variable, never the secret.

use super::signing::ChannelSecret;
use super::{
    DEFAULT_BASE_URL, DEFAULT_DEVICE_TYPE, DEFAULT_NOT_FOUND_FINAL_AFTER, DEFAULT_REVERSE_AFTER,
    DEFAULT_TIMEOUT, LinePayAdapter, LinePayConfig, LinePaySetupError, MIN_CONFIRM_TIMEOUT,
};
use crate::providers::adapter::ProviderAdapter;
use crate::providers::settings::{ProviderConfigError, ProviderSettings};
use std::sync::Arc;

/// The adapter for the LINE Pay provider `settings` names.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError> {
    Ok(Arc::new(adapter(settings)?))
}

/// The adapter itself (tests and callers that need its own methods).
pub fn adapter(settings: &ProviderSettings<'_>) -> Result<LinePayAdapter, ProviderConfigError> {
    let channel_id = settings
        .get("CHANNEL_ID")
        .ok_or_else(|| settings.invalid("CHANNEL_ID", "the LINE Pay channel id is required"))?;
    let secret = settings.secret("CHANNEL_SECRET", "the LINE Pay channel secret key")?;
    let config = LinePayConfig {
        name: settings.name(),
        base_url: settings.get("URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        device_profile_id: settings.get("DEVICE_PROFILE_ID"),
        device_type: settings.get("DEVICE_TYPE").unwrap_or_else(|| DEFAULT_DEVICE_TYPE.to_owned()),
        reverse_after: settings.wait("REVERSE_AFTER", DEFAULT_REVERSE_AFTER)?,
        request_timeout: settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?,
        confirm_timeout: settings.wait("CONFIRM_TIMEOUT", MIN_CONFIRM_TIMEOUT)?,
        not_found_final_after: settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?,
        notify_url_base: settings.get("NOTIFY_URL"),
        ..LinePayConfig::new(channel_id, ChannelSecret::new(secret))
    };
    LinePayAdapter::new(config).map_err(|e| {
        let key = match &e {
            LinePaySetupError::Empty { field: "channel id" } => "CHANNEL_ID",
            LinePaySetupError::Empty { .. } => "CHANNEL_SECRET",
            LinePaySetupError::ZeroTimeout => "TIMEOUT",
            LinePaySetupError::ConfirmTimeout { .. } => "CONFIRM_TIMEOUT",
            LinePaySetupError::BaseUrl { .. } | LinePaySetupError::HttpClient(_) => "URL",
        };
        settings.invalid(key, e.to_string())
    })
}
