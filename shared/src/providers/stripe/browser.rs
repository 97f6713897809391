//! What a customer's browser needs to confirm a PaymentIntent with Stripe directly, the way
//! Stripe.js does (`POST {api base}/v1/payment_intents/{id}/confirm` with `key=<publishable
//! key>` and the client secret): the account's **publishable key** and the API's base URL as the
//! browser reaches it. Both are public by design; they go into the `client_secret` action
//! (`{client_secret, publishable_key, api_base}`) so that paygate's hosted cashier can post the
//! card to Stripe without the card ever reaching paygate.
//!
//! A publishable key must start with `pk_` (a secret `sk_…` or restricted `rk_…` key is refused:
//! it must never reach a browser), and be of the same mode (`test` / `live`) as the secret key
//! when both say. The secret key is never in an action.

use crate::messages::events::CustomerAction;

/// The publishable key and the browser's API base URL of one Stripe account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserConfirm {
    publishable_key: String,
    api_base: String,
}

/// Why a browser setting is refused: the setting (`PUBLISHABLE_KEY`, `PUBLIC_URL`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {rule}")]
pub struct BrowserSettingError {
    pub setting: &'static str,
    pub rule: String,
}

fn refuse(setting: &'static str, rule: impl Into<String>) -> BrowserSettingError {
    BrowserSettingError { setting, rule: rule.into() }
}

/// The mode a key says it is for: `Some("test")`, `Some("live")`, or `None` when it does not say.
fn mode(key: &str) -> Option<&'static str> {
    let rest = key.split_once('_').map_or("", |(_, rest)| rest);
    if rest.starts_with("test_") {
        Some("test")
    } else if rest.starts_with("live_") {
        Some("live")
    } else {
        None
    }
}

impl BrowserConfirm {
    /// Checks `publishable_key` (against the account's `secret_key`'s mode) and `api_base`.
    pub fn new(publishable_key: &str, api_base: &str, secret_key: &str) -> Result<Self, BrowserSettingError> {
        const KEY: &str = "PUBLISHABLE_KEY";
        let key = publishable_key.trim();
        if key.starts_with("sk_") || key.starts_with("rk_") {
            return Err(refuse(
                KEY,
                "must be the publishable key (pk_…), not a secret or restricted key: it is shown to every customer's browser",
            ));
        }
        if !key.starts_with("pk_") || key.len() <= 3 {
            return Err(refuse(KEY, "must be a Stripe publishable key, starting with pk_"));
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(refuse(KEY, "must contain only letters, digits and _"));
        }
        if let (Some(pk), Some(sk)) = (mode(key), mode(secret_key))
            && pk != sk
        {
            return Err(refuse(
                KEY,
                format!("is a {pk} key but SECRET_KEY is a {sk} key: use one account mode"),
            ));
        }
        Ok(Self { publishable_key: key.to_owned(), api_base: base(api_base)? })
    }

    pub fn publishable_key(&self) -> &str {
        &self.publishable_key
    }

    /// The API's base URL as a browser reaches it, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// `action` with what a browser needs added when it is a client secret; any other as it is.
    pub fn complete(&self, action: CustomerAction) -> CustomerAction {
        match action {
            CustomerAction::ClientSecret { client_secret, .. } => CustomerAction::ClientSecret {
                client_secret,
                publishable_key: Some(self.publishable_key.clone()),
                api_base: Some(self.api_base.clone()),
            },
            other => other,
        }
    }
}

/// An absolute `http(s)://host[:port][/path]` without query, fragment or user info, as given,
/// without a trailing `/`.
fn base(url: &str) -> Result<String, BrowserSettingError> {
    const URL: &str = "PUBLIC_URL";
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| refuse(URL, format!("must be an absolute http(s) URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(refuse(URL, "must be an absolute http or https URL with a host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(refuse(URL, "must not have a query or a fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse(URL, "must not carry user information"));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SK: &str = "sk_test_abc";

    #[test]
    fn only_a_publishable_key_of_the_secret_keys_mode_is_taken() {
        let ok = BrowserConfirm::new("pk_test_123", "https://api.stripe.com/", SK).unwrap();
        assert_eq!((ok.publishable_key(), ok.api_base()), ("pk_test_123", "https://api.stripe.com"));
        for (bad, words) in [
            ("sk_test_123", "not a secret"),
            ("rk_live_123", "not a secret"),
            ("pub_123", "starting with pk_"),
            ("pk_", "starting with pk_"),
            ("pk_test_1\"2", "letters, digits"),
            ("pk_live_123", "live key but SECRET_KEY is a test key"),
        ] {
            let e = BrowserConfirm::new(bad, "https://api.stripe.com", SK).unwrap_err();
            assert_eq!(e.setting, "PUBLISHABLE_KEY", "{bad}");
            assert!(e.rule.contains(words), "{bad}: {e}");
        }
        // A key that does not say its mode is not compared.
        assert!(BrowserConfirm::new("pk_123", "http://127.0.0.1:7073", "sk_test_x").is_ok());
    }

    #[test]
    fn the_api_base_is_an_absolute_url_without_query() {
        for bad in ["api.stripe.com", "ftp://x", "https://x/?a=1", "https://u:p@x", "https://x/#f"] {
            let e = BrowserConfirm::new("pk_test_1", bad, SK).unwrap_err();
            assert_eq!(e.setting, "PUBLIC_URL", "{bad}: {e}");
        }
        let prefixed = BrowserConfirm::new("pk_test_1", "http://127.0.0.1:7073/stripe/", SK).unwrap();
        assert_eq!(prefixed.api_base(), "http://127.0.0.1:7073/stripe");
    }

    #[test]
    fn a_client_secret_gets_the_key_and_base_and_never_the_secret_key() {
        let b = BrowserConfirm::new("pk_test_1", "https://api.stripe.com", SK).unwrap();
        let done = b.complete(CustomerAction::client_secret("pi_1_secret_2"));
        let json = serde_json::to_value(&done).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"client_secret": "pi_1_secret_2", "publishable_key": "pk_test_1", "api_base": "https://api.stripe.com"})
        );
        assert!(!json.to_string().contains("sk_"));
        let redirect = CustomerAction::Redirect {
            method: crate::messages::events::HttpGet::Get,
            url: "https://hooks.stripe.com/3ds".into(),
        };
        assert_eq!(b.complete(redirect.clone()), redirect);
    }
}
