//! `payctl demo`: drives a small batch of payments and refunds through a running paygate system
//! and prints what happened. It is the Quick start's demonstration and CI's smoke test of the
//! money path (`scripts/up` runs it once every service is ready).
//!
//! The demo is an upstream like any other: it publishes commands to the commands exchange and
//! reads events from its own exclusive queue ([`upstream`]). Where a real customer would act
//! (scan a QR code, be declined by their bank) it uses mockpay's admin API ([`mockpay_admin`]).
//! It never reads the database. The batch, one run's orders numbered `demo-<run>-…`:
//!
//! - a `direct` pay that succeeds at once; the same `command.pay` sent again (a duplicate), which
//!   is reported again with the same `event_id` while mockpay still counts one charge; a partial
//!   refund, then a refund of the rest; and a refund of more than is left, which is rejected;
//! - a `qr` pay the customer pays after the action was shown, which the dispatcher's follow-up
//!   query finds;
//! - a `redirect` pay the customer's bank declines, which ends `failed` with the provider's code.
//!
//! - when the Alipay, WeChat Pay, Stripe or LINE Pay simulator is running as a provider
//!   (`ALIPAYSIM_URL`, `WECHATPAYSIM_URL`, `STRIPESIM_URL`, `LINEPAYSIM_URL`, set by `scripts/up`
//!   with `UP_ALIPAYSIM=1` / `UP_WECHATPAYSIM=1` / `UP_STRIPESIM=1` / `UP_LINEPAYSIM=1`), a pay
//!   through each (`qr`; `client_secret` at Stripe; `redirect` in TWD at LINE Pay, where the
//!   customer approves and the browser's redirect to notify-handler makes the dispatcher
//!   confirm) that the customer pays at the simulator, then a partial refund.
//!
//! Every step waits for its event until one deadline for the whole run; a step that does not
//! reach its expected state by then fails the demo (a non-zero exit).

pub mod mockpay_admin;
pub mod simulator_customer;
pub mod upstream;

use mockpay_admin::MockpayAdmin;
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::Topology;
use paygate::domain::MerchantId;
use paygate::messages::events::{CommandRejected, CustomerAction, OrderEvent};
use paygate::providers::adapter::trade_no;
use paygate::providers::mockpay::codes::ReturnCode;
use paygate::runtime::config::CommonConfig;
use paygate::runtime::duration_setting::{DurationSetting, PlainUnit};
use serde_json::{Value, json};
use simulator_customer::{Simulator, SimulatorCustomer};
use std::time::Duration;
use tokio::time::Instant;
use upstream::Upstream;

/// The order type of every demo order: events are routed `<kind>.demo`, so the demo's queue
/// binds only its own.
pub const ORDER_TYPE: &str = "demo";

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The base URL of the mockpay the provider-dispatcher uses; the demo plays the customer
    /// through its admin API.
    #[arg(long = "mockpay-url", env = "MOCKPAY_URL", value_name = "MOCKPAY_URL",
          default_value = "http://127.0.0.1:7070", value_parser = parse_http_url)]
    pub mockpay_url: String,

    /// The base URL of the Alipay simulator configured as the provider `alipay`, if it runs: the
    /// demo then also pays through Alipay by QR code (the customer pays at the simulator) and
    /// refunds part.
    #[arg(long = "alipaysim-url", env = "ALIPAYSIM_URL", value_name = "ALIPAYSIM_URL",
          value_parser = parse_http_url)]
    pub alipaysim_url: Option<String>,

    /// The same for the WeChat Pay simulator, configured as the provider `wechatpay`.
    #[arg(long = "wechatpaysim-url", env = "WECHATPAYSIM_URL", value_name = "WECHATPAYSIM_URL",
          value_parser = parse_http_url)]
    pub wechatpaysim_url: Option<String>,

    /// The same for the Stripe simulator, configured as the provider `stripe` (paid by card
    /// through a client secret, in USD).
    #[arg(long = "stripesim-url", env = "STRIPESIM_URL", value_name = "STRIPESIM_URL",
          value_parser = parse_http_url)]
    pub stripesim_url: Option<String>,

    /// The same for the LINE Pay simulator, configured as the provider `linepay` (paid by
    /// redirect in TWD: the customer approves, and the browser's redirect reaches notify-handler).
    #[arg(long = "linepaysim-url", env = "LINEPAYSIM_URL", value_name = "LINEPAYSIM_URL",
          value_parser = parse_http_url)]
    pub linepaysim_url: Option<String>,

    /// The merchant the demo's orders belong to.
    #[arg(long = "merchant-id", env = "DEMO_MERCHANT_ID", value_name = "DEMO_MERCHANT_ID",
          default_value = "demo-shop", value_parser = parse_merchant_id)]
    pub merchant_id: String,

    /// How long the whole batch may take; a payment or refund not in its expected state by then
    /// fails the demo.
    #[arg(long = "deadline-secs", env = "DEMO_DEADLINE_SECS", value_name = "DEMO_DEADLINE_SECS",
          default_value = "60", value_parser = parse_deadline)]
    pub deadline: Duration,
}

