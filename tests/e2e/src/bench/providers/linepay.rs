//! linepaysim for a bench pass: the TEST-ONLY channel of linepaysim's testkit, taking TWD (whole
//! units), the run's latency on every API call. LINE Pay has no charge without the customer and
//! no webhook: a payment request waits for the customer's approval at the payment page, which the
//! customer makes through the admin API ([`super::Customer`]); linepaysim then sends the
//! customer's browser to the confirmUrl, notify-handler's `/return/linepay/{trade no}` (derived
//! from the notify URL the dispatcher gives with each payment, `NOTIFY_BASE_URL`), which asks the
//! dispatcher for a query, and the dispatcher confirms. Refunds are synchronous at LINE Pay.

use anyhow::Context;
use linepaysim::{AdminClient, LinePaySim, SimHandle, testkit};
use simkit::{FaultSettings, Latency};

/// The currency of linepaysim's test channel (whole units at LINE Pay).
pub const CURRENCY: &str = "TWD";

/// A running linepaysim.
pub struct LinePay {
    sim: SimHandle,
}

impl LinePay {
    pub async fn start(latency: Option<&Latency>) -> anyhow::Result<LinePay> {
        let mut config = testkit::test_config();
        config.faults =
            FaultSettings { latency: latency.cloned().unwrap_or_default(), ..FaultSettings::default() };
        let sim = LinePaySim::start(config).await.context("start linepaysim")?;
        Ok(LinePay { sim })
    }

    /// `PAYGATE_PROVIDER_LINEPAY_…`: the channel and the simulator's URL.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let var = |key: &str, value: &str| (format!("PAYGATE_PROVIDER_LINEPAY_{key}"), value.to_owned());
        vec![
            var("URL", self.sim.base_url()),
            var("CHANNEL_ID", testkit::CHANNEL_ID),
            var("CHANNEL_SECRET", testkit::CHANNEL_SECRET),
        ]
    }

    /// The admin API, where the customer approves.
    pub fn admin(&self) -> AdminClient {
        self.sim.admin()
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.sim.shutdown().await
    }
}
