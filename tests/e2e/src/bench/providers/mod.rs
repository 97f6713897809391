//! The provider a bench pass pays through (`--provider mockpay|alipay|wechatpay|stripe|linepay`): its simulator,
//! started in-process for the pass with the run's provider latency, the settings the services are
//! given for it, the pay command that reaches a final success the way that provider charges, and
//! the simulated customer where a payment waits for one.
//!
//! | provider | simulator | pay command | how a payment ends | notify-handler |
//! |---|---|---|---|---|
//! | mockpay | mockpay | `direct` | charged in mockpay's pay answer | not run |
//! | alipay | alipaysim | `barcode` with the customer's `auth_code` (`alipay.trade.pay`) | charged in the pay answer (queried until paid if it answers 10003) | not run |
//! | wechatpay | wechatpaysim | `qr` (Native; API v3 has no direct charge) | the customer pays at the simulator on `payment.action_required`, the simulator notifies notify-handler, the dispatcher confirms by query | run |
//! | stripe | stripesim | `client_secret` (a PaymentIntent waits for the customer's confirmation) | the customer confirms with a card at the simulator on `payment.action_required`, the webhook reaches notify-handler, the dispatcher confirms by query | run |
//! | linepay | linepaysim | `redirect` in TWD, whole units (Online API v3 `request`; no charge without the customer) | the customer approves at the simulator on `payment.action_required`, the browser's redirect reaches notify-handler's `/return/linepay/…`, the dispatcher queries (`check` → `0110`) and confirms | run |
//!
//! Refunds complete in the provider's create answer for all five (the simulators' refund delay
//! is 0; LINE Pay's refund is synchronous), so `refund.succeeded` is a refund's final event in
//! every pass. Each pass pays and refunds in [`BenchProvider::currency`].

mod alipay;
mod linepay;
mod mockpay;
mod stripe;
mod wechatpay;

pub use mockpay::{MOCKPAY_MERCHANT, MOCKPAY_SECRET};

use crate::system::pay_command;
use serde_json::{Value, json};
use simkit::Latency;

/// A provider a bench pass can pay through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchProvider {
    Mockpay,
    Alipay,
    Wechatpay,
    Stripe,
    #[value(name = "linepay")]
    LinePay,
}