fn parse_http_url(s: &str) -> Result<String, String> {
    if (s.starts_with("http://") || s.starts_with("https://")) && !s.contains(char::is_whitespace) {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err("expected an http:// or https:// URL such as http://127.0.0.1:7070".to_owned())
    }
}

fn parse_merchant_id(s: &str) -> Result<String, String> {
    MerchantId::parse(s).map(|m| m.as_str().to_owned()).map_err(|e| e.rule().to_owned())
}

/// `DEMO_DEADLINE_SECS`: from a second to an hour; a plain number is seconds.
fn parse_deadline(s: &str) -> Result<Duration, String> {
    DurationSetting::within(Duration::from_secs(1), Duration::from_secs(3600))
        .or_plain(PlainUnit::Seconds)
        .parse(s)
}

/// How one line of the report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    AsExpected,
    /// Did not reach its expected state: why.
    Failed(String),
    /// Not tried, because a step it depends on failed.
    Skipped(String),
}

/// One line of the report: a payment, a refund or a check.
#[derive(Debug, Clone)]
pub struct ReportLine {
    pub name: String,
    pub what: String,
    pub amount: String,
    pub state: String,
    pub provider_txn: String,
    pub note: String,
    pub outcome: LineOutcome,
}

impl ReportLine {
    fn new(name: impl Into<String>, what: impl Into<String>, amount: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            what: what.into(),
            amount: amount.into(),
            state: "-".into(),
            provider_txn: "-".into(),
            note: String::new(),
            outcome: LineOutcome::AsExpected,
        }
    }

    fn failed(mut self, why: impl Into<String>) -> Self {
        self.outcome = LineOutcome::Failed(why.into());
        self
    }

    fn skipped(mut self, why: impl Into<String>) -> Self {
        self.outcome = LineOutcome::Skipped(why.into());
        self
    }
}

/// What the demo did, for printing and for tests.
#[derive(Debug, Clone)]
pub struct Report {
    pub run: String,
    pub payments: Vec<ReportLine>,
    pub refunds: Vec<ReportLine>,
    pub checks: Vec<ReportLine>,
    pub elapsed: Duration,
}

impl Report {
    pub fn all(&self) -> impl Iterator<Item = &ReportLine> {
        self.payments.iter().chain(&self.refunds).chain(&self.checks)
    }

    pub fn failures(&self) -> usize {
        self.all().filter(|l| l.outcome != LineOutcome::AsExpected).count()
    }
}

/// Runs the demo against the system `common` points at, printing as it goes; fails when any step
/// did not reach its expected state.
pub async fn run(common: &CommonConfig, args: &DemoArgs) -> anyhow::Result<()> {
    let topology = Topology::new(common.topology_config())?;
    let mockpay = MockpayAdmin::new(&args.mockpay_url)?;
    mockpay.check().await?;
    let mut simulators = Vec::new();
    for (simulator, url) in [
        (Simulator::Alipay, &args.alipaysim_url),
        (Simulator::Wechatpay, &args.wechatpaysim_url),
        (Simulator::Stripe, &args.stripesim_url),
        (Simulator::LinePay, &args.linepaysim_url),
    ] {
        if let Some(url) = url {
            let customer = SimulatorCustomer::new(simulator, url)?;
            customer.check().await?;
            simulators.push(customer);
        }
    }
    let upstream = Upstream::connect(&common.amqp_url, &topology, ORDER_TYPE).await?;
    let run = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..4]
    );
    println!(
        "demo run {run}: merchant {}, order type {ORDER_TYPE}, events on {}, mockpay at {}",
        args.merchant_id,
        upstream.queue(),
        args.mockpay_url
    );
    let demo = Demo {
        upstream,
        mockpay,
        simulators,
        merchant: args.merchant_id.clone(),
        prefix: format!("demo-{run}"),
        started: Instant::now(),
        deadline: Instant::now() + args.deadline,
    };
    let report = demo.play(run).await;
    demo.upstream.close().await;
    print_report(&report);
    match report.failures() {
        0 => Ok(()),
        n => anyhow::bail!(
            "{n} demo step(s) did not reach their expected state within {} s (DEMO_DEADLINE_SECS / --deadline-secs)",
            args.deadline.as_secs()
        ),
    }
}

