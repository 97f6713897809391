//! The customer at the real providers' simulators (tests/alipaysim, tests/wechatpaysim,
//! tests/stripesim, tests/linepaysim): the admin calls the demo needs of each to pay a payment it
//! was shown (a QR code, a client secret, a LINE Pay payment page), the way mockpay's admin API
//! plays the customer for mockpay ([`super::mockpay_admin`]). Unsigned, as their admin APIs are;
//! used only when `scripts/up` started them (`UP_ALIPAYSIM=1`, `UP_WECHATPAYSIM=1`,
//! `UP_STRIPESIM=1`, `UP_LINEPAYSIM=1`).

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
    /// linepaysim, the provider `linepay`: the customer approves at the payment page, and the
    /// browser is redirected to notify-handler's `/return/linepay/…` (the confirmUrl).
    LinePay,
}

impl Simulator {
    /// The provider name paygate knows it by (`PROVIDERS`).
    pub fn provider(self) -> &'static str {
        match self {
            Simulator::Alipay => "alipay",
            Simulator::Wechatpay => "wechatpay",
            Simulator::Stripe => "stripe",
            Simulator::LinePay => "linepay",
        }
    }

    /// How the demo pays through it: a QR code, (Stripe) a client secret the customer's browser
    /// confirms, or (LINE Pay) a redirect to the payment page.
    pub fn pay_method(self) -> &'static str {
        match self {
            Simulator::Alipay | Simulator::Wechatpay => "qr",
            Simulator::Stripe => "client_secret",
            Simulator::LinePay => "redirect",
        }
    }

    /// The currency the demo pays in there (linepaysim's channel takes TWD, in whole units).
    pub fn currency(self) -> &'static str {
        match self {
            Simulator::Alipay | Simulator::Wechatpay => "CNY",
            Simulator::Stripe => "USD",
            Simulator::LinePay => "TWD",
        }
    }

    /// What the demo pays and then refunds there: LINE Pay takes TWD in whole units only, so
    /// its refund is a whole amount too.
    pub fn amounts(self) -> (&'static str, &'static str) {
        match self {
            Simulator::Alipay | Simulator::Wechatpay | Simulator::Stripe => ("6.00", "1.50"),
            Simulator::LinePay => ("6.00", "2.00"),
        }
    }

    /// The admin calls, in order, that make the customer pay the payment `trade_no` (stripesim's
    /// customer confirms with its default card, `pm_card_visa`; linepaysim's approves, and its
    /// browser is redirected to the confirmUrl).
    fn pay_calls(self, trade_no: &str) -> Vec<String> {
        match self {
            Simulator::Alipay => {
                vec![format!("/admin/trades/{trade_no}/scan"), format!("/admin/trades/{trade_no}/pay")]
            }
            Simulator::Wechatpay | Simulator::Stripe => vec![format!("/admin/orders/{trade_no}/pay")],
            Simulator::LinePay => vec![format!("/admin/orders/{trade_no}/approve")],
        }
    }

    /// What the customer's pay calls' last answer says happened besides the payment, for the
    /// report: at LINE Pay, where the browser's redirect went (an error if it did not reach
    /// notify-handler's return route).
    fn after_paying(self, answer: &Value) -> anyhow::Result<Option<String>> {
        if self != Simulator::LinePay {
            return Ok(None);
        }
        let redirect = answer["redirects"].as_array().and_then(|r| r.last()).and_then(Value::as_str);
        match redirect {
            Some(r) if r.contains("/return/linepay/") && r.contains(": HTTP 2") => {
                Ok(Some(format!("redirected to confirmUrl ({r})")))
            }
            Some(r) => {
                anyhow::bail!("the customer's redirect to confirmUrl did not reach notify-handler: {r}")
            }
            None => anyhow::bail!("linepaysim made no redirect to confirmUrl after the approval: {answer}"),
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

    /// The customer pays the payment `trade_no`; what else happened, for the report (LINE Pay:
    /// the browser's redirect to notify-handler).
    pub async fn pays(&self, trade_no: &str) -> anyhow::Result<Option<String>> {
        let mut answer = Value::Null;
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
            answer = response.json().await.unwrap_or(Value::Null);
        }
        self.simulator.after_paying(&answer)
    }
}