impl BenchProvider {
    /// Its name in `PROVIDERS` and in pay commands.
    pub fn name(self) -> &'static str {
        match self {
            BenchProvider::Mockpay => "mockpay",
            BenchProvider::Alipay => "alipay",
            BenchProvider::Wechatpay => "wechatpay",
            BenchProvider::Stripe => "stripe",
            BenchProvider::LinePay => "linepay",
        }
    }

    /// Its simulator's name (the CPU table's `bench+<simulator>`).
    pub fn simulator(self) -> &'static str {
        match self {
            BenchProvider::Mockpay => "mockpay",
            BenchProvider::Alipay => "alipaysim",
            BenchProvider::Wechatpay => "wechatpaysim",
            BenchProvider::Stripe => "stripesim",
            BenchProvider::LinePay => "linepaysim",
        }
    }

    /// The currency its pass pays and refunds in: CNY, but TWD at LINE Pay (linepaysim's test
    /// channel takes one currency).
    pub fn currency(self) -> &'static str {
        match self {
            BenchProvider::LinePay => linepay::CURRENCY,
            _ => "CNY",
        }
    }

    /// The pay command of order `merchant_order_no` for `amount` (in [`Self::currency`], as
    /// commands spell it: `12.34`). LINE Pay takes TWD in whole units, so its amount is cut to
    /// the whole unit (`12.00`).
    pub fn pay_command(self, merchant_order_no: &str, amount: &str) -> Value {
        let method = match self {
            BenchProvider::Mockpay => "direct",
            BenchProvider::Alipay => "barcode",
            BenchProvider::Wechatpay => "qr",
            BenchProvider::Stripe => "client_secret",
            BenchProvider::LinePay => "redirect",
        };
        let whole;
        let amount = match self {
            BenchProvider::LinePay => {
                whole = format!("{}.00", amount.split('.').next().unwrap_or(amount));
                whole.as_str()
            }
            _ => amount,
        };
        let mut payload = pay_command(merchant_order_no, amount, method);
        payload["provider"] = json!(self.name());
        payload["currency"] = json!(self.currency());
        if self == BenchProvider::Alipay {
            payload["auth_code"] = json!(alipay::AUTH_CODE);
        }
        payload
    }

    /// How a payment reaches its final event, for the report.
    pub fn flow(self) -> &'static str {
        match self {
            BenchProvider::Mockpay => "direct pay, charged in mockpay's pay answer",
            BenchProvider::Alipay => {
                "barcode pay (alipay.trade.pay with the customer's auth_code), charged in alipaysim's pay answer"
            }
            BenchProvider::Wechatpay => {
                "Native (QR) pay; a different flow: the time includes the customer paying at wechatpaysim \
                 on payment.action_required, its notification to notify-handler and the dispatcher's query"
            }
            BenchProvider::Stripe => {
                "PaymentIntent confirmed by the customer; a different flow: the time includes the customer \
                 confirming with a card at stripesim on payment.action_required, the webhook to notify-handler \
                 and the dispatcher's query"
            }
            BenchProvider::LinePay => {
                "redirect pay in TWD approved by the customer; a different flow: the time includes the customer \
                 approving at linepaysim on payment.action_required, the browser's redirect to notify-handler's \
                 /return/linepay/…, the dispatcher's check and confirm"
            }
        }
    }

    /// How its refunds end, for the report.
    pub fn refunds(self) -> &'static str {
        match self {
            BenchProvider::Mockpay => "refunds complete in mockpay's answer (refundDelayMs 0)",
            BenchProvider::Alipay => {
                "refunds complete in alipaysim's answer (refund_delay_ms 0, fund_change=Y)"
            }
            BenchProvider::Wechatpay => {
                "refunds complete in wechatpaysim's answer (refund_delay_ms 0, status SUCCESS)"
            }
            BenchProvider::Stripe => {
                "refunds complete in stripesim's answer (refund_delay_ms 0, status succeeded)"
            }
            BenchProvider::LinePay => {
                "refunds complete in linepaysim's answer (LINE Pay refunds are synchronous)"
            }
        }
    }

    /// Whether its payments end through a notification, so the pass runs notify-handler and
    /// tells the dispatchers its address (`NOTIFY_BASE_URL`).
    pub fn needs_notify_handler(self) -> bool {
        matches!(self, BenchProvider::Wechatpay | BenchProvider::Stripe | BenchProvider::LinePay)
    }
}

/// A provider's simulator, running in-process for one pass.
pub enum Simulator {
    Mockpay(::mockpay::MockPayHandle),
    Alipay(alipay::Alipay),
    Wechatpay(wechatpay::Wechatpay),
    Stripe(stripe::Stripe),
    LinePay(linepay::LinePay),
}

impl Simulator {
    /// Starts `provider`'s simulator, answering every API call `latency` late (if any).
    pub async fn start(provider: BenchProvider, latency: Option<&Latency>) -> anyhow::Result<Simulator> {
        Ok(match provider {
            BenchProvider::Mockpay => Simulator::Mockpay(mockpay::start(latency, false).await?),
            BenchProvider::Alipay => Simulator::Alipay(alipay::Alipay::start(latency).await?),
            BenchProvider::Wechatpay => Simulator::Wechatpay(wechatpay::Wechatpay::start(latency).await?),
            BenchProvider::Stripe => Simulator::Stripe(stripe::Stripe::start(latency).await?),
            BenchProvider::LinePay => Simulator::LinePay(linepay::LinePay::start(latency).await?),
        })
    }

