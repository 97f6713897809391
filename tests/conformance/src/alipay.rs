//! Alipay: the open-platform gateway (tests/alipaysim), RSA2, CNY, refunds synchronous
//! (`fund_change=Y`). Keys: the TEST-ONLY keys of tests/vectors/alipay.

use crate::{
    ADAPTER_TIMEOUT, BookRefund, BookState, Books, Capability, Delivered, HOLD, Provider, Receiver,
    common_settings,
};
use alipaysim::{AlipaySim, AlipaySimHandle, Config, ScriptEntry, Settings};
use chrono::{FixedOffset, NaiveDate, Utc};
use paygate::domain::{AuthCode, Currency};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::alipay::signing::{self, AlipayPublicKey, AppPrivateKey};
use paygate::providers::alipay::{AlipayAdapter, AlipayConfig};
use paygate::providers::{PayRequest, ProviderAdapter};
use paygate_e2e::system::ProviderAccount;
use serde_json::Value;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::sync::Arc;

const APP_ID: &str = "2021000000000001";
const SELLER: &str = "2088000000000001";
/// A payment code as the customer's Alipay app shows it (18 digits starting 28).
const AUTH_CODE: &str = "281234567890123456";

fn key(who: &str, form: &str) -> String {
    let v: Value = serde_json::from_str(include_str!("../../vectors/alipay/vectors.json")).expect("JSON");
    v["keys"][who][form].as_str().expect("a key in vectors.json").to_owned()
}

pub struct Alipay {
    sim: AlipaySimHandle,
    adapter: Arc<AlipayAdapter>,
    receiver: Receiver,
    http: reqwest::Client,
}

impl Alipay {
    async fn trade(&self, trade_no: &str) -> anyhow::Result<Option<Value>> {
        match self.sim.admin().trade(trade_no).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.to_string().contains("404") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl Provider for Alipay {
    const NAME: &'static str = "alipay";

    async fn start() -> anyhow::Result<Self> {
        let settings = Settings {
            // Alipay's retry schedule (4 min, 10 min, …) at 50 ppm: 12 ms, 30 ms, …
            notify_time_scale_ppm: 50,
            bill_today: true,
            timeout_hold_ms: u64::try_from(HOLD.as_millis())?,
            ..Settings::default()
        };
        let config = Config::default()
            .with_app(APP_ID, &key("app", "public_spki_pem"), SELLER)
            .with_alipay_key(&key("alipay", "private_pkcs8_pem"))
            .with_settings(settings);
        let sim = AlipaySim::start(config).await?;
        let receiver = Receiver::start().await?;
        let mut config = AlipayConfig::new(
            APP_ID,
            AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem"))?,
            AlipayPublicKey::from_pem(&sim.alipay_public_key_pem())?,
        );
        config.gateway_url = sim.gateway_url();
        config.seller_id = Some(SELLER.into());
        config.notify_url_base = Some(receiver.base_url.clone());
        config.request_timeout = ADAPTER_TIMEOUT;
        let adapter = Arc::new(AlipayAdapter::new(config)?);
        let http =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Alipay { sim, adapter, receiver, http })
    }

    async fn stop(self) {
        let _ = self.sim.shutdown().await;
    }

    fn adapter(&self) -> Arc<dyn ProviderAdapter> {
        self.adapter.clone()
    }

    // Not direct (Alipay charges only through the code the customer shows), not
    // client_secret (app pay is not supported): providers/alipay/mod.rs, pay_terms.
    const CAPABILITIES: &'static [Capability] = &[
        Capability::Pay(PayMethod::Qr),
        Capability::Pay(PayMethod::Redirect),
        Capability::Pay(PayMethod::Form),
        Capability::Pay(PayMethod::Barcode),
        Capability::GenuineNotification,
        Capability::BillDownload,
    ];

    fn currency(&self) -> Currency {
        Currency::CNY
    }

    fn charging_method(&self) -> PayMethod {
        PayMethod::Barcode
    }

    fn pay_request(&self, trade_no: &str, minor: i64, method: PayMethod) -> PayRequest {
        PayRequest {
            capture: Default::default(),
            trade_no: trade_no.into(),
            amount: self.money(minor),
            subject: "conformance 测试 & more".into(),
            pay_method: method,
            notify_url: None,
            return_url: Some("https://shop.example/return".into()),
            expires_at: None,
            auth_code: (method == PayMethod::Barcode)
                .then(|| AuthCode::parse(AUTH_CODE).expect("a payment code")),
            payer: Default::default(),
        }
    }

