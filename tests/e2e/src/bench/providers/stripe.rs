//! stripesim for a bench pass: the TEST-ONLY keys of stripesim's testkit, refunds final in the
//! create answer (`refund_delay_ms` 0), card payments that succeed at once when confirmed, the
//! run's latency on every API call. Stripe has no charge without the customer: a PaymentIntent
//! waits for its client-side confirmation, which the customer makes through the admin API
//! ([`super::Customer`]). Stripe's webhooks go to one endpoint per account, not per payment, so
//! the pass points stripesim at notify-handler once it listens ([`Stripe::notify_at`]).

use anyhow::Context;
use simkit::{FaultSettings, Latency};
use stripesim::{AdminClient, SimHandle, StripeSim, testkit};

/// The card the customer confirms with (stripesim's test card that succeeds).
pub const CARD: &str = "pm_card_visa";

/// A running stripesim.
pub struct Stripe {
    sim: SimHandle,
}

impl Stripe {
    pub async fn start(latency: Option<&Latency>) -> anyhow::Result<Stripe> {
        let mut config = testkit::test_config();
        config.settings.refund_delay_ms = 0;
        config.faults =
            FaultSettings { latency: latency.cloned().unwrap_or_default(), ..FaultSettings::default() };
        let sim = StripeSim::start(config).await.context("start stripesim")?;
        Ok(Stripe { sim })
    }

    /// `PAYGATE_PROVIDER_STRIPE_…`: the keys, the account and the simulator's URL.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let var = |key: &str, value: &str| (format!("PAYGATE_PROVIDER_STRIPE_{key}"), value.to_owned());
        vec![
            var("URL", self.sim.base_url()),
            var("SECRET_KEY", testkit::SECRET_KEY),
            var("WEBHOOK_SECRET", testkit::WEBHOOK_SECRET),
            var("ACCOUNT", self.sim.account()),
        ]
    }

    /// Sends the account's webhooks to notify-handler at `http` (its base URL).
    pub async fn notify_at(&self, http: &str) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.webhook_url = Some(format!("{}/notify/stripe", http.trim_end_matches('/')));
        admin.set_settings(&settings).await
    }

    /// The admin API, where the customer confirms.
    pub fn admin(&self) -> AdminClient {
        self.sim.admin()
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.sim.shutdown().await
    }
}
