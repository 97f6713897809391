//! One whole paygate system for one test: mockpay (in-process), a fresh database, a fresh vhost,
//! ingest, one or more provider-dispatchers, optionally compensation-schedulers, and an [`Upstream`]. The services run in-process
//! (fast, for lifecycle tests) or as real processes (for crash and fail-over tests, which kill
//! them with SIGKILL).

use crate::upstream::Upstream;
use mockpay::{Config as MockpayConfig, MockPay, MockPayHandle, Settings};
use paygate::messages::events::OrderEvent;
use paygate::runtime::entrypoint::Service;
use paygate::store::StoredRow;
use paygate::store::history::{self, HistoryRow};
use paygate::store::payments::Payment;
use paygate_test_support::{ServiceProcess, TcpProxy, TestDb, TestVhost, workspace_binary};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Our merchant at mockpay in tests.
pub const MOCKPAY_MERCHANT: &str = "paygate";
pub const MOCKPAY_SECRET: &str = "e2e-signing-secret";
/// The secret ingest signs cashier URLs with in tests.
pub const CASHIER_SECRET: &str = "e2e-cashier-secret-of-32-bytes-or-more";
/// The prefix of every exchange and queue in a test's vhost.
pub const PREFIX: &str = "paygate";

#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// How many provider-dispatcher instances to run.
    pub dispatchers: usize,
    /// Run the services as real processes instead of in-process tasks.
    pub processes: bool,
    pub order_shards: u16,
    /// How long one call to mockpay may take before its outcome is unknown.
    pub provider_timeout_ms: u64,
    pub mockpay: Settings,
    /// The retry ladder (`RETRY_TIERS`): short in tests, so follow-up queries come soon.
    pub retry_tiers: String,
    /// Extra environment for dispatcher processes (e.g. `FAILPOINTS`).
    pub dispatcher_env: Vec<(String, String)>,
    /// Extra environment for every service process (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`); the
    /// dispatchers' own [`SystemOptions::dispatcher_env`] comes after it.
    pub service_env: Vec<(String, String)>,
    /// How many compensation-scheduler instances to run (none by default).
    pub schedulers: usize,
    /// The schedulers' `STUCK_SCHEDULE`: short in tests.
    pub stuck_schedule: String,
    /// Extra settings for schedulers (e.g. `UNDECIDED_NOTIFICATION_AGE`), replacing a default of
    /// the same name.
    pub scheduler_config: Vec<(String, String)>,
    /// Run a notify-handler too, and tell the dispatchers its address (`NOTIFY_BASE_URL`), so
    /// that mockpay notifies it.
    pub notify_handler: bool,
    /// notify-handler reaches PostgreSQL and RabbitMQ through cuttable proxies
    /// ([`System::notify_db_proxy`], [`System::notify_broker_proxy`]).
    pub notify_handler_proxied: bool,
    /// Extra environment for dispatchers (e.g. `PAYGATE_PROVIDER_MOCKPAY_NOTIFICATION_POLICY`), in-process too.
    pub dispatcher_config: Vec<(String, String)>,
    /// A second provider, [`SECOND_PROVIDER`]: a mockpay of its own with these faults, configured
    /// as a second account of kind mockpay ([`System::second`]).
    pub second_provider: Option<mockpay::FaultSettings>,
    /// Run on these RabbitMQ nodes (a private cluster's) instead of the machine's broker: the
    /// services get every node in `AMQP_URL`; the upstream and the test's topology use one.
    pub broker: Option<ClusterBroker>,
    /// More provider accounts, beside mockpay (e.g. a simulator under test in the conformance
    /// suite): each is added to `PROVIDERS` with its own settings.
    pub accounts: Vec<ProviderAccount>,
}

/// A provider account every service is configured with ([`SystemOptions::accounts`]).
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// Its name in `PROVIDERS` (and in pay commands' `provider`).
    pub name: String,
    /// Its settings without the prefix: `("KIND", "alipay")` becomes
    /// `PAYGATE_PROVIDER_<NAME>_KIND=alipay`.
    pub settings: Vec<(String, String)>,
}

