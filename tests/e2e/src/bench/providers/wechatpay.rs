//! wechatpaysim for a bench pass: the merchant of the TEST-ONLY keys of tests/vectors/wechatpay,
//! WeChat's own notification schedule (the first attempt at once, retries from 15 s), refunds
//! final in the create answer (`SUCCESS`), the run's latency on every API call. The customer
//! pays through its admin API ([`super::Customer`]); the notification URL is the one the
//! dispatcher gives with each payment (`NOTIFY_BASE_URL`, notify-handler's address).

use anyhow::Context;
use simkit::{FaultSettings, Latency};
use wechatpaysim::testkit::{self, TestKeys};
use wechatpaysim::{AdminClient, SimHandle, WechatPaySim};

/// A running wechatpaysim and the merchant paygate is.
pub struct Wechatpay {
    sim: SimHandle,
    keys: TestKeys,
}

impl Wechatpay {
    pub async fn start(latency: Option<&Latency>) -> anyhow::Result<Wechatpay> {
        let mut config = testkit::vector_config();
        config.settings.refund_delay_ms = 0;
        config.faults =
            FaultSettings { latency: latency.cloned().unwrap_or_default(), ..FaultSettings::default() };
        let sim = WechatPaySim::start(config).await.context("start wechatpaysim")?;
        Ok(Wechatpay { sim, keys: testkit::vector_keys() })
    }

    /// `PAYGATE_PROVIDER_WECHATPAY_…`: the merchant, its key, the platform key, the APIv3 key
    /// and the simulator's URL.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let var = |key: &str, value: &str| (format!("PAYGATE_PROVIDER_WECHATPAY_{key}"), value.to_owned());
        let k = &self.keys;
        vec![
            var("URL", self.sim.base_url()),
            var("MCHID", &k.mchid),
            var("APPID", &k.appid),
            var("MERCHANT_SERIAL", &k.merchant_serial),
            var("MERCHANT_KEY", &k.merchant_private_pem),
            var("PLATFORM_SERIAL", &k.platform_serial),
            var("PLATFORM_KEY", &k.platform_public_pem),
            var("APIV3_KEY", &k.apiv3_key),
        ]
    }

    /// The admin API, where the customer pays.
    pub fn admin(&self) -> AdminClient {
        self.sim.admin()
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.sim.shutdown().await
    }
}