struct Demo {
    upstream: Upstream,
    mockpay: MockpayAdmin,
    /// The real providers' simulators that run as providers, each paid through by QR code.
    simulators: Vec<SimulatorCustomer>,
    merchant: String,
    /// `demo-<run>`: every order and refund number of this run starts with it.
    prefix: String,
    started: Instant,
    deadline: Instant,
}

/// Payment states after which a payment moves no more by itself.
const SETTLED: [&str; 6] = ["succeeded", "failed", "closed", "expired", "partially_refunded", "refunded"];
/// Refund states after which a refund moves no more.
const REFUND_SETTLED: [&str; 3] = ["succeeded", "failed", "rejected"];

impl Demo {
    async fn play(&self, run: String) -> Report {
        let through_simulators =
            futures_util::future::join_all(self.simulators.iter().map(|s| self.through(s)));
        let batch = async {
            tokio::join!(
                self.direct_and_refunds(),
                self.customer_pays(),
                self.bank_declines(),
                through_simulators
            )
        };
        tokio::pin!(batch);
        let mut printed = 0;
        let mut arrivals = self.upstream.arrivals();
        let ((direct, mut refunds, checks), qr, declined, simulated) = loop {
            tokio::select! {
                done = &mut batch => break done,
                changed = arrivals.changed() => {
                    printed = self.print_new(printed);
                    if changed.is_err() {
                        break batch.await;
                    }
                }
            }
        };
        self.print_new(printed);
        let mut payments = vec![direct, qr, declined];
        for (payment, refund) in simulated {
            payments.push(payment);
            refunds.push(refund);
        }
        Report { run, payments, refunds, checks, elapsed: self.started.elapsed() }
    }