impl ProviderAccount {
    /// Its settings as every service reads them, `PAYGATE_PROVIDER_<NAME>_…`.
    pub fn env(&self) -> Vec<(String, String)> {
        let upper = self.name.to_ascii_uppercase();
        self.settings.iter().map(|(k, v)| (format!("PAYGATE_PROVIDER_{upper}_{k}"), v.clone())).collect()
    }
}

/// The nodes of a RabbitMQ cluster a system runs on ([`SystemOptions::broker`]).
#[derive(Debug, Clone)]
pub struct ClusterBroker {
    /// Each node's `amqp://user:pass@host:port` (no vhost).
    pub amqp_bases: Vec<String>,
    /// A node's management URL with credentials (where the test's vhost is created).
    pub management: String,
    /// The node the upstream (the test's publisher and event reader) connects to.
    pub upstream_node: usize,
}

/// The second provider's name, when [`SystemOptions::second_provider`] asks for one.
pub const SECOND_PROVIDER: &str = "mockpay_b";

impl Default for SystemOptions {
    fn default() -> Self {
        Self {
            dispatchers: 1,
            processes: false,
            order_shards: 2,
            provider_timeout_ms: 1_000,
            mockpay: Settings { refund_delay_ms: 50, timeout_hold_ms: 5_000, ..Settings::default() },
            retry_tiers: "1s,2s,3s,5s".into(),
            dispatcher_env: Vec::new(),
            service_env: Vec::new(),
            schedulers: 0,
            stuck_schedule: "1s,2s".into(),
            scheduler_config: Vec::new(),
            notify_handler: false,
            notify_handler_proxied: false,
            dispatcher_config: Vec::new(),
            second_provider: None,
            broker: None,
            accounts: Vec::new(),
        }
    }
}

enum Running {
    Task { name: &'static str, stop: CancellationToken, handle: JoinHandle<anyhow::Result<()>>, http: String },
    Process(ServiceProcess, String),
}

pub struct System {
    pub upstream: Upstream,
    pub mockpay: MockPayHandle,
    /// The second provider's mockpay ([`SystemOptions::second_provider`]).
    pub second: Option<MockPayHandle>,
    pub vhost: TestVhost,
    pub db: TestDb,
    pub options: SystemOptions,
    ingest: Option<Running>,
    dispatchers: Vec<Running>,
    schedulers: Vec<Running>,
    notify: Option<Running>,
    /// notify-handler's way to PostgreSQL, when `notify_handler_proxied`.
    pub notify_db_proxy: Option<TcpProxy>,
    /// The base URL of ingest's upstream HTTP API, when ingest runs in-process.
    ingest_api: std::sync::Mutex<Option<String>>,
    /// notify-handler's way to RabbitMQ, when `notify_handler_proxied`.
    pub notify_broker_proxy: Option<TcpProxy>,
}

impl System {
    /// A system with the default options: one ingest and one dispatcher, in-process.
    pub async fn start() -> Self {
        Self::with(SystemOptions::default()).await
    }

    pub async fn with(options: SystemOptions) -> Self {
        // The services' logs, when RUST_LOG asks for them (captured per test by the harness).
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let db = TestDb::new().await;
        paygate::db::migrate(&db.pool).await.expect("migrate the test database");
        let vhost = match &options.broker {
            None => TestVhost::new().await,
            Some(b) => TestVhost::on(&b.amqp_bases[b.upstream_node], &b.management).await,
        };
        let mockpay = MockPay::start(
            MockpayConfig::default()
                .with_merchant(MOCKPAY_MERCHANT, MOCKPAY_SECRET)
                .with_settings(options.mockpay.clone()),
        )
        .await
        .expect("start mockpay");
        let second = match &options.second_provider {
            None => None,
            Some(faults) => {
                let config = MockpayConfig::default()
                    .with_merchant(MOCKPAY_MERCHANT, MOCKPAY_SECRET)
                    .with_settings(options.mockpay.clone());
                let second = MockPay::start(config).await.expect("start the second mockpay");
                second.admin().set_faults(faults).await.expect("the second mockpay's faults");
                Some(second)
            }
        };
        declare_topology(&vhost.amqp_url, options.order_shards, &options.retry_tiers).await;
        let mut system = Self {
            upstream: Upstream::connect(
                &vhost.amqp_url,
                &format!("{PREFIX}.commands"),
                &format!("{PREFIX}.events"),
            )
            .await
            .expect("upstream connects"),
            mockpay,
            second,
            vhost,
            db,
            options,
            ingest: None,
            dispatchers: Vec::new(),
            schedulers: Vec::new(),
            notify: None,
            notify_db_proxy: None,
            notify_broker_proxy: None,
            ingest_api: std::sync::Mutex::new(None),
        };
        system.ingest = Some(system.start_ingest().await);
        if system.options.notify_handler {
            if system.options.notify_handler_proxied {
                system.notify_db_proxy = Some(TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await);
                system.notify_broker_proxy = Some(TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await);
            }
            system.notify = Some(system.start_notify_handler().await);
        }
        for _ in 0..system.options.dispatchers {
            let d = system.start_dispatcher().await;
            system.dispatchers.push(d);
        }
        for _ in 0..system.options.schedulers {
            let s = system.start_scheduler().await;
            system.schedulers.push(s);
        }
        system
    }