    /// Tells the simulator where notify-handler listens (`http`, its base URL), where the
    /// provider sends notifications to one endpoint per account rather than to a URL given with
    /// each payment (Stripe). The others take the URL the dispatcher sends with each payment.
    pub async fn notify_at(&self, http: &str) -> anyhow::Result<()> {
        match self {
            Simulator::Stripe(s) => s.notify_at(http).await,
            Simulator::Mockpay(_)
            | Simulator::Alipay(_)
            | Simulator::Wechatpay(_)
            | Simulator::LinePay(_) => Ok(()),
        }
    }

    /// The provider's settings as every service reads them (`PAYGATE_PROVIDER_<NAME>_…`; not
    /// `PROVIDERS`).
    pub fn provider_env(&self) -> Vec<(String, String)> {
        match self {
            Simulator::Mockpay(m) => mockpay::provider_env("MOCKPAY", m),
            Simulator::Alipay(a) => a.provider_env(),
            Simulator::Wechatpay(w) => w.provider_env(),
            Simulator::Stripe(s) => s.provider_env(),
            Simulator::LinePay(l) => l.provider_env(),
        }
    }

    /// The simulated customer, when payments wait for one.
    pub fn customer(&self) -> Option<Customer> {
        match self {
            Simulator::Mockpay(_) | Simulator::Alipay(_) => None,
            Simulator::Wechatpay(w) => Some(Customer::Wechatpay(w.admin())),
            Simulator::Stripe(s) => Some(Customer::Stripe(s.admin())),
            Simulator::LinePay(l) => Some(Customer::LinePay(l.admin())),
        }
    }

    pub async fn shutdown(self) {
        let _ = match self {
            Simulator::Mockpay(m) => m.shutdown().await,
            Simulator::Alipay(a) => a.shutdown().await,
            Simulator::Wechatpay(w) => w.shutdown().await,
            Simulator::Stripe(s) => s.shutdown().await,
            Simulator::LinePay(l) => l.shutdown().await,
        };
    }
}

/// Starts a mockpay of its own (the isolation passes' second provider), `timing_out` on every
/// call or not; with the run's latency.
pub async fn start_second_mockpay(
    latency: Option<&Latency>,
    timing_out: bool,
) -> anyhow::Result<::mockpay::MockPayHandle> {
    mockpay::start(latency, timing_out).await
}

/// The settings of a second mockpay account named `upper` (its name in upper case).
pub fn second_mockpay_env(upper: &str, handle: &::mockpay::MockPayHandle) -> Vec<(String, String)> {
    mockpay::provider_env(upper, handle)
}

/// The simulated customer: pays a payment at the simulator, as the customer's app does after
/// scanning the payment's QR code (or the customer's browser, confirming a PaymentIntent or
/// approving at LINE Pay's payment page and being redirected to the confirmUrl).
#[derive(Debug, Clone)]
pub enum Customer {
    Wechatpay(wechatpaysim::AdminClient),
    Stripe(stripesim::AdminClient),
    LinePay(linepaysim::AdminClient),
}

