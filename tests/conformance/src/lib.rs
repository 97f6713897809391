//! One conformance suite for every provider (issue 14, "One conformance suite for every
//! provider"): the scenarios in [`scenarios`] are written once against the [`Provider`] trait and
//! run, at the adapter level (`paygate::providers::ProviderAdapter`), against each provider's
//! simulator started in process: mockpay ([`mockpay`]), alipaysim ([`alipay`]), wechatpaysim
//! ([`wechatpay`]) and stripesim ([`stripe`]). `tests/suite.rs` generates one test per scenario and provider.
//!
//! The scenarios in [`journeys`] go through the services instead: each provider's simulator is
//! an account of a whole paygate system ([`harness`]: ingest, the dispatcher, notify-handler, the
//! scheduler, on a fresh database and vhost), driven by commands over AMQP
//! (`tests/journeys.rs`, one test per journey and provider).
//!
//! A provider that cannot do a scenario says so in its [`Provider::capabilities`]; the suite
//! marks that case ignored with the reason ("not applicable: …"), and checks that its list of
//! such cases is exactly what the capabilities say.
//!
//! Nothing here sleeps to synchronise: [`eventually`] polls with a deadline.

pub mod alipay;
pub mod harness;
pub mod journeys;
pub mod linepay;
pub mod mockpay;
mod receiver;
pub mod scenarios;
pub mod stripe;
pub mod wechatpay;

use axum::http::HeaderMap;
use chrono::NaiveDate;
use paygate::domain::{Currency, Money};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::{CallOutcome, PayRequest, ProviderAdapter};
use paygate_e2e::system::ProviderAccount;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use receiver::Receiver;

/// What a provider (its adapter and its simulator together) can be asked to do. A scenario
/// that needs a capability the provider lacks is not applicable to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// The provider takes payments by this method.
    Pay(PayMethod),
    /// The simulator delivers signed notifications the suite can capture as genuine ones.
    GenuineNotification,
    /// The adapter downloads the day's trade bill (`ProviderAdapter::bill`).
    BillDownload,
    /// The adapter downloads the day's settlement, with fees and totals
    /// (`ProviderAdapter::settlement`).
    SettlementDownload,
    /// The trade bill states each line's status, so a line can say a payment did not succeed
    /// (Alipay's lists completed transactions only: it has no status column).
    BillLineStatus,
    /// A pay may only authorise the payment (`capture: manual`), captured (all or part) or
    /// voided later, and the provider releases an authorisation left uncaptured past its expiry.
    ManualCapture,
}

/// A refund in the provider's books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookState {
    Processing,
    Succeeded,
    Failed,
}

/// One refund as the provider's books hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRefund {
    /// Our refund number; at a provider that keeps none (LINE Pay), its own refund id.
    pub refund_no: String,
    pub amount: i64,
    pub state: BookState,
}

/// What the provider's books hold for one order (read through the simulator's admin side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Books {
    /// How many times money was taken for the order.
    pub charges: u32,
    /// The order's amount, minor units.
    pub amount: i64,
    /// What a capture took of an authorised order (manual capture), once captured; `None` for
    /// an order captured when paid, or not captured yet.
    pub captured: Option<i64>,
    pub refunds: Vec<BookRefund>,
}

impl Books {
    /// The refunded or being-refunded amount: every refund that did not fail holds its amount.
    pub fn refunds_held(&self) -> i64 {
        self.refunds.iter().filter(|r| r.state != BookState::Failed).map(|r| r.amount).sum()
    }

    pub fn refund(&self, refund_no: &str) -> Option<&BookRefund> {
        self.refunds.iter().find(|r| r.refund_no == refund_no)
    }

    /// The refund, by our refund number or, at a provider that keeps none of ours (LINE Pay's
    /// books know a refund by its `refundTransactionId`), by the refund id its answer gave.
    pub fn refund_of(&self, refund: &paygate::providers::adapter::RefundRef) -> Option<&BookRefund> {
        self.refund(&refund.refund_trade_no)
            .or_else(|| refund.provider_refund_id.as_deref().and_then(|id| self.refund(id)))
    }
}

