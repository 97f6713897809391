//! For tests: throwaway TEST-ONLY keys and a configuration on a free port that uses them.

use crate::config::Config;

/// The secret key tests use (never a Stripe key).
pub const SECRET_KEY: &str = "sk_test_stripesim_only_0123456789";
/// The publishable key a browser confirms with (with the client secret), as Stripe.js does.
pub const PUBLISHABLE_KEY: &str = "pk_test_stripesim";
/// The webhook signing secret tests use (never a Stripe endpoint's).
pub const WEBHOOK_SECRET: &str = "whsec_test_stripesim_only_0123456789";

/// A simulator configuration on a free local port with the test keys.
pub fn test_config() -> Config {
    Config::new(SECRET_KEY, WEBHOOK_SECRET)
}