impl Customer {
    /// The customer pays the payment whose trade number (at the provider) is `trade_no`.
    pub async fn pays(&self, trade_no: &str) -> anyhow::Result<()> {
        match self {
            Customer::Wechatpay(admin) => admin.pay(trade_no).await.map(drop),
            Customer::Stripe(admin) => admin.pay(trade_no, stripe::CARD).await.map(drop),
            Customer::LinePay(admin) => admin.approve(trade_no, true).await.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;
    use paygate::domain::Payer;
    use paygate::messages::commands::Command;
    use paygate::providers::adapter::PayTerms;
    use paygate::providers::{CallOutcome, PayRequest, PaymentFacts, PaymentStatus, ProviderArgs, registry};
    use std::time::{Duration, Instant};

    fn facts(provider: BenchProvider, outcome: CallOutcome<PaymentFacts>) -> PaymentFacts {
        match outcome {
            CallOutcome::Answer { facts, .. } => facts,
            other => panic!("{}: not an answer: {:?}", provider.name(), other.code()),
        }
    }

    /// Each provider's pay command is one ingest accepts for that provider's kind.
    #[test]
    fn each_pay_command_passes_ingest_and_the_kinds_pay_terms() {
        for provider in BenchProvider::value_variants() {
            let payload = provider.pay_command("bench-0000001", "12.34");
            let Command::Pay(pay) = Command::parse("command.pay", payload).expect("a valid pay command")
            else {
                panic!("not a pay command")
            };
            assert_eq!(pay.provider.as_str(), provider.name());
            let kind = registry::kind(provider.name()).expect("paygate has the kind");
            let payer = pay.payer.clone().unwrap_or_else(Payer::default);
            let terms = PayTerms {
                pay_method: pay.pay_method,
                auth_code: pay.auth_code.as_ref(),
                payer: &payer,
                capture: pay.capture,
            };
            (kind.pay_terms)(&terms).unwrap_or_else(|e| panic!("{}: {e}", provider.name()));
        }
    }

    /// The pass's path for each provider, in-process and small: the simulator starts with a
    /// latency, the services' settings for it build paygate's adapter, a pay through that adapter
    /// is charged (the customer paying where payments wait for one), as the bench's pass does it
    /// through the services.
    #[tokio::test]
    async fn each_simulator_is_configured_and_charged_the_way_its_pass_charges() {
        let latency = Latency { fixed_ms: 5, jitter_ms: 5, percentiles: Vec::new() };
        for provider in BenchProvider::value_variants().iter().copied() {
            let simulator = Simulator::start(provider, Some(&latency)).await.expect("the simulator starts");
            let env = simulator.provider_env();
            let args = ProviderArgs {
                providers: paygate::providers::settings::parse_provider_names(provider.name())
                    .expect("a provider name"),
                settings: Vec::new(),
            };
            let vars = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            let registry = args.registry_from(&vars).expect("the settings build the adapter");
            let adapter = registry.get(provider.name()).expect("the adapter").clone();

            let payload = provider.pay_command("bench-0000002", "10.00");
            let Command::Pay(pay) = Command::parse("command.pay", payload).expect("a valid pay command")
            else {
                panic!("not a pay command")
            };
            let trade_no = paygate::providers::adapter::trade_no(uuid::Uuid::now_v7());
            let request = PayRequest {
                capture: Default::default(),
                trade_no: trade_no.clone(),
                amount: pay.amount,
                subject: pay.subject.clone(),
                pay_method: pay.pay_method,
                // As the dispatcher gives it (LINE Pay derives its confirmUrl from it).
                notify_url: Some(format!("http://127.0.0.1:9/notify/{}/{trade_no}", provider.name())),
                return_url: None,
                expires_at: None,
                auth_code: pay.auth_code.clone(),
                payer: Payer::default(),
            };
            let started = Instant::now();
            let answer = facts(provider, adapter.pay(&request).await.outcome);
            assert!(started.elapsed() >= Duration::from_millis(5), "{}: no latency", provider.name());
            if let Some(customer) = simulator.customer() {
                assert_eq!(answer.status, PaymentStatus::WaitingForCustomer, "{}", provider.name());
                customer.pays(&trade_no).await.expect("the customer pays");
                // With the transaction id, as the dispatcher asks (LINE Pay checks and confirms
                // through it).
                let trade = paygate::providers::adapter::TradeRef::new(&trade_no, pay.amount)
                    .with_provider_txn_id(answer.provider_txn_id.clone());
                let answer = facts(provider, adapter.query_trade(&trade).await.outcome);
                assert_eq!(answer.status, PaymentStatus::Succeeded, "{}", provider.name());
            } else {
                assert_eq!(answer.status, PaymentStatus::Succeeded, "{}", provider.name());
            }
            simulator.shutdown().await;
        }
    }
}
