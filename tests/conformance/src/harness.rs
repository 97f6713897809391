//! One whole paygate system around the provider under test, for the scenarios that go through
//! the services ([`crate::journeys`]): the e2e harness's [`System`] (ingest, a dispatcher and
//! notify-handler in process, a compensation-scheduler when asked, on a fresh database and vhost)
//! with the provider's simulator configured as one more account ([`Provider::account`]).
//!
//! Commands go in over AMQP as an upstream sends them; what the scenarios check is what upstream
//! hears (events), what paygate recorded (history, inbox, exchanges) and what the provider's
//! books say.

use crate::{Books, DEADLINE, Provider};
use chrono::NaiveDate;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::OrderEvent;
use paygate::providers::adapter::trade_no;
use paygate::providers::settings::{ProviderArgs, parse_provider_names};
use paygate::recon::{Kind, Quiet, ReconConfig, Run, engine};
use paygate::store::StoredRow;
use paygate::store::payments::Payment;
use paygate::store::recon;
use paygate::store::refunds::Refund;
use paygate_e2e::system::{MERCHANT, PREFIX};
use paygate_e2e::{System, SystemOptions};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Harness<'p, P: Provider> {
    pub p: &'p P,
    pub system: System,
    /// The provider's account name in this system (`PROVIDERS`, pay commands' `provider`).
    pub account: String,
}

impl<'p, P: Provider> Harness<'p, P> {
    /// A system with notify-handler (the simulator notifies it) and a retry ladder of 30 s, so
    /// that within a scenario only the provider's answers and notifications move an order;
    /// `tweak` changes the options (a scheduler, a short ladder, …).
    pub async fn start(p: &'p P, tweak: impl FnOnce(&mut SystemOptions)) -> Self {
        let account = p.account();
        let mut options = SystemOptions {
            notify_handler: true,
            retry_tiers: "30s,60s".into(),
            accounts: vec![account.clone()],
            ..SystemOptions::default()
        };
        tweak(&mut options);
        let system = System::with(options).await;
        if let Some(url) = system.notify_http() {
            p.notifications_to(url).await.expect("point the provider's notifications at notify-handler");
        }
        Harness { p, system, account: account.name }
    }

    pub async fn stop(self) {
        self.system.stop().await;
    }

    /// A `pay` command for this provider, with what `method` needs from the customer (the payment
    /// code, the payer) as the provider's pay request has it.
    pub fn pay_command(&self, order: &str, minor: i64, method: PayMethod) -> Value {
        let r = self.p.pay_request("unused", minor, method);
        let mut command = json!({
            "merchant_id": MERCHANT, "merchant_order_no": order,
            "amount": r.amount.to_decimal_string(), "currency": self.p.currency().as_str(),
            "provider": self.account, "pay_method": method.as_str(), "order_type": "retail",
            "subject": r.subject,
        });
        if let Some(code) = &r.auth_code {
            command["auth_code"] = json!(code.expose());
        }
        if !r.payer.is_empty() {
            command["payer"] = serde_json::to_value(&r.payer).expect("a payer serialises");
        }
        command
    }

    /// Publishes `command` as a `pay` for `order`.
    pub async fn send_pay(&self, order: &str, command: Value) {
        self.system.upstream.command("command.pay", order, command).await;
    }

    /// Publishes a `pay` for `order`.
    pub async fn pay(&self, order: &str, minor: i64, method: PayMethod) {
        self.send_pay(order, self.pay_command(order, minor, method)).await;
    }

    /// Publishes a `pay` for `order` asking for manual capture (authorise now, capture later).
    pub async fn pay_manual(&self, order: &str, minor: i64, method: PayMethod) {
        let mut command = self.pay_command(order, minor, method);
        command["capture"] = json!("manual");
        self.send_pay(order, command).await;
    }

    /// Publishes a `capture` of `minor` for `order`.
    pub async fn capture(&self, order: &str, minor: i64) {
        let payload = json!({
            "merchant_id": MERCHANT, "merchant_order_no": order,
            "amount": self.p.money(minor).to_decimal_string(), "currency": self.p.currency().as_str(),
        });
        self.system.upstream.command("command.capture", order, payload).await;
    }

    /// Publishes a `void` for `order`.
    pub async fn void(&self, order: &str) {
        let payload = json!({"merchant_id": MERCHANT, "merchant_order_no": order});
        self.system.upstream.command("command.void", order, payload).await;
    }

    /// Waits for the rejection of a `command` about `order`, and returns its field and rule.
    pub async fn rejected(&self, order: &str, command: &str) -> (String, String) {
        let e = self
            .system
            .upstream
            .wait_for_message("command.rejected", DEADLINE, |p| {
                p["merchant_order_no"] == order && p["command"] == command
            })
            .await;
        let field = e.payload["field"].as_str().unwrap_or_default().to_owned();
        (field, e.payload["rule"].as_str().unwrap_or_default().to_owned())
    }

    /// Publishes a `close` for `order`.
    pub async fn close(&self, order: &str) {
        let payload = json!({"merchant_id": MERCHANT, "merchant_order_no": order});
        self.system.upstream.command("command.close", order, payload).await;
    }

    /// The payment, once ingest has written it.
    pub async fn payment(&self, order: &str) -> Payment {
        paygate_test_support::eventually_some(&format!("the payment {order}"), DEADLINE, || async {
            self.system.payment(order).await
        })
        .await
    }