    /// The services' `AMQP_URL`: the test's vhost, on every node of the cluster when there is one.
    pub fn services_amqp_url(&self) -> String {
        match &self.options.broker {
            None => self.vhost.amqp_url.clone(),
            Some(b) => b
                .amqp_bases
                .iter()
                .map(|base| format!("{}/{}", base.trim_end_matches('/'), self.vhost.name))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn common_args(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.db.url.clone()),
            ("DATABASE_MAX_CONNECTIONS".into(), "8".into()),
            ("AMQP_URL".into(), self.services_amqp_url()),
            ("AMQP_PREFIX".into(), PREFIX.into()),
            ("ORDER_SHARDS".into(), self.options.order_shards.to_string()),
            ("HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("SHUTDOWN_GRACE_SECS".into(), "5".into()),
            ("RETRY_TIERS".into(), self.options.retry_tiers.clone()),
        ]
    }

    /// The providers' settings every service reads (`PROVIDERS`, `PAYGATE_PROVIDER_MOCKPAY_…`):
    /// this system's mockpay.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PROVIDERS".into(), self.provider_names()),
            ("PAYGATE_PROVIDER_MOCKPAY_TIMEOUT".into(), format!("{}ms", self.options.provider_timeout_ms)),
            // Short in tests, as the ladder is: a not-found is believed two seconds after the pay.
            ("PAYGATE_PROVIDER_MOCKPAY_NOT_FOUND_FINAL_AFTER".into(), "2s".into()),
        ];
        env.extend(mockpay_account_env("MOCKPAY", self.mockpay.base_url(), MOCKPAY_MERCHANT, MOCKPAY_SECRET));
        if let Some(second) = &self.second {
            let upper = SECOND_PROVIDER.to_ascii_uppercase();
            env.extend(mockpay_account_env(&upper, second.base_url(), MOCKPAY_MERCHANT, MOCKPAY_SECRET));
            env.extend([
                (format!("PAYGATE_PROVIDER_{upper}_KIND"), "mockpay".into()),
                (
                    format!("PAYGATE_PROVIDER_{upper}_TIMEOUT"),
                    format!("{}ms", self.options.provider_timeout_ms),
                ),
            ]);
        }
        for account in &self.options.accounts {
            env.extend(account.env());
        }
        env
    }

    /// `PROVIDERS`: mockpay, the second provider if there is one, and the other accounts.
    fn provider_names(&self) -> String {
        let mut names = vec!["mockpay"];
        if self.second.is_some() {
            names.push(SECOND_PROVIDER);
        }
        names.extend(self.options.accounts.iter().map(|a| a.name.as_str()));
        names.join(",")
    }

    fn dispatcher_args(&self) -> Vec<(String, String)> {
        let mut args = self.common_args();
        args.extend(self.provider_env());
        if let Some(base) = self.notify_http() {
            args.push(("NOTIFY_BASE_URL".into(), base.to_owned()));
        }
        // A test's own setting replaces the default of the same name.
        args.retain(|(k, _)| !self.options.dispatcher_config.iter().any(|(own, _)| own == k));
        args.extend(self.options.dispatcher_config.iter().cloned());
        args
    }

