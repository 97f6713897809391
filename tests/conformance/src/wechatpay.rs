//! WeChat Pay API v3 (tests/wechatpaysim), CNY, refunds asynchronous (`PROCESSING`, then the
//! refund query). Keys: the TEST-ONLY keys of tests/vectors/wechatpay.

use crate::{
    ADAPTER_TIMEOUT, BookRefund, BookState, Books, Capability, Delivered, HOLD, Provider, Receiver,
    common_settings,
};
use axum::http::HeaderValue;
use chrono::{FixedOffset, NaiveDate, Utc};
use paygate::domain::{Currency, Payer};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::wechatpay::signing::{self, ApiV3Key, MerchantKey, PlatformKeys};
use paygate::providers::wechatpay::{WechatpayAdapter, WechatpayConfig};
use paygate::providers::{PayRequest, ProviderAdapter};
use paygate_e2e::system::ProviderAccount;
use serde_json::Value;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::sync::Arc;
use wechatpaysim::testkit::{self, TestKeys};
use wechatpaysim::{ScriptEntry, SimHandle, WechatPaySim};

pub struct Wechatpay {
    sim: SimHandle,
    keys: TestKeys,
    adapter: Arc<WechatpayAdapter>,
    receiver: Receiver,
}

#[async_trait::async_trait]
impl Provider for Wechatpay {
    const NAME: &'static str = "wechatpay";

    async fn start() -> anyhow::Result<Self> {
        let mut config = testkit::vector_config();
        // WeChat's notification schedule in milliseconds instead of seconds.
        config.settings.notify_scale_ppm = 1_000;
        config.settings.refund_delay_ms = 100;
        config.settings.timeout_hold_ms = u64::try_from(HOLD.as_millis())?;
        let sim = WechatPaySim::start(config).await?;
        let receiver = Receiver::start().await?;
        let keys = testkit::vector_keys();
        let merchant = MerchantKey::from_pem(&keys.merchant_serial, &keys.merchant_private_pem)?;
        let mut platform = PlatformKeys::new();
        platform.insert_pem(&keys.platform_serial, &keys.platform_public_pem)?;
        let mut config = WechatpayConfig::new(
            &keys.mchid,
            &keys.appid,
            merchant,
            platform,
            ApiV3Key::new(&keys.apiv3_key)?,
        );
        config.base_url = sim.base_url().to_owned();
        config.request_timeout = ADAPTER_TIMEOUT;
        config.notify_url = Some(format!("{}/notify/wechatpay", receiver.base_url));
        let adapter = Arc::new(WechatpayAdapter::new(config)?);
        Ok(Wechatpay { sim, keys, adapter, receiver })
    }

    async fn stop(self) {
        let _ = self.sim.shutdown().await;
    }

    fn adapter(&self) -> Arc<dyn ProviderAdapter> {
        self.adapter.clone()
    }

    // Native (qr), JSAPI (client_secret) and H5 (redirect); no form, no direct charge, and
    // no payment-code (micropay) flow in API v3: providers/wechatpay/mod.rs, pay_terms.
    const CAPABILITIES: &'static [Capability] = &[
        Capability::Pay(PayMethod::Qr),
        Capability::Pay(PayMethod::ClientSecret),
        Capability::Pay(PayMethod::Redirect),
        Capability::GenuineNotification,
        Capability::BillDownload,
        Capability::BillLineStatus,
        Capability::SettlementDownload,
    ];

    fn currency(&self) -> Currency {
        Currency::CNY
    }

    fn charging_method(&self) -> PayMethod {
        PayMethod::Qr
    }

    fn pay_request(&self, trade_no: &str, minor: i64, method: PayMethod) -> PayRequest {
        let payer = match method {
            PayMethod::ClientSecret => {
                Payer { openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()), client_ip: None }
            }
            PayMethod::Redirect => {
                Payer { openid: None, client_ip: Some("203.0.113.7".parse().expect("an IP")) }
            }
            _ => Payer::default(),
        };
        PayRequest {
            capture: Default::default(),
            trade_no: trade_no.into(),
            amount: self.money(minor),
            subject: "conformance 测试 & more".into(),
            pay_method: method,
            notify_url: None,
            return_url: None,
            expires_at: None,
            auth_code: None,
            payer,
        }
    }

    async fn customer_opens(&self, _trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        // A WeChat Pay order exists from its create.
        Ok(())
    }

    async fn customer_pays(&self, trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        self.sim.admin().pay(trade_no).await?;
        Ok(())
    }

    async fn script(&self, trade_no: &str, operation: Operation, fault: Fault) -> anyhow::Result<()> {
        self.sim.admin().script(&ScriptEntry::new(trade_no, operation, fault)).await
    }

    async fn books(&self, trade_no: &str) -> anyhow::Result<Option<Books>> {
        let Some(o) = self.sim.admin().order(trade_no).await? else { return Ok(None) };
        let int = |v: &Value| v.as_i64().ok_or_else(|| anyhow::anyhow!("not an integer: {v}"));
        let refunds = o["refunds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let state = match r["status"].as_str() {
                    Some("SUCCESS") => BookState::Succeeded,
                    // CLOSED: the refund failed and its amount is refundable again.
                    Some("CLOSED") => BookState::Failed,
                    // PROCESSING, and ABNORMAL (the money left WeChat Pay): held.
                    _ => BookState::Processing,
                };
                Ok(BookRefund {
                    refund_no: r["out_refund_no"].as_str().unwrap_or("").to_owned(),
                    amount: int(&r["amount"]["refund"])?,
                    state,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Books {
            charges: u32::try_from(int(&o["charges"])?)?,
            amount: int(&o["total"])?,
            captured: None,
            refunds,
        }))
    }

    async fn plant_bill_fault(&self, fault: BillFault) -> anyhow::Result<()> {
        self.sim.admin().add_bill_fault(&fault).await?;
        Ok(())
    }

    fn bill_day(&self) -> NaiveDate {
        Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8")).date_naive()
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.receiver.delivered()
    }

    fn forge(&self, genuine: &Delivered) -> Delivered {
        // Signed, in WeChat Pay's format and under the platform serial, by a key that is not the
        // platform's (the merchant's own).
        let mut forged = genuine.clone();
        let h = |name: &str| genuine.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let message = signing::response_message(
            &h(signing::HEADER_TIMESTAMP),
            &h(signing::HEADER_NONCE),
            &genuine.body,
        );
        let wrong = MerchantKey::from_pem(&self.keys.platform_serial, &self.keys.merchant_private_pem)
            .expect("the merchant key");
        let signature = wrong.sign(&message);
        forged.headers.insert(signing::HEADER_SIGNATURE, HeaderValue::from_str(&signature).expect("base64"));
        forged
    }

    fn account(&self) -> ProviderAccount {
        let k = &self.keys;
        let mut settings = common_settings("wechatpay");
        settings.extend([
            ("URL".into(), self.sim.base_url().to_owned()),
            ("MCHID".into(), k.mchid.clone()),
            ("APPID".into(), k.appid.clone()),
            ("MERCHANT_SERIAL".into(), k.merchant_serial.clone()),
            ("MERCHANT_KEY".into(), k.merchant_private_pem.clone()),
            ("PLATFORM_SERIAL".into(), k.platform_serial.clone()),
            ("PLATFORM_KEY".into(), k.platform_public_pem.clone()),
            ("APIV3_KEY".into(), k.apiv3_key.clone()),
        ]);
        ProviderAccount { name: Self::NAME.into(), settings }
    }

    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.sim.admin().set_faults(faults).await
    }
}
