//! The customer at the real providers' simulators (tests/alipaysim, tests/wechatpaysim,
//! tests/stripesim): the admin calls the demo needs of each to pay a payment it was shown (a QR
//! code, a client secret), the way mockpay's admin API plays the customer for mockpay
//! ([`super::mockpay_admin`]). Unsigned, as their admin APIs are; used only when `scripts/up`
//! started them (`UP_ALIPAYSIM=1`, `UP_WECHATPAYSIM=1`, `UP_STRIPESIM=1`).

use serde_json::{Value, json};

/// Which simulator, by the provider name it is configured as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulator {
    /// alipaysim, the provider `alipay`: the customer scans the QR code, then pays.
    Alipay,
    /// wechatpaysim, the provider `wechatpay`: the customer pays the Native order.
    Wechatpay,
    /// stripesim, the provider `stripe`: the customer confirms the PaymentIntent with a card.
    Stripe,
}

impl Simulator {
    /// The provider name paygate knows it by (`PROVIDERS`).
    pub fn provider(self) -> &'static str {
        match self {
            Simulator::Alipay => "alipay",
            Simulator::Wechatpay => "wechatpay",
            Simulator::Stripe => "stripe",
        }
    }

    /// How the demo pays through it: a QR code, or (Stripe) a client secret the customer's
    /// browser confirms.
    pub fn pay_method(self) -> &'static str {
        match self {
            Simulator::Alipay | Simulator::Wechatpay => "qr",
            Simulator::Stripe => "client_secret",
        }
    }

    /// The currency the demo pays in there.
    pub fn currency(self) -> &'static str {
        match self {
            Simulator::Alipay | Simulator::Wechatpay => "CNY",
            Simulator::Stripe => "USD",
        }
    }

    /// The admin calls, in order, that make the customer pay the payment `trade_no` (stripesim's
    /// customer confirms with its default card, `pm_card_visa`).
    fn pay_calls(self, trade_no: &str) -> Vec<String> {
        match self {
            Simulator::Alipay => {
                vec![format!("/admin/trades/{trade_no}/scan"), format!("/admin/trades/{trade_no}/pay")]
            }
            Simulator::Wechatpay | Simulator::Stripe => vec![format!("/admin/orders/{trade_no}/pay")],
        }
    }
}

/// A client for one simulator's admin API.
pub struct SimulatorCustomer {
    pub simulator: Simulator,
    base_url: String,
    http: reqwest::Client,
}

impl SimulatorCustomer {
    pub fn new(simulator: Simulator, base_url: &str) -> anyhow::Result<Self> {
        let http =
            reqwest::Client::builder().no_proxy().timeout(std::time::Duration::from_secs(10)).build()?;
        Ok(Self { simulator, base_url: base_url.trim_end_matches('/').to_owned(), http })
    }

    /// Checks the simulator answers `/healthz`.
    pub async fn check(&self) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.base_url);
        let answer = self.http.get(&url).send().await.and_then(|r| r.error_for_status());
        answer.map(|_| ()).map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the {} simulator at {url} ({e}); its URL must be the one the provider `{}` is \
                 configured with",
                self.simulator.provider(),
                self.simulator.provider()
            )
        })
    }

    /// The customer pays the payment `trade_no`.
    pub async fn pays(&self, trade_no: &str) -> anyhow::Result<()> {
        for path in self.simulator.pay_calls(trade_no) {
            let url = format!("{}{path}", self.base_url);
            let response = self
                .http
                .post(&url)
                .json(&json!({}))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{} admin POST {url}: {e}", self.simulator.provider()))?;
            let status = response.status();
            if !status.is_success() {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                anyhow::bail!("{} admin POST {url} answered {status}: {body}", self.simulator.provider());
            }
        }
        Ok(())
    }
}