    fn notify_args(&self) -> Vec<(String, String)> {
        let mut args = self.common_args();
        if let (Some(pg), Some(mq)) = (&self.notify_db_proxy, &self.notify_broker_proxy) {
            for (k, v) in &mut args {
                if k == "DATABASE_URL" {
                    *v = with_authority(v, pg.addr());
                } else if k == "AMQP_URL" {
                    *v = with_authority(v, mq.addr());
                }
            }
        }
        args.extend(self.provider_env());
        args
    }

    async fn start_notify_handler(&self) -> Running {
        let env = self.notify_args();
        if self.options.processes {
            return spawn_process("notify-handler", &env, &self.options.service_env).await;
        }
        let config = parse::<notify_handler::configuration::Cli>("notify-handler", &env).config;
        let app = notify_handler::startup::Application::build(config).await.expect("notify-handler starts");
        let http = format!("http://{}", app.local_addr());
        spawn_task("notify-handler", app, http)
    }

    /// The base URL of ingest's upstream HTTP API (in-process ingest only).
    pub fn ingest_api(&self) -> String {
        self.ingest_api.lock().expect("not poisoned").clone().expect("ingest runs in-process")
    }

    /// notify-handler's base URL (webhooks, /healthz, /readyz, /metrics), if it runs.
    pub fn notify_http(&self) -> Option<&str> {
        match self.notify.as_ref()? {
            Running::Task { http, .. } | Running::Process(_, http) => Some(http),
        }
    }