    fn order_no(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    fn pay_payload(&self, order_no: &str, amount: &str, method: &str) -> Value {
        self.pay_payload_at("mockpay", order_no, amount, method)
    }

    fn pay_payload_at(&self, provider: &str, order_no: &str, amount: &str, method: &str) -> Value {
        self.pay_payload_in(provider, order_no, amount, "CNY", method)
    }

    fn pay_payload_in(
        &self,
        provider: &str,
        order_no: &str,
        amount: &str,
        currency: &str,
        method: &str,
    ) -> Value {
        json!({
            "merchant_id": self.merchant, "merchant_order_no": order_no, "amount": amount,
            "currency": currency, "provider": provider, "pay_method": method, "order_type": ORDER_TYPE,
            "subject": format!("paygate demo: {method} pay")
        })
    }

    /// A pay through a real provider's simulator (`qr`; `client_secret` at Stripe; `redirect` at
    /// LINE Pay): shown, paid by the customer at the simulator, found by paygate (its
    /// notification, the customer's return, or the follow-up query), then refunded in part.
    async fn through(&self, simulator: &SimulatorCustomer) -> (ReportLine, ReportLine) {
        let provider = simulator.simulator.provider();
        let (method, currency) = (simulator.simulator.pay_method(), simulator.simulator.currency());
        let order_no = self.order_no(provider);
        let refund_no = self.order_no(&format!("{provider}-refund"));
        let (amount, refunded) = simulator.simulator.amounts();
        let mut line =
            ReportLine::new(&order_no, format!("{method} at {provider}"), format!("{amount} {currency}"));
        let refund =
            ReportLine::new(&refund_no, format!("refund of {order_no}"), format!("{refunded} {currency}"));
        let payload = self.pay_payload_in(provider, &order_no, amount, currency, method);
        if let Err(why) = self.command("command.pay", &order_no, "pay", payload).await {
            return (line.failed(why), refund.skipped("the payment was not sent"));
        }
        let what = format!("{order_no} to ask for the customer's action");
        let waiting = self
            .event(&order_no, &what, |e| {
                e.kind == "payment.action_required" || SETTLED.contains(&e.state.as_str())
            })
            .await;
        let waiting = match waiting {
            Ok(e) if e.kind == "payment.action_required" => e,
            Ok(e) => {
                let why = format!("{order_no} ended {} before the customer acted{}", e.state, because(&e));
                return (line.failed(why), refund.skipped("the payment did not succeed"));
            }
            Err(why) => return (line.failed(why), refund.skipped("the payment did not succeed")),
        };
        let shown = waiting.action.as_ref().map_or_else(|| "no action".to_owned(), describe_action);
        let also = match simulator.pays(&trade_no(waiting.payment_id)).await {
            Ok(also) => also.map(|a| format!("; {a}")).unwrap_or_default(),
            Err(e) => return (line.failed(format!("{e:#}")), refund.skipped("the customer could not pay")),
        };
        let paid = match self.settled(&order_no, "succeeded").await {
            Ok(event) => event,
            Err(why) => return (line.failed(why), refund.skipped("the payment did not succeed")),
        };
        line.state = paid.state.clone();
        line.provider_txn = paid.provider_txn_id.clone().unwrap_or_default();
        line.note = format!("customer shown {shown}; paid at the {provider} simulator{also}");
        let refund =
            self.refund(&order_no, &refund_no, refunded, currency, "partially_refunded", &paid, refund).await;
        if refund.outcome == LineOutcome::AsExpected {
            line.state = "partially_refunded".into();
        }
        (line, refund)
    }

    /// Publishes a command about `order_no`; the correlation id is `<order_no>:<tag>`.
    async fn command(
        &self,
        message_type: &str,
        order_no: &str,
        tag: &str,
        payload: Value,
    ) -> Result<Envelope<Value>, String> {
        let envelope = Envelope::new(message_type, format!("{}:{order_no}", self.merchant), payload)
            .with_correlation_id(format!("{order_no}:{tag}"));
        self.upstream.send(&envelope).await.map_err(|e| format!("publishing {message_type}: {e:#}"))?;
        Ok(envelope)
    }

    /// The first order event about `order_no` that `pick` accepts.
    async fn event(
        &self,
        order_no: &str,
        what: &str,
        pick: impl Fn(&OrderEvent) -> bool,
    ) -> Result<OrderEvent, String> {
        let merchant = self.merchant.as_str();
        let found = self
            .upstream
            .wait_for(what, self.deadline, |envelope| {
                order_event(envelope)
                    .filter(|e| e.merchant_id == merchant && e.merchant_order_no == order_no && pick(e))
            })
            .await;
        found.map_err(|e| match self.last_seen(order_no) {
            Some(last) => format!("{e} (last seen: {last})"),
            None => format!("{e} (no event about {order_no} at all)"),
        })
    }

    fn last_seen(&self, order_no: &str) -> Option<String> {
        self.upstream
            .received_since(0)
            .iter()
            .filter_map(order_event)
            .rfind(|e| e.merchant_order_no == order_no)
            .map(|e| e.kind)
    }

    /// Waits for `order_no` to settle and checks it settled in `expected`.
    async fn settled(&self, order_no: &str, expected: &str) -> Result<OrderEvent, String> {
        let what = format!("{order_no} to become {expected}");
        let event = self
            .event(order_no, &what, |e| e.kind.starts_with("payment.") && SETTLED.contains(&e.state.as_str()))
            .await?;
        if event.state == expected {
            Ok(event)
        } else {
            Err(format!("{order_no} ended {} instead of {expected}{}", event.state, because(&event)))
        }
    }

    /// `direct` pay, its duplicate, a partial and a full refund, and a refund too many.
    async fn direct_and_refunds(&self) -> (ReportLine, Vec<ReportLine>, Vec<ReportLine>) {
        let order_no = self.order_no("direct");
        let mut line = ReportLine::new(&order_no, "direct", "12.34 CNY");
        let r1 = self.order_no("refund-1");
        let r2 = self.order_no("refund-2");
        let r3 = self.order_no("refund-3");
        let refund_lines = || {
            vec![
                ReportLine::new(&r1, format!("refund of {order_no}"), "5.00 CNY"),
                ReportLine::new(&r2, format!("refund of {order_no}"), "7.34 CNY"),
            ]
        };
        let payload = self.pay_payload(&order_no, "12.34", "direct");
        let paid = match self.command("command.pay", &order_no, "pay", payload.clone()).await {
            Ok(_) => self.settled(&order_no, "succeeded").await,
            Err(e) => Err(e),
        };
        let paid = match paid {
            Ok(event) => event,
            Err(why) => {
                let skip = "the payment did not succeed";
                let checks = vec![ReportLine::new("duplicate command.pay", "idempotency", "-").skipped(skip)];
                return (
                    line.failed(why),
                    refund_lines().into_iter().map(|l| l.skipped(skip)).collect(),
                    checks,
                );
            }
        };
        line.state = paid.state.clone();
        line.provider_txn = paid.provider_txn_id.clone().unwrap_or_default();
        line.note = "charged at once (POS one-time key), then refunded in two steps".into();

        let mut checks = vec![self.duplicate(&order_no, payload, &paid).await];

        let mut refunds = Vec::new();
        let mut blocked: Option<String> = None;
        for (refund_no, amount, expected_payment) in
            [(&r1, "5.00", "partially_refunded"), (&r2, "7.34", "refunded")]
        {
            let refund = ReportLine::new(refund_no, format!("refund of {order_no}"), format!("{amount} CNY"));
            let refund = match &blocked {
                Some(why) => refund.skipped(why.clone()),
                None => {
                    self.refund(&order_no, refund_no, amount, "CNY", expected_payment, &paid, refund).await
                }
            };
            if refund.outcome == LineOutcome::AsExpected {
                line.state = expected_payment.to_owned();
            } else if blocked.is_none() {
                blocked = Some(format!("{refund_no} did not succeed"));
            }
            refunds.push(refund);
        }
        let over = ReportLine::new("refund beyond the remainder", "rejection", "0.01 CNY");
        checks.push(match blocked {
            Some(why) => over.skipped(why),
            None => self.refund_too_many(&order_no, &r3, over).await,
        });
        (line, refunds, checks)
    }

    /// The same `command.pay` again (a new message, the same order): paygate reports the order's
    /// state again with the same event id, and mockpay still counts one charge.
    async fn duplicate(&self, order_no: &str, payload: Value, paid: &OrderEvent) -> ReportLine {
        let mut line = ReportLine::new("duplicate command.pay", format!("{order_no} again"), "12.34 CNY");
        let envelope = Envelope::new("command.pay", format!("{}:{order_no}", self.merchant), payload)
            .with_correlation_id(format!("{order_no}:duplicate"))
            .with_reply_to(self.upstream.queue());
        if let Err(e) = self.upstream.send(&envelope).await {
            return line.failed(format!("publishing the duplicate: {e:#}"));
        }
        let correlation = format!("{order_no}:duplicate");
        let answer = self
            .upstream
            .wait_for("the answer to the duplicate command.pay", self.deadline, |e| {
                (e.correlation_id.as_deref() == Some(correlation.as_str()))
                    .then(|| order_event(e))
                    .flatten()
                    .filter(|e| e.kind.starts_with("payment."))
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(why) => return line.failed(why),
        };
        line.state = answer.state.clone();
        line.provider_txn = answer.provider_txn_id.clone().unwrap_or_default();
        if answer.event_id != paid.event_id {
            return line
                .failed(format!("reported with event_id {} instead of {}", answer.event_id, paid.event_id));
        }
        match self.mockpay.truth(&trade_no(paid.payment_id)).await {
            Ok(truth) if truth["charges"] == 1 => {
                line.note = format!(
                    "reported again as {} with the same event_id {} (on the events exchange and, as reply_to asked, on the demo's queue); mockpay charged once",
                    answer.kind, answer.event_id
                );
                line
            }
            Ok(truth) => line.failed(format!("mockpay counts {} charges for one order", truth["charges"])),
            Err(e) => line.failed(format!("{e:#}")),
        }
    }

    /// A refund of `amount` (in `currency`) that should succeed and leave the payment
    /// `expected_payment`.
    #[allow(clippy::too_many_arguments)]
    async fn refund(
        &self,
        order_no: &str,
        refund_no: &str,
        amount: &str,
        currency: &str,
        expected_payment: &str,
        paid: &OrderEvent,
        mut line: ReportLine,
    ) -> ReportLine {
        let payload = json!({
            "merchant_id": self.merchant, "refund_no": refund_no, "merchant_order_no": order_no,
            "amount": amount, "currency": currency, "reason": "paygate demo", "requested_by": "demo"
        });
        if let Err(why) = self.command("command.refund", order_no, refund_no, payload).await {
            return line.failed(why);
        }
        let what = format!("{refund_no} to succeed");
        let settled = self
            .event(order_no, &what, |e| {
                e.refund
                    .as_ref()
                    .is_some_and(|r| r.refund_no == refund_no && REFUND_SETTLED.contains(&r.state.as_str()))
            })
            .await;
        let event = match settled {
            Ok(event) => event,
            Err(why) => return line.failed(why),
        };
        let refund = event.refund.clone().expect("picked for its refund");
        line.state = refund.state.clone();
        line.note = format!("payment {}", event.state);
        if let Ok(truth) = self.mockpay.truth(&trade_no(paid.payment_id)).await {
            let ours = trade_no(refund.refund_id);
            if let Some(txn) =
                truth["refunds"].as_array().into_iter().flatten().find(|r| r["refundId"] == ours.as_str())
            {
                line.provider_txn = txn["refundTransactionId"].as_str().unwrap_or("-").to_owned();
            }
        }
        if refund.state != "succeeded" {
            return line.failed(format!("{refund_no} ended {}{}", refund.state, because(&event)));
        }
        if event.state != expected_payment {
            return line.failed(format!(
                "the payment is {} after {refund_no}, expected {expected_payment}",
                event.state
            ));
        }
        line
    }

    /// A refund of more than is left: rejected with the field and the rule.
    async fn refund_too_many(&self, order_no: &str, refund_no: &str, mut line: ReportLine) -> ReportLine {
        let payload = json!({
            "merchant_id": self.merchant, "refund_no": refund_no, "merchant_order_no": order_no,
            "amount": "0.01", "currency": "CNY", "requested_by": "demo"
        });
        let sent = match self.command("command.refund", order_no, refund_no, payload).await {
            Ok(sent) => sent,
            Err(why) => return line.failed(why),
        };
        let rejected = self
            .upstream
            .wait_for("the rejection of a refund beyond the remainder", self.deadline, |e| {
                (e.message_type == "command.rejected")
                    .then(|| serde_json::from_value::<CommandRejected>(e.payload.clone()).ok())
                    .flatten()
                    .filter(|r| r.command_message_id == Some(sent.message_id))
            })
            .await;
        match rejected {
            Ok(r) => {
                line.state = "rejected".into();
                line.note = format!("command.rejected: {}", r.message);
                line
            }
            Err(why) => line.failed(why),
        }
    }

    /// A `qr` pay: the action is shown, the customer pays at mockpay, and the dispatcher's
    /// follow-up query finds it paid.
    async fn customer_pays(&self) -> ReportLine {
        let order_no = self.order_no("qr");
        let line = ReportLine::new(&order_no, "qr", "8.00 CNY");
        self.with_customer(order_no, "8.00", "qr", line, "succeeded", |admin, trade_no| async move {
            admin.pay(&trade_no).await
        })
        .await
    }

    /// A `redirect` pay the customer's bank declines (mockpay `1101`): it ends `failed`.
    async fn bank_declines(&self) -> ReportLine {
        let order_no = self.order_no("declined");
        let line = ReportLine::new(&order_no, "redirect", "5.00 CNY");
        self.with_customer(order_no, "5.00", "redirect", line, "failed", |admin, trade_no| async move {
            admin.decline(&trade_no, ReturnCode::InsufficientFunds).await
        })
        .await
    }

    /// Pays with a method that needs the customer, waits for the action, lets `customer` act at
    /// mockpay, and waits for the payment to settle in `expected`.
    async fn with_customer<'a, F, Fut>(
        &'a self,
        order_no: String,
        amount: &str,
        method: &str,
        mut line: ReportLine,
        expected: &str,
        customer: F,
    ) -> ReportLine
    where
        F: FnOnce(&'a MockpayAdmin, String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        if let Err(why) =
            self.command("command.pay", &order_no, "pay", self.pay_payload(&order_no, amount, method)).await
        {
            return line.failed(why);
        }
        let what = format!("{order_no} to ask for the customer's action");
        let waiting = self
            .event(&order_no, &what, |e| {
                e.kind == "payment.action_required" || SETTLED.contains(&e.state.as_str())
            })
            .await;
        let waiting = match waiting {
            Ok(e) if e.kind == "payment.action_required" => e,
            Ok(e) => {
                return line.failed(format!(
                    "{order_no} ended {} before the customer acted{}",
                    e.state,
                    because(&e)
                ));
            }
            Err(why) => return line.failed(why),
        };
        let shown = waiting.action.as_ref().map_or_else(|| "no action".to_owned(), describe_action);
        if let Err(e) = customer(&self.mockpay, trade_no(waiting.payment_id)).await {
            return line.failed(format!("{e:#}"));
        }
        match self.settled(&order_no, expected).await {
            Ok(event) => {
                line.state = event.state.clone();
                line.provider_txn = event.provider_txn_id.clone().unwrap_or_default();
                let declined = if event.state == "failed" {
                    let truth = self.mockpay.truth(&trade_no(event.payment_id)).await.unwrap_or_default();
                    format!(
                        "; mockpay declined it ({})",
                        truth["declineCode"].as_str().unwrap_or("no declineCode")
                    )
                } else {
                    String::new()
                };
                line.note =
                    format!("customer shown {shown}{declined}; a follow-up query found it {}", event.state);
                line
            }
            Err(why) => line.failed(why),
        }
    }

    /// Prints the events of this run received from index `from` on; returns the new index.
    fn print_new(&self, from: usize) -> usize {
        let received = self.upstream.received_since(from);
        for envelope in &received {
            let at = self.started.elapsed().as_secs_f32();
            if let Some(e) = order_event(envelope).filter(|e| e.merchant_order_no.starts_with(&self.prefix)) {
                let mut line =
                    format!("  {at:>5.1}s  {:<26} {:<34} {}", e.kind, e.merchant_order_no, e.amount);
                if let Some(r) = &e.refund {
                    line.push_str(&format!("  {} {} → payment {}", r.refund_no, r.amount, e.state));
                }
                if let Some(action) = &e.action {
                    line.push_str(&format!("  action: {}", describe_action(action)));
                }
                if let Some(id) = &e.provider_txn_id {
                    line.push_str(&format!("  txn {id}"));
                }
                if let Some(c) = envelope.correlation_id.as_deref().filter(|c| c.ends_with(":duplicate")) {
                    line.push_str(&format!("  (answer to {c})"));
                }
                println!("{line}");
            } else if let Ok(r) = serde_json::from_value::<CommandRejected>(envelope.payload.clone())
                && (r.merchant_order_no.as_deref().is_some_and(|o| o.starts_with(&self.prefix))
                    || envelope.order_key.contains(&self.prefix))
            {
                println!("  {at:>5.1}s  {:<26} {}", "command.rejected", r.message);
            }
        }
        from + received.len()
    }
}

/// The order event an envelope carries, if it is one.
fn order_event(envelope: &Envelope<Value>) -> Option<OrderEvent> {
    let kind = envelope.message_type.as_str();
    (kind.starts_with("payment.") || kind.starts_with("refund."))
        .then(|| serde_json::from_value(envelope.payload.clone()).ok())
        .flatten()
}

fn because(event: &OrderEvent) -> String {
    event.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
}

fn describe_action(action: &CustomerAction) -> String {
    match action {
        CustomerAction::Redirect { url, .. } => format!("GET {url}"),
        CustomerAction::Form { url, .. } => format!("POST form to {url}"),
        CustomerAction::QrCode { qr_code } => format!("QR {qr_code}"),
        CustomerAction::ClientSecret { .. } => "a client secret".to_owned(),
    }
}

fn print_report(report: &Report) {
    let row = |l: &ReportLine| {
        let (mark, why) = match &l.outcome {
            LineOutcome::AsExpected => ("ok", None),
            LineOutcome::Failed(why) => ("FAIL", Some(why)),
            LineOutcome::Skipped(why) => ("SKIP", Some(why)),
        };
        println!(
            "  {mark:<4}{:<34} {:<28} {:>10}  {:<18} {:<20} {}",
            l.name, l.what, l.amount, l.state, l.provider_txn, l.note
        );
        if let Some(why) = why {
            println!("        {why}");
        }
    };
    println!("\npayments");
    println!("      {:<34} {:<28} {:>10}  {:<18} provider txn", "order no", "method", "amount", "state");
    report.payments.iter().for_each(row);
    println!("refunds");
    report.refunds.iter().for_each(row);
    println!("checks");
    report.checks.iter().for_each(row);
    let total = report.all().count();
    println!(
        "\ndemo run {}: {} of {total} as expected in {:.1} s{}",
        report.run,
        total - report.failures(),
        report.elapsed.as_secs_f32(),
        if report.failures() == 0 { "" } else { " — see the FAIL lines above" }
    );
}