/// A notification as it arrived over HTTP.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One provider: its simulator running in process, an adapter pointed at it, and the admin side
/// the scenarios need. Each test starts its own.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + Sized + 'static {
    /// The provider's name (`mockpay`, `alipay`, `wechatpay`).
    const NAME: &'static str;

    /// Starts the simulator (and a notification receiver) and builds the adapter.
    async fn start() -> anyhow::Result<Self>;

    /// Stops the simulator.
    async fn stop(self);

    fn adapter(&self) -> Arc<dyn ProviderAdapter>;

    /// What the provider can do; a scenario needing anything else is not applicable to it.
    const CAPABILITIES: &'static [Capability];

    fn can(&self, c: Capability) -> bool {
        Self::CAPABILITIES.contains(&c)
    }

    fn currency(&self) -> Currency;

    fn money(&self, minor: i64) -> Money {
        Money::from_minor(minor, self.currency()).expect("an amount the currency takes")
    }

    /// The method the provider takes money by in the scenarios that need a paid payment:
    /// charged at once (`direct`, `barcode`) or after the customer pays (`qr`).
    fn charging_method(&self) -> PayMethod;

    /// A pay request for `method`, with what the provider needs for it (payment code, payer).
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
            auth_code: None,
            payer: Default::default(),
        }
    }

    /// A method by which a payment waits for its customer after the pay call (the journeys'
    /// expiry and waiting scenarios): a QR code unless the provider has none.
    fn waiting_method(&self) -> PayMethod {
        PayMethod::Qr
    }

    /// Whether a declined attempt leaves the payment open for another one (Stripe: the
    /// PaymentIntent goes back to `requires_payment_method`, and the customer may try another
    /// card), so that the query finds it waiting for the customer, with the decline's definitive
    /// code, instead of failed.
    const DECLINE_LEAVES_PAYMENT_OPEN: bool = false;

    /// Points the simulator's notifications at notify-handler's `base_url`, for a provider whose
    /// notification URL is set at the provider (Stripe's webhook endpoint) rather than sent with
    /// each request. Called by the journeys' harness once the system runs.
    async fn notifications_to(&self, _base_url: &str) -> anyhow::Result<()> {
        Ok(())
    }

    /// The customer opens the payment without paying (scans the QR code, opens the cashier):
    /// what makes the trade exist where the provider creates it only then.
    async fn customer_opens(&self, trade_no: &str, action: Option<&CustomerAction>) -> anyhow::Result<()>;

    /// The customer pays a payment waiting for them.
    async fn customer_pays(&self, trade_no: &str, action: Option<&CustomerAction>) -> anyhow::Result<()>;

    /// Scripts `fault` for the next call of `operation` on the order.
    async fn script(&self, trade_no: &str, operation: Operation, fault: Fault) -> anyhow::Result<()>;

    /// The order in the provider's books, or `None` if the provider has no such order.
    async fn books(&self, trade_no: &str) -> anyhow::Result<Option<Books>>;

    /// Plants a discrepancy in the provider's bills.
    async fn plant_bill_fault(&self, fault: BillFault) -> anyhow::Result<()>;

    /// The day whose bill holds what happened today (the provider's own day).
    fn bill_day(&self) -> NaiveDate;

    /// The notifications the simulator delivered so far, oldest first.
    fn delivered(&self) -> Vec<Delivered>;

    /// A copy of a genuine notification with a signature made with a key that is not the
    /// provider's (the right format, the wrong signer).
    fn forge(&self, genuine: &Delivered) -> Delivered;

    /// The account every paygate service is configured with to reach this simulator (the
    /// scenarios through the services, [`journeys`]): `KIND`, the URL, the keys and the timeout.
    fn account(&self) -> ProviderAccount;

    /// Sets the simulator's fault rates for every request from now on (replacing the old ones).
    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()>;

    /// From now on the provider releases an authorisation (manual capture) left uncaptured for
    /// `after` itself, as it would at its real expiry (Stripe: 7 days). Only for providers with
    /// [`Capability::ManualCapture`].
    async fn authorizations_expire_after(&self, after: Duration) -> anyhow::Result<()> {
        let _ = after;
        anyhow::bail!("{} has no manual capture", Self::NAME)
    }

    /// From now on every barcode payment waits for the customer to confirm on the phone ("in
    /// process") until [`Provider::customer_pays`]. Only for providers with a barcode flow.
    async fn barcode_waits_for_the_customer(&self) -> anyhow::Result<()> {
        anyhow::bail!("{} has no barcode flow", Self::NAME)
    }
}