    /// notify-handler's /metrics text.
    pub async fn notify_metrics(&self) -> String {
        let url = format!("{}/metrics", self.notify_http().expect("notify-handler runs"));
        let body = async { reqwest::get(&url).await?.error_for_status()?.text().await };
        body.await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// The notification inbox rows of a payment.
    pub async fn notifications(&self, payment_id: Uuid) -> Vec<paygate::store::notifications::Row> {
        let mut conn = self.db.pool.acquire().await.expect("a connection");
        paygate::store::notifications::of_payment(&mut conn, payment_id).await.expect("read the inbox")
    }

    async fn start_ingest(&self) -> Running {
        let mut env = self.common_args();
        // ingest reads the names, and each provider's kind for the pay rules it applies at the
        // door (the second provider is a mockpay under another name).
        env.extend(self.provider_env().into_iter().filter(|(k, _)| k == "PROVIDERS" || k.ends_with("_KIND")));
        // The upstream HTTP API on a free port ([`System::ingest_api`] when in-process).
        env.push(("API_ADDR".into(), "127.0.0.1:0".into()));
        // A create answers as soon as the provider has; a loaded test machine may take a while.
        env.push(("API_CREATE_WAIT_MS".into(), "10000".into()));
        // A known cashier secret, so that a test can sign a token of its own (an expired one).
        env.push(("CASHIER_SECRET".into(), CASHIER_SECRET.into()));
        if self.options.processes {
            return spawn_process("ingest", &env, &self.options.service_env).await;
        }
        let config = parse::<ingest::configuration::Cli>("ingest", &env).config;
        let app = ingest::startup::Application::build(config).await.expect("ingest starts");
        let http = format!("http://{}", app.local_addr());
        *self.ingest_api.lock().expect("not poisoned") = Some(format!("http://{}", app.api_addr()));
        spawn_task("ingest", app, http)
    }

    async fn start_dispatcher(&self) -> Running {
        let env = self.dispatcher_args();
        if self.options.processes {
            let extra = [self.options.service_env.as_slice(), &self.options.dispatcher_env].concat();
            return spawn_process("provider-dispatcher", &env, &extra).await;
        }
        let config = parse::<provider_dispatcher::configuration::Cli>("provider-dispatcher", &env).config;
        let app = provider_dispatcher::startup::Application::build(config).await.expect("dispatcher starts");
        let http = format!("http://{}", app.local_addr());
        spawn_task("provider-dispatcher", app, http)
    }

    async fn start_scheduler(&self) -> Running {
        let mut env = self.common_args();
        env.extend(self.provider_env());
        env.extend([
            ("STUCK_SCHEDULE".into(), self.options.stuck_schedule.clone()),
            ("SCHEDULER_POLL_MS".into(), "100".into()),
        ]);
        env.retain(|(k, _)| !self.options.scheduler_config.iter().any(|(own, _)| own == k));
        env.extend(self.options.scheduler_config.iter().cloned());
        if self.options.processes {
            return spawn_process("compensation-scheduler", &env, &self.options.service_env).await;
        }
        let config =
            parse::<compensation_scheduler::configuration::Cli>("compensation-scheduler", &env).config;
        let app =
            compensation_scheduler::startup::Application::build(config).await.expect("scheduler starts");
        let http = format!("http://{}", app.local_addr());
        spawn_task("compensation-scheduler", app, http)
    }

    /// Scheduler `i`'s /metrics text.
    pub async fn scheduler_metrics(&self, i: usize) -> String {
        let (Running::Task { http, .. } | Running::Process(_, http)) = &self.schedulers[i];
        let url = format!("{http}/metrics");
        let body = async { reqwest::get(&url).await?.error_for_status()?.text().await };
        body.await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// Starts one more dispatcher instance; returns its index.
    pub async fn add_dispatcher(&mut self, extra_env: &[(&str, &str)]) -> usize {
        let saved = self.options.dispatcher_env.clone();
        self.options.dispatcher_env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let d = self.start_dispatcher().await;
        self.options.dispatcher_env = saved;
        self.dispatchers.push(d);
        self.dispatchers.len() - 1
    }

    /// The base URL of dispatcher `i`'s /healthz, /readyz and /metrics.
    pub fn dispatcher_http(&self, i: usize) -> &str {
        match &self.dispatchers[i] {
            Running::Task { http, .. } | Running::Process(_, http) => http,
        }
    }

    /// Dispatcher `i`'s /metrics text.
    pub async fn dispatcher_metrics(&self, i: usize) -> String {
        let url = format!("{}/metrics", self.dispatcher_http(i));
        let body = async { reqwest::get(&url).await?.error_for_status()?.text().await };
        body.await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// The sum of dispatcher `i`'s metric samples whose line starts with `prefix` (name and
    /// labels).
    pub async fn dispatcher_metric(&self, i: usize, prefix: &str) -> u64 {
        let text = self.dispatcher_metrics(i).await;
        metric(&text, prefix)
    }

    /// The process of dispatcher `i` (process mode only).
    pub fn dispatcher_process(&self, i: usize) -> &ServiceProcess {
        match &self.dispatchers[i] {
            Running::Process(p, _) => p,
            Running::Task { .. } => panic!("dispatcher {i} runs in-process"),
        }
    }

    /// Kills dispatcher `i` with SIGKILL and waits for it to be gone (process mode only).
    pub async fn kill_dispatcher(&mut self, i: usize) {
        let Running::Process(p, _) = &mut self.dispatchers[i] else {
            panic!("dispatcher {i} runs in-process")
        };
        p.signal("KILL").await;
        p.wait(Duration::from_secs(10)).await;
    }

    /// Stops dispatcher `i` with SIGTERM and waits for it to be gone (process mode only).
    pub async fn stop_dispatcher(&mut self, i: usize) {
        let Running::Process(p, _) = &mut self.dispatchers[i] else {
            panic!("dispatcher {i} runs in-process")
        };
        p.signal("TERM").await;
        let code = p.wait(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "dispatcher {i} stops cleanly; output:\n{}", p.output().join("\n"));
    }

    /// Stops every service gracefully, asserting each stops cleanly.
    pub async fn stop(mut self) {
        let mut all: Vec<Running> = self.schedulers.drain(..).collect();
        all.append(&mut self.dispatchers);
        all.extend(self.ingest.take());
        all.extend(self.notify.take());
        for running in all {
            match running {
                Running::Task { name, stop, handle, .. } => {
                    stop.cancel();
                    let done = tokio::time::timeout(Duration::from_secs(30), handle).await;
                    let done = done.unwrap_or_else(|_| panic!("{name} did not stop within 30 s"));
                    done.expect("the service task").unwrap_or_else(|e| panic!("{name} stopped with {e:#}"));
                }
                Running::Process(mut p, _) => {
                    if p.is_running() {
                        p.signal("TERM").await;
                        p.wait(Duration::from_secs(30)).await;
                    }
                }
            }
        }
    }

    /// The payment of `merchant_order_no` for merchant `m-1`.
    pub async fn payment(&self, merchant_order_no: &str) -> Option<Payment> {
        let mut conn = self.db.pool.acquire().await.expect("a connection");
        Payment::find_by_number(&mut conn, MERCHANT, merchant_order_no).await.expect("read the payment")
    }

    /// Waits until the payment exists and is in `state`.
    pub async fn payment_in(&self, merchant_order_no: &str, state: &str, within: Duration) -> Payment {
        paygate_test_support::eventually_some(
            &format!("{merchant_order_no} to be {state}"),
            within,
            || async { self.payment(merchant_order_no).await.filter(|p| p.state.as_str() == state) },
        )
        .await
    }

    /// Waits for an order event of `kind` about `merchant_order_no`; on timeout, fails with the
    /// order's history and exchange log, so that a failure explains itself.
    pub async fn wait_for(&self, merchant_order_no: &str, kind: &str, within: Duration) -> OrderEvent {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(e) =
                self.upstream.order_events(merchant_order_no).into_iter().find(|e| e.kind == kind)
            {
                return e;
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {within:?} waiting for {kind} for {merchant_order_no}\n{}",
                    self.story(merchant_order_no).await
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// An order's story as text: its transitions, its provider exchanges, and the events upstream got.
    pub async fn story(&self, merchant_order_no: &str) -> String {
        let Some(payment) = self.payment(merchant_order_no).await else {
            return format!("no payment {merchant_order_no}");
        };
        let mut out = format!("payment {} ({}):\n", payment.id, payment.state);
        for h in self.history(payment.id).await {
            out += &format!(
                "  {} v{} {:?} --{}--> {} {}\n",
                h.entity, h.version, h.from_state, h.event, h.to_state, h.detail
            );
        }
        let mut conn = self.db.pool.acquire().await.expect("a connection");
        for x in paygate::store::exchanges::of_payment(&mut conn, payment.id).await.expect("read exchanges") {
            out += &format!("  exchange {:?}\n", x);
        }
        for n in self.notifications(payment.id).await {
            out += &format!("  notification {} {} {:?}: {}\n", n.id, n.status, n.reason, n.body);
        }
        for e in self.upstream.order_events(merchant_order_no) {
            out += &format!("  event {} {:?}\n", e.kind, e.reason);
        }
        out
    }

    pub async fn history(&self, payment_id: Uuid) -> Vec<HistoryRow> {
        let mut conn = self.db.pool.acquire().await.expect("a connection");
        history::of_payment(&mut conn, payment_id).await.expect("read the history")
    }

    /// The events of a payment's refunds' history, in the order they were recorded.
    pub async fn refund_events(&self, payment_id: Uuid) -> Vec<String> {
        self.history(payment_id)
            .await
            .into_iter()
            .filter(|h| h.refund_id.is_some())
            .map(|h| h.event)
            .collect()
    }

    /// Moves our side of an order to closed through the state machine, as when our close won the
    /// race with the customer's payment at the provider (mockpay still has it waiting): no
    /// follow-up query looks at it any more, only a notification can find it paid.
    pub async fn close_our_side(&self, payment_id: Uuid) {
        use paygate::store::stored_row::StoredRow;
        let mut tx = self.db.pool.begin().await.unwrap();
        let mut p = paygate::store::payments::Payment::lock(&mut tx, payment_id).await.unwrap().unwrap();
        paygate::store::payments::transition(
            &mut tx,
            &mut p,
            paygate::state_machine::PaymentEvent::Closed,
            None,
            serde_json::json!({"test": "close race"}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// mockpay's internal truth about a payment.
    pub async fn truth(&self, payment_id: Uuid) -> mockpay::wire::admin::PaymentTruth {
        let trade_no = paygate::providers::adapter::trade_no(payment_id);
        self.mockpay
            .admin()
            .payment(&trade_no)
            .await
            .expect("mockpay admin")
            .expect("mockpay knows the payment")
    }

    /// Publishes a `pay` command for merchant `m-1`.
    pub async fn pay(&self, merchant_order_no: &str, amount: &str, pay_method: &str) -> Uuid {
        self.upstream
            .command("command.pay", merchant_order_no, pay_command(merchant_order_no, amount, pay_method))
            .await
    }

    /// Publishes a `refund` command for merchant `m-1`.
    pub async fn refund(&self, merchant_order_no: &str, refund_no: &str, amount: &str, by: &str) -> Uuid {
        let payload = json!({
            "merchant_id": MERCHANT, "refund_no": refund_no, "merchant_order_no": merchant_order_no,
            "amount": amount, "currency": "CNY", "requested_by": by, "reason": "test"
        });
        self.upstream.command("command.refund", merchant_order_no, payload).await
    }
}

/// The merchant every test uses.
pub const MERCHANT: &str = "m-1";

/// A `pay` command's payload, in CNY.
pub fn pay_command(merchant_order_no: &str, amount: &str, pay_method: &str) -> Value {
    json!({
        "merchant_id": MERCHANT, "merchant_order_no": merchant_order_no, "amount": amount,
        "currency": "CNY", "provider": "mockpay", "pay_method": pay_method, "order_type": "retail",
        "subject": "e2e order"
    })
}

/// Declares the topology in the test's vhost, as every service would, so that the upstream can
/// bind its events queue before the services start.
async fn declare_topology(amqp_url: &str, order_shards: u16, retry_tiers: &str) {
    use paygate::broker::topology::{Topology, TopologyConfig};
    let tiers = paygate::runtime::config::parse_retry_tiers(retry_tiers).expect("valid retry tiers").0;
    let config = TopologyConfig {
        prefix: PREFIX.into(),
        order_shards,
        retry_tiers: tiers,
        ..TopologyConfig::default()
    };
    let topology = Topology::new(config).expect("a valid topology");
    let conn = lapin::Connection::connect(amqp_url, lapin::ConnectionProperties::default())
        .await
        .expect("connect to declare the topology");
    let channel = conn.create_channel().await.expect("a channel");
    topology.declare(&channel).await.expect("declare the topology");
    let _ = conn.close(200, "declared".into()).await;
}

/// One mockpay account's settings as every service reads them, `PAYGATE_PROVIDER_<upper>_…`.
pub fn mockpay_account_env(upper: &str, url: &str, merchant: &str, secret: &str) -> Vec<(String, String)> {
    vec![
        (format!("PAYGATE_PROVIDER_{upper}_URL"), url.to_owned()),
        (format!("PAYGATE_PROVIDER_{upper}_MERCHANT"), merchant.to_owned()),
        (format!("PAYGATE_PROVIDER_{upper}_SECRET"), secret.to_owned()),
    ]
}

/// The sum of a Prometheus text's samples whose line starts with `prefix` (name and labels).
pub fn metric(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn parse<C: clap::Parser>(bin: &str, env: &[(String, String)]) -> C {
    let mut args = vec![bin.to_owned()];
    for (k, v) in env {
        // A provider's own setting has no flag of its own: it is given as `--provider-setting`.
        if k.starts_with("PAYGATE_PROVIDER_") {
            args.push("--provider-setting".to_owned());
            args.push(format!("{k}={v}"));
            continue;
        }
        // Each flag is its variable's name in kebab case, but for this one.
        let flag = if k == "SHUTDOWN_GRACE_SECS" {
            "shutdown-grace".to_owned()
        } else {
            k.to_lowercase().replace('_', "-")
        };
        args.push(format!("--{flag}"));
        args.push(v.clone());
    }
    C::try_parse_from(args).unwrap_or_else(|e| panic!("{bin} configuration: {e}"))
}

fn spawn_task<S: Service + 'static>(name: &'static str, app: S, http: String) -> Running {
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move { app.run_until_stopped(token).await });
    Running::Task { name, stop, handle, http }
}

async fn spawn_process(bin: &str, env: &[(String, String)], extra: &[(String, String)]) -> Running {
    let all: Vec<(&str, &str)> = env.iter().chain(extra).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let process = ServiceProcess::spawn(&workspace_binary(bin), &all);
    let http = process.http_base(Duration::from_secs(60)).await;
    Running::Process(process, http)
}

/// `url` with its `host:port` replaced by `addr`.
fn with_authority(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{userinfo}{addr}{tail}")
}
