//! A Stripe provider from its settings (`providers::settings`): `PAYGATE_PROVIDER_<NAME>_…`
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `SECRET_KEY` or `SECRET_KEY_FILE` | required | the API secret key (`sk_…`, or a restricted `rk_…`) |
//! | `WEBHOOK_SECRET` or `WEBHOOK_SECRET_FILE` | required | the webhook endpoint's signing secret (`whsec_…`) |
//! | `ACCOUNT` | the provider's name | the account id (`acct_…`) notification claims name |
//! | `URL` | `https://api.stripe.com` | the API's base URL |
//! | `PUBLISHABLE_KEY` | none | the publishable key (`pk_…`) a customer's browser confirms with; with it the `client_secret` action carries it and `PUBLIC_URL` (paygate's cashier takes cards then) |
//! | `PUBLIC_URL` | `URL` | the API's base URL as customers' browsers reach it (only with `PUBLISHABLE_KEY`) |
//! | `API_VERSION` | none (the account's default) | `Stripe-Version` sent with every request |
//! | `TIMEOUT` | `10s` | how long one call may take before its outcome is unknown |
//! | `NOTIFICATION_POLICY` | `query_back` | `query_back` or `verified` |
//! | `NOT_FOUND_FINAL_AFTER` | `1h` | how long after our last pay request "no such PaymentIntent" is believed (the Search API lags) |
//! | `NOTIFY_WINDOW` | `300s` | the webhook signature's tolerance |
//!
//! Secrets are read once at start; an error names the variable, never the secret.

use super::browser::BrowserConfirm;
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
    let base_url = settings.get("URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let browser = match (settings.get("PUBLISHABLE_KEY"), settings.get("PUBLIC_URL")) {
        (Some(key), public) => {
            // Without PUBLIC_URL the browser's base is URL, and a bad one is named as URL.
            let named = if public.is_some() { "PUBLIC_URL" } else { "URL" };
            let public = public.unwrap_or_else(|| base_url.clone());
            let browser = BrowserConfirm::new(&key, &public, &secret_key).map_err(|e| {
                settings.invalid(if e.setting == "PUBLIC_URL" { named } else { e.setting }, e.rule)
            })?;
            Some(browser)
        }
        (None, Some(_)) => {
            return Err(settings.invalid(
                "PUBLIC_URL",
                format!("is only used with {}: set both, or neither", settings.variable("PUBLISHABLE_KEY")),
            ));
        }
        (None, None) => None,
    };
    let config = StripeConfig {
        name: settings.name(),
        base_url,
        api_version: settings.get("API_VERSION"),
        request_timeout: settings.wait("TIMEOUT", DEFAULT_TIMEOUT)?,
        notification_policy,
        not_found_final_after: settings.wait("NOT_FOUND_FINAL_AFTER", DEFAULT_NOT_FOUND_FINAL_AFTER)?,
        tolerance_secs: i64::try_from(window.as_secs()).unwrap_or(i64::MAX),
        browser,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::events::CustomerAction;

    fn adapter_of(pairs: &[(&str, &str)]) -> Result<StripeAdapter, ProviderConfigError> {
        let vars: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| (format!("PAYGATE_PROVIDER_STRIPE_{k}"), (*v).to_owned())).collect();
        let lookup = move |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        adapter(&ProviderSettings::for_tests("stripe", &lookup))
    }

    const BASE: [(&str, &str); 2] = [("SECRET_KEY", "sk_test_x"), ("WEBHOOK_SECRET", "whsec_x")];

    #[test]
    fn a_publishable_key_is_checked_and_named_when_bad() {
        let with = |extra: &[(&'static str, &'static str)]| adapter_of(&[&BASE[..], extra].concat());
        assert!(with(&[]).unwrap().browser.is_none());
        let a = with(&[("PUBLISHABLE_KEY", "pk_test_1"), ("URL", "http://127.0.0.1:7073")]).unwrap();
        let b = a.browser.as_ref().unwrap();
        assert_eq!((b.publishable_key(), b.api_base()), ("pk_test_1", "http://127.0.0.1:7073"));
        let public =
            with(&[("PUBLISHABLE_KEY", "pk_test_1"), ("PUBLIC_URL", "https://stripe.example")]).unwrap();
        assert_eq!(public.browser.as_ref().unwrap().api_base(), "https://stripe.example");
        let bad = with(&[("PUBLISHABLE_KEY", "sk_test_oops")]).unwrap_err().to_string();
        assert!(bad.contains("PAYGATE_PROVIDER_STRIPE_PUBLISHABLE_KEY") && bad.contains("pk_"), "{bad}");
        assert!(!bad.contains("sk_test_oops"), "the refused value is not quoted: {bad}");
        let url = with(&[("PUBLISHABLE_KEY", "pk_test_1"), ("PUBLIC_URL", "nope")]).unwrap_err().to_string();
        assert!(url.contains("PAYGATE_PROVIDER_STRIPE_PUBLIC_URL"), "{url}");
        let url = with(&[("PUBLISHABLE_KEY", "pk_test_1"), ("URL", "nope")]).unwrap_err().to_string();
        assert!(url.contains("PAYGATE_PROVIDER_STRIPE_URL:"), "{url}");
        let alone = with(&[("PUBLIC_URL", "https://x")]).unwrap_err().to_string();
        assert!(alone.contains("PUBLIC_URL") && alone.contains("PUBLISHABLE_KEY"), "{alone}");
    }

    #[test]
    fn the_browser_settings_complete_a_client_secret_action() {
        let a = adapter_of(&[&BASE[..], &[("PUBLISHABLE_KEY", "pk_test_1")]].concat()).unwrap();
        let action = a.browser.as_ref().unwrap().complete(CustomerAction::client_secret("pi_1_secret_2"));
        assert_eq!(
            action,
            CustomerAction::ClientSecret {
                client_secret: "pi_1_secret_2".into(),
                publishable_key: Some("pk_test_1".into()),
                api_base: Some("https://api.stripe.com".into()),
            }
        );
    }
}
