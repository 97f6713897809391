//! Stripe (tests/stripesim): PaymentIntents paid by the customer with the client secret (the
//! simulator's admin side plays Stripe.js with a test card), USD, refunds asynchronous
//! (`pending`, then the refund query), webhook events to a fixed endpoint, the settlement from
//! the day's payouts. Keys: stripesim's
//! TEST-ONLY ones.

use crate::{
    ADAPTER_TIMEOUT, BookRefund, BookState, Books, Capability, Delivered, HOLD, Provider, Receiver,
    common_settings,
};
use axum::http::HeaderValue;
use chrono::{NaiveDate, Utc};
use paygate::domain::Currency;
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::ProviderAdapter;
use paygate::providers::stripe::signing::{self, Secret};
use paygate::providers::stripe::{StripeAdapter, StripeConfig};
use paygate_e2e::system::ProviderAccount;
use serde_json::Value;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::sync::Arc;
use stripesim::{AdminError, ScriptEntry, SimHandle, StripeSim, testkit};

pub struct Stripe {
    sim: SimHandle,
    adapter: Arc<StripeAdapter>,
    receiver: Receiver,
}

impl Stripe {
    /// stripesim's admin API (its settings and faults), for Stripe's own scenarios.
    pub fn admin(&self) -> stripesim::AdminClient {
        self.sim.admin()
    }

    /// The webhook endpoint at `base_url` (notify-handler's fixed route for Stripe).
    async fn webhook_to(&self, base_url: &str) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.webhook_url = Some(format!("{}/notify/{}", base_url.trim_end_matches('/'), Self::NAME));
        admin.set_settings(&settings).await
    }
}

#[async_trait::async_trait]
impl Provider for Stripe {
    const NAME: &'static str = "stripe";

    async fn start() -> anyhow::Result<Self> {
        let mut config = testkit::test_config();
        // The webhook retry schedule in milliseconds instead of seconds.
        config.settings.notify_scale_ppm = 1_000;
        config.settings.refund_delay_ms = 100;
        config.settings.timeout_hold_ms = u64::try_from(HOLD.as_millis())?;
        let sim = StripeSim::start(config).await?;
        let receiver = Receiver::start().await?;
        let mut config = StripeConfig::new(
            Secret::new(testkit::SECRET_KEY),
            Secret::new(testkit::WEBHOOK_SECRET),
            sim.account(),
        );
        config.base_url = sim.base_url().to_owned();
        config.request_timeout = ADAPTER_TIMEOUT;
        let adapter = Arc::new(StripeAdapter::new(config)?);
        let stripe = Stripe { sim, adapter, receiver };
        let receiver_url = stripe.receiver.base_url.clone();
        stripe.webhook_to(&receiver_url).await?;
        Ok(stripe)
    }

    async fn stop(self) {
        let _ = self.sim.shutdown().await;
    }

    fn adapter(&self) -> Arc<dyn ProviderAdapter> {
        self.adapter.clone()
    }

    // PaymentIntents confirmed by the customer with the client secret only; no trade bill; the
    // settlement is the payouts' balance transactions (providers/stripe/settlement.rs).
    const CAPABILITIES: &'static [Capability] = &[
        Capability::Pay(PayMethod::ClientSecret),
        Capability::GenuineNotification,
        Capability::SettlementDownload,
        Capability::ManualCapture,
    ];

    const DECLINE_LEAVES_PAYMENT_OPEN: bool = true;

    fn currency(&self) -> Currency {
        Currency::USD
    }

    fn charging_method(&self) -> PayMethod {
        PayMethod::ClientSecret
    }

    fn waiting_method(&self) -> PayMethod {
        PayMethod::ClientSecret
    }

    async fn notifications_to(&self, base_url: &str) -> anyhow::Result<()> {
        self.webhook_to(base_url).await
    }

    async fn customer_opens(&self, _trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        // A PaymentIntent exists from its create.
        Ok(())
    }

    /// The customer confirms with a card that succeeds; a decline (402) is a try that failed,
    /// not an error of the simulator.
    async fn customer_pays(&self, trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        match self.sim.admin().pay(trade_no, "pm_card_visa").await {
            Ok(_) => Ok(()),
            Err(e) if e.downcast_ref::<AdminError>().is_some_and(|a| a.status == 402) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn authorizations_expire_after(&self, after: std::time::Duration) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.authorization_expiry_ms = u64::try_from(after.as_millis())?;
        admin.set_settings(&settings).await
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
                    Some("succeeded") => BookState::Succeeded,
                    Some("failed" | "canceled") => BookState::Failed,
                    _ => BookState::Processing,
                };
                Ok(BookRefund {
                    refund_no: r["metadata"]["refund_no"].as_str().unwrap_or("").to_owned(),
                    amount: int(&r["amount"])?,
                    state,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Books {
            charges: u32::try_from(int(&o["charges"])?)?,
            amount: int(&o["paymentIntent"]["amount"])?,
            // What a manual capture took (`amount_received` of a captured manual PaymentIntent).
            captured: (o["paymentIntent"]["capture_method"] == "manual"
                && o["paymentIntent"]["status"] == "succeeded")
                .then(|| int(&o["paymentIntent"]["amount_received"]))
                .transpose()?,
            refunds,
        }))
    }

    /// A discrepancy in the payouts' balance transactions (stripesim takes `amount`, `drop_line`
    /// and `fee`).
    async fn plant_bill_fault(&self, fault: BillFault) -> anyhow::Result<()> {
        self.sim.admin().add_bill_fault(&fault).await?;
        Ok(())
    }

    /// stripesim pays each UTC day out the same day.
    fn bill_day(&self) -> NaiveDate {
        Utc::now().date_naive()
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.receiver.delivered()
    }

    fn forge(&self, genuine: &Delivered) -> Delivered {
        // Stripe's header format and the genuine timestamp, signed with a secret that is not the
        // endpoint's.
        let mut forged = genuine.clone();
        let header =
            genuine.headers.get(signing::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        let t = signing::SignatureHeader::parse(header).map_or(Utc::now().timestamp(), |h| h.timestamp);
        let wrong = Secret::new("whsec_not_the_endpoints_secret");
        let value = signing::header(t, &[signing::sign(&wrong, t, &genuine.body)]);
        forged.headers.insert(signing::SIGNATURE_HEADER, HeaderValue::from_str(&value).expect("ASCII"));
        forged
    }

    fn account(&self) -> ProviderAccount {
        let mut settings = common_settings("stripe");
        settings.extend([
            ("URL".into(), self.sim.base_url().to_owned()),
            ("SECRET_KEY".into(), testkit::SECRET_KEY.to_owned()),
            ("WEBHOOK_SECRET".into(), testkit::WEBHOOK_SECRET.to_owned()),
            ("ACCOUNT".into(), self.sim.account().to_owned()),
            // The fee stripesim charges (its default, 2.9 %), as agreed with it.
            ("RECON_FEE_PPM".into(), "29000".into()),
        ]);
        ProviderAccount { name: Self::NAME.into(), settings }
    }

    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.sim.admin().set_faults(faults).await
    }
}
