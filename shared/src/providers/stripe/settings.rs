//! A Stripe provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `SECRET_KEY` or `SECRET_KEY_FILE` | required | the API secret key (`sk_…`, or a restricted `rk_…`) |
//! | `WEBHOOK_SECRET` or `WEBHOOK_SECRET_FILE` | required | the webhook endpoint's signing secret (`whsec_…`) |
//! | `ACCOUNT` | the provider's name | the account id (`acct_…`) notification claims name |
//! | `URL` | `https://api.stripe.com` | the API's base URL |
//! | `API_VERSION` | none (the account's default) | `Stripe-Version` sent with every request |
//! | `TIMEOUT` | `10s` | how long one call may take before its outcome is unknown |
//! | `NOTIFICATION_POLICY` | `query_back` | `query_back` or `verified` |
//! | `NOT_FOUND_FINAL_AFTER` | `1h` | how long after our last pay request "no such PaymentIntent" is believed (the Search API lags) |
//! | `NOTIFY_WINDOW` | `300s` | the webhook signature's tolerance |
//!
//! Secrets are read once at start; an error names the variable, never the secret.

use super::signing::Secret;
use super::{
    DEFAULT_BASE_URL, DEFAULT_NOT_FOUND_FINAL_AFTER, DEFAULT_TIMEOUT, StripeAdapter, StripeConfig,
    StripeSetupError,
};
use crate::providers::adapter::ProviderAdapter;
use crate::providers::notification::NotificationPolicy;
use crate::providers::settings::{ProviderConfigError, ProviderSettings};
use std::sync::Arc;
use std::time::Duration;

/// The adapter for the Stripe provider `settings` names.
pub fn build(settings: &ProviderSettings<'_>) -> Result<Arc<dyn ProviderAdapter>, ProviderConfigError> {
    Ok(Arc::new(adapter(settings)?))
}

/// The adapter itself (tests and callers that need its own methods).
pub fn adapter(settings: &ProviderSettings<'_>) -> Result<StripeAdapter, ProviderConfigError> {
    let secret_key = settings.secret("SECRET_KEY", "the Stripe API secret key (sk_… or rk_…)")?;
    let webhook_secret =
        settings.secret("WEBHOOK_SECRET", "the webhook endpoint's signing secret (whsec_…)")?;
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
    let config = StripeConfig {
        name: settings.name(),
        base_url: settings.get("URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        api_version: settings.get("API_VERSION"),
        request_timeout: settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?,
        notification_policy,
        not_found_final_after: settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?,
        tolerance_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
        ..StripeConfig::new(
            Secret::new(secret_key),
            Secret::new(webhook_secret),
            settings.get("ACCOUNT").unwrap_or_else(|| settings.name().to_owned()),
        )
    };
    StripeAdapter::new(config).map_err(|e| {
        let key = match &e {
            StripeSetupError::Empty { field: "secret key" } => "SECRET_KEY",
            StripeSetupError::Empty { field: "account" } => "ACCOUNT",
            StripeSetupError::Empty { .. } => "WEBHOOK_SECRET",
            StripeSetupError::ZeroTimeout => "TIMEOUT",
            StripeSetupError::BaseUrl { .. } | StripeSetupError::HttpClient(_) => "URL",
        };
        settings.invalid(key, e.to_string())
    })
}