/// The settings every provider's account shares in the scenarios through the services: the
/// adapter's timeout, and a not-found believed after two seconds (short, as the ladder is).
pub fn common_settings(kind: &str) -> Vec<(String, String)> {
    vec![
        ("KIND".into(), kind.into()),
        ("TIMEOUT".into(), format!("{}ms", ADAPTER_TIMEOUT.as_millis())),
        ("NOT_FOUND_FINAL_AFTER".into(), "2s".into()),
    ]
}

/// One test per scenario of a scenario module (`scenarios` or `journeys`: its functions, `ALL`
/// and `capability_of`) for one provider (`<provider>::<scenario>`): those it runs; those not
/// applicable to it, ignored with the reason ("not applicable: …"); those held back by a known
/// defect, ignored with the defect; and `<provider>::matrix_is_complete_and_honest`, which checks
/// the lists against the scenarios and the provider's capabilities ([`check_matrix`]).
#[macro_export]
macro_rules! provider_tests {
    (
        $scenarios:ident;
        $module:ident: $provider:ty,
        run: [$($run:ident),* $(,)?],
        not_applicable: [$($na:ident = $why:literal),* $(,)?],
        defects: [$($bad:ident = $defect:literal),* $(,)?] $(,)?
    ) => {
        mod $module {
            use $crate::$scenarios as scenarios;
            use $crate::Provider;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $run() {
                    let p = <$provider>::start().await.expect("start the provider");
                    scenarios::$run(&p).await;
                    p.stop().await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = $why]
                async fn $na() {
                    let p = <$provider>::start().await.expect("start the provider");
                    scenarios::$na(&p).await;
                    p.stop().await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = $defect]
                async fn $bad() {
                    let p = <$provider>::start().await.expect("start the provider");
                    scenarios::$bad(&p).await;
                    p.stop().await;
                }
            )*

            #[test]
            fn matrix_is_complete_and_honest() {
                $crate::check_matrix(
                    <$provider>::NAME,
                    <$provider as Provider>::CAPABILITIES,
                    scenarios::ALL,
                    scenarios::capability_of,
                    &[$(stringify!($run),)* $(stringify!($bad)),*],
                    &[$(stringify!($na)),*],
                );
            }
        }
    };
}

/// Checks one provider's list of scenarios (issue 14's "a new provider is done when it passes
/// the suite"): every scenario of `all` is listed exactly once, as run or as not applicable; a
/// run one needs nothing the provider lacks; a not-applicable one needs exactly what it lacks.
pub fn check_matrix(
    provider: &str,
    caps: &[Capability],
    all: &[&str],
    capability_of: fn(&str) -> Option<Capability>,
    run: &[&str],
    not_applicable: &[&str],
) {
    for s in all {
        let listed = run.iter().chain(not_applicable).filter(|n| *n == s).count();
        assert_eq!(listed, 1, "{s} must be listed exactly once for {provider}");
    }
    for s in run {
        assert!(all.contains(s), "{s} is not a scenario");
        if let Some(c) = capability_of(s) {
            assert!(caps.contains(&c), "{s} runs for {provider}, which lacks {c:?}");
        }
    }
    for s in not_applicable {
        let c = capability_of(s);
        assert!(
            c.is_some_and(|c| !caps.contains(&c)),
            "{s} is marked not applicable to {provider}, but its capabilities have {c:?}"
        );
    }
}

/// How long a simulated answer may take before the adapter gives up: short enough for the
/// timeout scenarios, long enough for a debug build's RSA on a loaded machine.
pub const ADAPTER_TIMEOUT: Duration = Duration::from_millis(2_500);
/// How long the simulators hold a timed-out or lost answer: past [`ADAPTER_TIMEOUT`].
pub const HOLD: Duration = Duration::from_millis(6_000);
/// How long a scenario waits for something asynchronous (a refund, a notification).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A fresh trade number (32 hex digits, inside every provider's limits).
pub fn trade_no() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Polls `f` until it gives `Some`, at most until `deadline`; panics naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < end, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The facts of an answer, or a panic naming what came instead.
pub fn answer<T: std::fmt::Debug>(what: &str, outcome: CallOutcome<T>) -> T {
    match outcome {
        CallOutcome::Answer { facts, .. } => facts,
        other => panic!("{what}: expected an answer, got {other:?}"),
    }
}
