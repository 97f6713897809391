//! alipaysim for a bench pass: the app of the TEST-ONLY keys of tests/vectors/alipay, refunds
//! final in the create answer (`fund_change=Y`), barcode payments charged at once (no
//! confirmation on the phone), the run's latency on every gateway call. paygate is given no
//! notification URL, so alipaysim sends no notification: a barcode payment is final in the pay
//! answer (or in a query, if the answer was 10003).

use alipaysim::{AlipaySim, AlipaySimHandle, Config, Settings};
use anyhow::Context;
use serde_json::Value;
use simkit::{FaultSettings, Latency};

/// A payment code as the customer's Alipay app shows it (18 digits starting 28), as the till
/// scans it. alipaysim charges any well-formed code.
pub const AUTH_CODE: &str = "281234567890123456";

const VECTORS: &str = include_str!("../../../../vectors/alipay/vectors.json");

/// A running alipaysim and the app paygate is.
pub struct Alipay {
    sim: AlipaySimHandle,
    app_id: String,
    seller_id: String,
    app_private_key: String,
}

fn vector(v: &Value, path: &[&str]) -> anyhow::Result<String> {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{} in tests/vectors/alipay/vectors.json", path.join(".")))
}

impl Alipay {
    pub async fn start(latency: Option<&Latency>) -> anyhow::Result<Alipay> {
        let v: Value = serde_json::from_str(VECTORS).context("tests/vectors/alipay/vectors.json")?;
        let (app_id, seller_id) = (vector(&v, &["app_id"])?, vector(&v, &["seller_id"])?);
        let settings =
            Settings { refund_delay_ms: 0, bar_code_confirm_above_fen: None, ..Settings::default() };
        let faults =
            FaultSettings { latency: latency.cloned().unwrap_or_default(), ..FaultSettings::default() };
        let config = Config::default()
            .with_app(&app_id, &vector(&v, &["keys", "app", "public_spki_pem"])?, &seller_id)
            .with_alipay_key(&vector(&v, &["keys", "alipay", "private_pkcs8_pem"])?)
            .with_settings(settings)
            .with_faults(faults);
        let sim = AlipaySim::start(config).await.context("start alipaysim")?;
        let app_private_key = vector(&v, &["keys", "app", "private_pkcs8_pem"])?;
        Ok(Alipay { sim, app_id, seller_id, app_private_key })
    }

    /// `PAYGATE_PROVIDER_ALIPAY_…`: the app, its key, the simulator's key and gateway.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let var = |key: &str, value: String| (format!("PAYGATE_PROVIDER_ALIPAY_{key}"), value);
        vec![
            var("APP_ID", self.app_id.clone()),
            var("SELLER_ID", self.seller_id.clone()),
            var("APP_PRIVATE_KEY", self.app_private_key.clone()),
            var("ALIPAY_PUBLIC_KEY", self.sim.alipay_public_key_pem()),
            var("GATEWAY_URL", self.sim.gateway_url()),
        ]
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.sim.shutdown().await
    }
}
