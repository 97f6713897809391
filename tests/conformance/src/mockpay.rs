//! mockpay: paygate's own sandbox protocol (tests/mockpay), JPY, refunds asynchronous.

use crate::{
    ADAPTER_TIMEOUT, BookRefund, BookState, Books, Capability, Delivered, HOLD, Provider, Receiver,
    common_settings,
};
use ::mockpay::{Config, MockPay, MockPayHandle, ScriptEntry, Settings};
use axum::http::HeaderValue;
use chrono::{NaiveDate, Utc};
use paygate::domain::Currency;
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::ProviderAdapter;
use paygate::providers::mockpay::signing::{self, Secret};
use paygate::providers::mockpay::{MockpayAdapter, MockpayConfig};
use paygate_e2e::system::ProviderAccount;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::sync::Arc;

const MERCHANT: &str = "conformance";
const SECRET: &str = "conformance-secret";

pub struct Mockpay {
    sim: MockPayHandle,
    adapter: Arc<MockpayAdapter>,
    receiver: Receiver,
}

#[async_trait::async_trait]
impl Provider for Mockpay {
    const NAME: &'static str = "mockpay";

    async fn start() -> anyhow::Result<Self> {
        let settings = Settings {
            refund_delay_ms: 100,
            notify_retry_ms: vec![20, 50, 100],
            timeout_hold_ms: u64::try_from(HOLD.as_millis())?,
            ..Settings::default()
        };
        let sim =
            MockPay::start(Config::default().with_merchant(MERCHANT, SECRET).with_settings(settings)).await?;
        let receiver = Receiver::start().await?;
        let adapter = MockpayAdapter::new(
            MockpayConfig::new(sim.base_url(), MERCHANT, SECRET)
                .with_timeout(ADAPTER_TIMEOUT)
                .with_notify_url_base(receiver.base_url.clone()),
        )?;
        Ok(Mockpay { sim, adapter: Arc::new(adapter), receiver })
    }

    async fn stop(self) {
        let _ = self.sim.shutdown().await;
    }

    fn adapter(&self) -> Arc<dyn ProviderAdapter> {
        self.adapter.clone()
    }

    // No barcode: mockpay's `direct` is a one-time key charged at once; it has no payment-code
    // flow (providers/mockpay/mod.rs, pay_terms).
    const CAPABILITIES: &'static [Capability] = &[
        Capability::Pay(PayMethod::Qr),
        Capability::Pay(PayMethod::Redirect),
        Capability::Pay(PayMethod::Form),
        Capability::Pay(PayMethod::ClientSecret),
        Capability::Pay(PayMethod::Direct),
        Capability::GenuineNotification,
        Capability::BillDownload,
        Capability::BillLineStatus,
        Capability::SettlementDownload,
        Capability::ManualCapture,
    ];

    fn currency(&self) -> Currency {
        Currency::JPY
    }

    fn charging_method(&self) -> PayMethod {
        PayMethod::Direct
    }

    async fn customer_opens(&self, _trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        // A mockpay payment exists from its create.
        Ok(())
    }

    async fn customer_pays(&self, trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        let env = self.sim.admin().pay(trade_no).await?;
        // A scripted decline answers with its decline code: the customer acted all the same.
        anyhow::ensure!(
            matches!(env.return_code.as_str(), "0000" | "1101" | "1102"),
            "mockpay's pay page answered {} {}",
            env.return_code,
            env.return_message
        );
        Ok(())
    }

    async fn authorizations_expire_after(&self, after: std::time::Duration) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.authorization_expiry_secs = after.as_secs().max(1);
        admin.set_settings(&settings).await?;
        Ok(())
    }

    async fn script(&self, trade_no: &str, operation: Operation, fault: Fault) -> anyhow::Result<()> {
        self.sim.admin().script(ScriptEntry::new(trade_no, operation, fault)).await?;
        Ok(())
    }

    async fn books(&self, trade_no: &str) -> anyhow::Result<Option<Books>> {
        let Some(t) = self.sim.admin().payment(trade_no).await? else { return Ok(None) };
        let refunds = t
            .refunds
            .iter()
            .map(|r| {
                let state = match r.status.as_str() {
                    "SUCCEEDED" => BookState::Succeeded,
                    "FAILED" => BookState::Failed,
                    _ => BookState::Processing,
                };
                BookRefund { refund_no: r.refund_id.clone(), amount: r.amount, state }
            })
            .collect();
        Ok(Some(Books { charges: t.charges, amount: t.amount, captured: t.captured_amount, refunds }))
    }

    async fn plant_bill_fault(&self, fault: BillFault) -> anyhow::Result<()> {
        self.sim.admin().bill_fault(&fault).await?;
        Ok(())
    }

    fn bill_day(&self) -> NaiveDate {
        Utc::now().date_naive()
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.receiver.delivered()
    }

    fn forge(&self, genuine: &Delivered) -> Delivered {
        let mut forged = genuine.clone();
        let h = |name: &str| genuine.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let signature = signing::notification_signature(
            &Secret::new("not-the-merchant-secret"),
            &h(signing::HEADER_TIMESTAMP),
            &h(signing::HEADER_NONCE),
            &genuine.body,
        );
        forged.headers.insert(signing::HEADER_SIGNATURE, HeaderValue::from_str(&signature).expect("hex"));
        forged
    }

    fn account(&self) -> ProviderAccount {
        // Not `mockpay`: the system under test has a mockpay of its own by that name.
        let mut settings = common_settings("mockpay");
        settings.extend([
            ("URL".into(), self.sim.base_url().to_owned()),
            ("MERCHANT".into(), MERCHANT.into()),
            ("SECRET".into(), SECRET.into()),
        ]);
        ProviderAccount { name: "mockpay_sut".into(), settings }
    }

    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.sim.admin().set_faults(faults).await?;
        Ok(())
    }
}