    async fn customer_opens(&self, trade_no: &str, action: Option<&CustomerAction>) -> anyhow::Result<()> {
        match action {
            // The customer scans the QR code: the trade exists from now on.
            Some(CustomerAction::QrCode { .. }) => {
                self.sim.admin().act(trade_no, "scan").await?;
            }
            // The browser opens the signed gateway URL / submits the form: the cashier.
            Some(CustomerAction::Redirect { url, .. }) => {
                let r = self.http.get(url).send().await?;
                anyhow::ensure!(r.status().is_success(), "the cashier answered {}", r.status());
            }
            Some(CustomerAction::Form { url, form, .. }) => {
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))))
                    .finish();
                let r = self
                    .http
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
                    .body(body)
                    .send()
                    .await?;
                let status = r.status();
                anyhow::ensure!(status.is_success(), "the cashier answered {status}: {}", r.text().await?);
            }
            _ => {}
        }
        Ok(())
    }

    async fn customer_pays(&self, trade_no: &str, action: Option<&CustomerAction>) -> anyhow::Result<()> {
        if self.trade(trade_no).await?.is_none() {
            self.customer_opens(trade_no, action).await?;
        }
        self.sim.admin().act(trade_no, "pay").await?;
        Ok(())
    }

    async fn script(&self, trade_no: &str, operation: Operation, fault: Fault) -> anyhow::Result<()> {
        self.sim.admin().script(&ScriptEntry::new(trade_no, operation, fault)).await?;
        Ok(())
    }

    async fn books(&self, trade_no: &str) -> anyhow::Result<Option<Books>> {
        let Some(t) = self.trade(trade_no).await? else { return Ok(None) };
        let int = |v: &Value| v.as_i64().ok_or_else(|| anyhow::anyhow!("not an integer: {v}"));
        let refunds = t["refunds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let state = match r["state"].as_str() {
                    Some("REFUND_SUCCESS") => BookState::Succeeded,
                    _ => BookState::Processing,
                };
                Ok(BookRefund {
                    refund_no: r["outRequestNo"].as_str().unwrap_or("").to_owned(),
                    amount: int(&r["amount"])?,
                    state,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Books {
            charges: u32::try_from(int(&t["charges"])?)?,
            amount: int(&t["totalAmount"])?,
            captured: None,
            refunds,
        }))
    }

    async fn plant_bill_fault(&self, fault: BillFault) -> anyhow::Result<()> {
        self.sim.admin().bill_fault(&fault).await?;
        Ok(())
    }

    fn bill_day(&self) -> NaiveDate {
        Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8")).date_naive()
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.receiver.delivered()
    }

    fn forge(&self, genuine: &Delivered) -> Delivered {
        // Signed, in Alipay's format, by a key that is not Alipay's (the app's own).
        let mut params: Vec<(String, String)> =
            form_urlencoded::parse(&genuine.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let check = signing::notification_check_string(&params).expect("a notification's parameters");
        let wrong = AppPrivateKey::from_pem(&key("app", "private_pkcs8_pem")).expect("the app key");
        let sign = wrong.sign(&check).expect("signed");
        params.retain(|(k, _)| k != "sign");
        params.push(("sign".into(), sign));
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        Delivered { headers: genuine.headers.clone(), body: body.into_bytes() }
    }

    fn account(&self) -> ProviderAccount {
        let mut settings = common_settings("alipay");
        settings.extend([
            ("APP_ID".into(), APP_ID.into()),
            ("APP_PRIVATE_KEY".into(), key("app", "private_pkcs8_pem")),
            ("ALIPAY_PUBLIC_KEY".into(), self.sim.alipay_public_key_pem()),
            ("GATEWAY_URL".into(), self.sim.gateway_url()),
            ("SELLER_ID".into(), SELLER.into()),
        ]);
        ProviderAccount { name: Self::NAME.into(), settings }
    }

    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.sim.admin().put("/admin/faults", serde_json::to_value(faults)?).await?;
        Ok(())
    }

    async fn barcode_waits_for_the_customer(&self) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.get("/admin/settings").await?;
        settings["barCodeConfirmAboveFen"] = serde_json::json!(0);
        settings["barCodeConfirmAfterMs"] = Value::Null;
        admin.put("/admin/settings", settings).await?;
        Ok(())
    }
}