    /// Our trade number of the payment at the provider.
    pub async fn trade_no(&self, order: &str) -> String {
        trade_no(self.payment(order).await.id)
    }

    /// Waits for the event `kind` about `order` (failing with the order's story).
    pub async fn event(&self, order: &str, kind: &str) -> OrderEvent {
        self.system.wait_for(order, kind, DEADLINE).await
    }

    /// Every event upstream heard about `order`, in order.
    pub fn events(&self, order: &str) -> Vec<OrderEvent> {
        self.system.upstream.order_events(order)
    }

    /// The customer pays: with the action upstream was given, where the method has one.
    pub async fn customer_pays(&self, order: &str) {
        let action = self.events(order).into_iter().find_map(|e| e.action);
        let trade = self.trade_no(order).await;
        self.p.customer_pays(&trade, action.as_ref()).await.expect("the customer pays");
    }

    /// The order in the provider's books (it must be there).
    pub async fn books(&self, order: &str) -> Books {
        let trade = self.trade_no(order).await;
        self.p
            .books(&trade)
            .await
            .expect("the books answer")
            .unwrap_or_else(|| panic!("{}: {order} ({trade}) is not in the provider's books", P::NAME))
    }

    /// The payment's states, in the order the state machine recorded them.
    pub async fn states(&self, order: &str) -> Vec<String> {
        let id = self.payment(order).await.id;
        self.system
            .history(id)
            .await
            .into_iter()
            .filter(|h| h.refund_id.is_none())
            .map(|h| h.to_state)
            .collect()
    }

    /// How many times we called the provider's `operation` for `order`.
    pub async fn calls(&self, order: &str, operation: &str) -> i64 {
        let id = self.payment(order).await.id;
        sqlx::query_scalar("SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = $2")
            .bind(id)
            .bind(operation)
            .fetch_one(&self.system.db.pool)
            .await
            .expect("count the exchanges")
    }
}

impl<P: Provider> Harness<'_, P> {
    /// The kinds of the open attention items about `order` (what a person is asked to look at).
    pub async fn open_attention(&self, order: &str) -> Vec<String> {
        let id = self.payment(order).await.id;
        sqlx::query_scalar(
            "SELECT kind FROM attention WHERE payment_id = $1 AND resolved_at IS NULL ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.system.db.pool)
        .await
        .expect("read the attention items")
    }

    /// Waits until our refund `refund_no` is `state`.
    pub async fn refund_in(&self, refund_no: &str, state: &str) -> Refund {
        paygate_test_support::eventually_some(&format!("{refund_no} to be {state}"), DEADLINE, || async {
            let mut conn = self.system.db.pool.acquire().await.expect("a connection");
            Refund::find_by_number(&mut conn, MERCHANT, refund_no)
                .await
                .expect("read the refund")
                .filter(|r| r.state.as_str() == state)
        })
        .await
    }

    /// Publishes a `refund` of `minor` for `order`.
    pub async fn refund(&self, order: &str, refund_no: &str, minor: i64) {
        let amount = self.p.money(minor).to_decimal_string();
        let payload = json!({
            "merchant_id": MERCHANT, "refund_no": refund_no, "merchant_order_no": order,
            "amount": amount, "currency": self.p.currency().as_str(), "requested_by": "conformance",
            "reason": "conformance"
        });
        self.system.upstream.command("command.refund", order, payload).await;
    }

    /// Runs reconciliation of `kind` for the provider's `day`, as the compensation scheduler
    /// does: through the adapter and the settings its registry builds from the account's
    /// settings (the fee agreed with the provider among them).
    pub async fn reconcile(&self, kind: Kind, day: NaiveDate, window_days: u32) -> recon::Batch {
        let config = TopologyConfig {
            prefix: PREFIX.into(),
            order_shards: self.system.options.order_shards,
            ..TopologyConfig::default()
        };
        let topology = Topology::new(config).expect("a topology");
        let env = self.p.account().env();
        let args = ProviderArgs {
            providers: parse_provider_names(&self.account).expect("a provider name"),
            settings: Vec::new(),
        };
        let providers = args
            .registry_from(&|key| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .expect("the account's settings build its adapter");
        let adapter = providers.get(&self.account).expect("the account's adapter");
        let config =
            ReconConfig { window_days, ..ReconConfig::default() }.for_provider(&providers, &self.account);
        let run = Run { provider: &self.account, day, kind, config };
        engine::run(&self.system.db.pool, &topology, adapter.as_ref(), run, &Quiet)
            .await
            .expect("the batch runs")
    }

    /// (kind, payment) of every discrepancy the batch found, sorted.
    pub async fn discrepancies(&self, batch: &recon::Batch) -> Vec<(String, Option<Uuid>)> {
        let mut conn = self.system.db.pool.acquire().await.expect("a connection");
        let mut found: Vec<_> = recon::discrepancies(&mut conn, batch.id)
            .await
            .expect("read the discrepancies")
            .into_iter()
            .map(|d| (d.kind, d.payment_id))
            .collect();
        found.sort();
        found
    }

    /// How many reversals we sent for `order` (logged as `reverse`, or under the provider's own
    /// name for it: Alipay's `cancel`).
    pub async fn reversals(&self, order: &str) -> i64 {
        self.calls(order, "reverse").await + self.calls(order, "cancel").await
    }
}

/// Whether `method` takes the money in the pay call itself (no customer step after it).
pub fn charges_at_once(method: PayMethod) -> bool {
    matches!(method, PayMethod::Direct | PayMethod::Barcode)
}
