//! LINE Pay (tests/linepaysim): Online API v3 payment requests the customer approves at LINE
//! Pay's payment URL (the simulator's admin side plays the customer and the browser's redirect
//! to our confirmUrl), confirmed by the adapter's query, JPY (whole units, so every amount of the
//! scenarios can be sent), synchronous refunds found by the refund id LINE Pay gives; and
//! one-time-key payments (the offline POS API v2), confirmed by the customer on the phone. No
//! notifications, no bills, no settlements. Channel secret: linepaysim's TEST-ONLY one.

use crate::{
    ADAPTER_TIMEOUT, BookRefund, BookState, Books, Capability, Delivered, HOLD, Provider, common_settings,
};
use chrono::{NaiveDate, Utc};
use linepaysim::{AdminError, LinePaySim, ScriptEntry, SimHandle, testkit};
use paygate::domain::{AuthCode, Currency};
use paygate::messages::commands::PayMethod;
use paygate::messages::events::CustomerAction;
use paygate::providers::linepay::signing::ChannelSecret;
use paygate::providers::linepay::{LinePayAdapter, LinePayConfig};
use paygate::providers::{PayRequest, ProviderAdapter};
use paygate_e2e::system::ProviderAccount;
use serde_json::Value;
use simkit::{BillFault, Fault, FaultSettings, Operation};
use std::sync::Arc;

/// A one-time key of Taiwan's length (18 digits), as the till scans it.
const ONE_TIME_KEY: &str = "123456789012345678";

/// LINE Pay, taking money in the scenarios by redirect (Online API v3) or, with `POS`, by the
/// customer's one-time key at a till (the offline API v2): [`LinePay`] and [`LinePayPos`], one
/// simulator and adapter each; the capture scenarios then authorise through that API.
pub struct LinePayOf<const POS: bool> {
    sim: SimHandle,
    adapter: Arc<LinePayAdapter>,
}

/// LINE Pay charging by redirect (Online API v3).
pub type LinePay = LinePayOf<false>;
/// LINE Pay charging by one-time key (the offline POS API v2), manual capture included.
pub type LinePayPos = LinePayOf<true>;

impl<const POS: bool> LinePayOf<POS> {
    pub fn sim(&self) -> &SimHandle {
        &self.sim
    }
}

#[async_trait::async_trait]
impl<const POS: bool> Provider for LinePayOf<POS> {
    const NAME: &'static str = "linepay";

    async fn start() -> anyhow::Result<Self> {
        let mut config = linepaysim::Config::new(testkit::CHANNEL_ID, testkit::CHANNEL_SECRET, "JPY");
        config.settings.timeout_hold_ms = u64::try_from(HOLD.as_millis())?;
        let sim = LinePaySim::start(config).await?;
        let mut config = LinePayConfig::new(testkit::CHANNEL_ID, ChannelSecret::new(testkit::CHANNEL_SECRET));
        config.base_url = sim.base_url().to_owned();
        config.request_timeout = ADAPTER_TIMEOUT;
        let adapter = Arc::new(LinePayAdapter::new(config)?);
        Ok(Self { sim, adapter })
    }

    async fn stop(self) {
        let _ = self.sim.shutdown().await;
    }

    fn adapter(&self) -> Arc<dyn ProviderAdapter> {
        self.adapter.clone()
    }

    // Redirect (Online API v3) and the one-time key (offline POS API v2); authorise then capture
    // (online: `options.payment.capture: false`; at a till: `capture: false`); no webhook, no bill
    // or settlement API. The POS variant is the till's only.
    const CAPABILITIES: &'static [Capability] = if POS {
        &[Capability::Pay(PayMethod::Barcode), Capability::ManualCapture]
    } else {
        &[
            Capability::Pay(PayMethod::Redirect),
            Capability::Pay(PayMethod::Barcode),
            Capability::ManualCapture,
        ]
    };

    fn currency(&self) -> Currency {
        Currency::JPY
    }

    fn charging_method(&self) -> PayMethod {
        if POS { PayMethod::Barcode } else { PayMethod::Redirect }
    }

    fn waiting_method(&self) -> PayMethod {
        PayMethod::Redirect
    }

    /// The request with a notify URL, as the dispatcher gives one: the confirmUrl (notify-handler's
    /// return route) is derived from it. Nothing listens there in the adapter-level scenarios;
    /// the simulator records the failed redirect, and the query confirms.
    fn pay_request(&self, trade_no: &str, minor: i64, method: PayMethod) -> PayRequest {
        PayRequest {
            trade_no: trade_no.into(),
            amount: self.money(minor),
            subject: "conformance 測試 & more".into(),
            pay_method: method,
            notify_url: Some(format!("http://127.0.0.1:9/notify/linepay/{trade_no}")),
            return_url: Some("https://shop.example/return".into()),
            expires_at: None,
            auth_code: (method == PayMethod::Barcode)
                .then(|| AuthCode::parse(ONE_TIME_KEY).expect("a one-time key")),
            payer: Default::default(),
            capture: Default::default(),
        }
    }

    /// LINE Pay releases an authorisation (`capture: false`) left uncaptured for `after`.
    async fn authorizations_expire_after(&self, after: std::time::Duration) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.authorization_ttl_ms = u64::try_from(after.as_millis())?;
        admin.set_settings(&settings).await
    }

    /// One-time-key payments wait for the customer to confirm on the phone (`1145`).
    async fn barcode_waits_for_the_customer(&self) -> anyhow::Result<()> {
        let admin = self.sim.admin();
        let mut settings = admin.settings().await?;
        settings.pos_waits_for_customer = true;
        admin.set_settings(&settings).await
    }

    async fn customer_opens(&self, _trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        // The request exists from the request call.
        Ok(())
    }

    /// The customer approves at LINE Pay and the browser is sent to the confirmUrl; an approval
    /// a scripted decline makes fail is a try that failed, not an error of the simulator.
    async fn customer_pays(&self, trade_no: &str, _action: Option<&CustomerAction>) -> anyhow::Result<()> {
        match self.sim.admin().approve(trade_no, true).await {
            Ok(_) => Ok(()),
            Err(e) if e.downcast_ref::<AdminError>().is_some_and(|a| a.status == 409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn script(&self, trade_no: &str, operation: Operation, fault: Fault) -> anyhow::Result<()> {
        self.sim.admin().script(&ScriptEntry::new(trade_no, operation, fault)).await
    }

    /// The request of the order; its refunds by LINE Pay's refund id (LINE Pay keeps no refund
    /// number of ours), all succeeded (refunds are synchronous).
    async fn books(&self, trade_no: &str) -> anyhow::Result<Option<Books>> {
        let Some(o) = self.sim.admin().order(trade_no).await? else { return Ok(None) };
        let int = |v: &Value| v.as_i64().ok_or_else(|| anyhow::anyhow!("not an integer: {v}"));
        let refunds = o["refunds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                Ok(BookRefund {
                    refund_no: r["refundTransactionId"].as_str().unwrap_or("").to_owned(),
                    amount: int(&r["refundAmount"])?,
                    state: BookState::Succeeded,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Books {
            charges: u32::try_from(int(&o["charges"])?)?,
            amount: int(&o["amount"])?,
            // What a capture of an authorisation (`capture: false`) took.
            captured: o["captured"].as_i64(),
            refunds,
        }))
    }

    async fn plant_bill_fault(&self, _fault: BillFault) -> anyhow::Result<()> {
        anyhow::bail!("LINE Pay has no bills")
    }

    fn bill_day(&self) -> NaiveDate {
        Utc::now().date_naive()
    }

    /// LINE Pay sends no notifications.
    fn delivered(&self) -> Vec<Delivered> {
        Vec::new()
    }

    fn forge(&self, genuine: &Delivered) -> Delivered {
        genuine.clone()
    }

    fn account(&self) -> ProviderAccount {
        let mut settings = common_settings("linepay");
        settings.extend([
            ("URL".into(), self.sim.base_url().to_owned()),
            ("CHANNEL_ID".into(), testkit::CHANNEL_ID.to_owned()),
            ("CHANNEL_SECRET".into(), testkit::CHANNEL_SECRET.to_owned()),
        ]);
        ProviderAccount { name: Self::NAME.into(), settings }
    }

    async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        self.sim.admin().set_faults(faults).await
    }
}

/// LINE Pay's own journeys through the services (`tests/linepay.rs`): the redirect that makes
/// the dispatcher confirm, the lost redirect caught by `check` on the retry ladder, an approval
/// after our close that is never confirmed, and the webhook route that refuses LINE Pay.
pub mod journeys {
    use super::LinePay;
    use crate::DEADLINE;
    use crate::harness::Harness;
    use paygate::messages::commands::PayMethod;
    use paygate_test_support::eventually;

    const AMOUNT: i64 = 1_200;

    async fn requested(h: &Harness<'_, LinePay>, order: &str) -> String {
        h.pay(order, AMOUNT, PayMethod::Redirect).await;
        let event = h.event(order, "payment.action_required").await;
        assert!(event.action.is_some(), "the customer is sent to LINE Pay's payment URL: {event:?}");
        h.trade_no(order).await
    }

    /// The customer approves and the browser comes back to notify-handler's return route, which
    /// asks the dispatcher to query; the query confirms with our amount: one charge, one success,
    /// the 19-digit transaction id recorded. The ladder is ten minutes: only the redirect moves it.
    pub async fn confirm_after_the_redirect(p: &LinePay) {
        let h = Harness::start(p, |o| o.retry_tiers = "10m".into()).await;
        let trade = requested(&h, "lp-redirect").await;
        assert_eq!(h.calls("lp-redirect", "confirm").await, 0);
        let approved = p.sim().admin().approve(&trade, true).await.expect("the customer approves");
        let redirects = approved["redirects"].as_array().cloned().unwrap_or_default();
        assert!(
            redirects
                .iter()
                .any(|r| r.as_str().is_some_and(|r| r.contains("/return/linepay/") && !r.contains("HTTP 4"))),
            "the browser reached notify-handler's return route: {redirects:?}"
        );
        h.event("lp-redirect", "payment.succeeded").await;
        assert_eq!(h.calls("lp-redirect", "confirm").await, 1, "confirmed once");
        assert_eq!(h.books("lp-redirect").await.charges, 1);
        let payment = h.payment("lp-redirect").await;
        assert_eq!(payment.provider_txn_id.as_deref().map(str::len), Some(19), "{payment:?}");
        h.stop().await;
    }

    /// The customer approves but the browser never comes back: the follow-up queries of the
    /// retry ladder find the approval with `check` (0110) and confirm.
    pub async fn a_lost_redirect_is_caught_by_check_on_the_ladder(p: &LinePay) {
        let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
        let trade = requested(&h, "lp-lost").await;
        let approved = p.sim().admin().approve(&trade, false).await.expect("the customer approves");
        assert_eq!(approved["redirects"].as_array().map(Vec::len), Some(0), "no redirect: {approved}");
        h.event("lp-lost", "payment.succeeded").await;
        assert_eq!(h.calls("lp-lost", "confirm").await, 1);
        assert_eq!(h.books("lp-lost").await.charges, 1);
        h.stop().await;
    }

    /// A POS terminal's one-time-key pay asking for manual capture: `capture: false` reaches
    /// LINE Pay, upstream hears `payment.authorized` (nothing taken); a `capture` of part takes
    /// that part once (`payment.captured`, the rest released). Another such payment is voided:
    /// `payment.voided`, nothing taken, no capture sent.
    pub async fn a_one_time_key_authorisation_is_captured_or_voided(p: &LinePay) {
        let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
        let authorised = |order: &'static str| {
            let h = &h;
            async move {
                h.pay_manual(order, AMOUNT, PayMethod::Barcode).await;
                let authorized = h.event(order, "payment.authorized").await;
                assert_eq!(authorized.state, "authorized", "{authorized:?}");
                assert_eq!(authorized.captured, None, "nothing captured yet");
                let trade = h.trade_no(order).await;
                let at_linepay = p.sim().admin().order(&trade).await.expect("admin").expect("the payment");
                assert_eq!(at_linepay["pos"], true, "paid through the offline API: {at_linepay}");
                assert_eq!(at_linepay["capture"], false, "capture: false reached LINE Pay: {at_linepay}");
                assert_eq!(h.books(order).await.charges, 0, "an authorisation takes nothing");
            }
        };

        authorised("lp-pos-capture").await;
        let part = AMOUNT / 2;
        h.capture("lp-pos-capture", part).await;
        let captured = h.event("lp-pos-capture", "payment.captured").await;
        assert_eq!(captured.state, "succeeded");
        assert_eq!(captured.captured, Some(crate::Provider::money(p, part)));
        let books = h.books("lp-pos-capture").await;
        assert_eq!((books.charges, books.captured), (1, Some(part)), "captured once, in part");
        let states = h.states("lp-pos-capture").await;
        let tail: Vec<&str> = states.iter().rev().take(3).rev().map(String::as_str).collect();
        assert_eq!(tail, ["authorized", "capturing", "succeeded"], "{states:?}");

        authorised("lp-pos-void").await;
        h.void("lp-pos-void").await;
        let voided = h.event("lp-pos-void", "payment.voided").await;
        assert_eq!(voided.captured, None);
        let states = h.states("lp-pos-void").await;
        let tail: Vec<&str> = states.iter().rev().take(3).rev().map(String::as_str).collect();
        assert_eq!(tail, ["authorized", "voiding", "voided"], "{states:?}");
        let books = h.books("lp-pos-void").await;
        assert_eq!((books.charges, books.captured), (0, None), "nothing taken");
        assert_eq!(h.calls("lp-pos-void", "capture").await, 0);
        h.stop().await;
    }

    /// LINE Pay releases an authorisation left uncaptured at its own expiry (linepaysim's set to
    /// 2 s) and says nothing. paygate learns of it from its own `AUTHORIZATION_EXPIRY` void (3 s
    /// here): the void reads LINE Pay first (the online details; a till's offline
    /// authorisations), finds `EXPIRED_AUTHORIZATION`, sends no void, and the payment ends
    /// `voided` with the event `expired`. Nothing was taken. Online (redirect) and at a till
    /// (one-time key) alike.
    pub async fn an_authorisation_linepay_released_itself_is_found_by_the_expiry_void(p: &LinePay) {
        crate::Provider::authorizations_expire_after(p, std::time::Duration::from_secs(2))
            .await
            .expect("set LINE Pay's expiry");
        let h = Harness::start(p, |o| {
            o.retry_tiers = "1s,2s,3s,5s".into();
            o.schedulers = 1;
            o.scheduler_config.push(("AUTHORIZATION_EXPIRY".into(), "3s,1s".into()));
        })
        .await;
        for (order, method) in
            [("lp-released-online", PayMethod::Redirect), ("lp-released-pos", PayMethod::Barcode)]
        {
            h.pay_manual(order, AMOUNT, method).await;
            if method == PayMethod::Redirect {
                h.event(order, "payment.action_required").await;
                h.customer_pays(order).await;
            }
            h.event(order, "payment.authorized").await;
            h.event(order, "payment.voided").await;
            let id = h.payment(order).await.id;
            let history = h.system.history(id).await;
            let last = history.iter().rev().find(|r| r.refund_id.is_none()).expect("a history");
            assert_eq!(
                (last.to_state.as_str(), last.event.as_str()),
                ("voided", "expired"),
                "{order}: released by LINE Pay, not by our void: {history:?}"
            );
            let posts: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = 'void' AND request_method = 'POST'",
            )
            .bind(id)
            .fetch_one(&h.system.db.pool)
            .await
            .expect("count the void requests");
            assert_eq!(posts, 0, "{order}: the read found it released; no void was sent");
            assert!(h.calls(order, "void").await >= 1, "{order}: the scan's void read LINE Pay");
            let books = h.books(order).await;
            assert_eq!((books.charges, books.captured), (0, None), "{order}: nothing was taken");
        }
        h.stop().await;
    }

    /// Upstream closes the payment; the customer approves afterwards (LINE Pay has no cancel of a
    /// request) and comes back: the query it asks for never confirms a closed payment. Nothing
    /// is charged and the payment stays closed.
    pub async fn an_approval_after_close_is_never_confirmed(p: &LinePay) {
        let h = Harness::start(p, |o| o.retry_tiers = "10m".into()).await;
        let trade = requested(&h, "lp-closed").await;
        h.close("lp-closed").await;
        h.event("lp-closed", "payment.closed").await;
        let queries = h.calls("lp-closed", "query").await;
        p.sim().admin().approve(&trade, true).await.expect("the customer approves at LINE Pay");
        eventually("the query the return asked for", DEADLINE, || async {
            h.calls("lp-closed", "query").await > queries
        })
        .await;
        assert_eq!(h.calls("lp-closed", "confirm").await, 0, "never confirmed");
        assert_eq!(h.books("lp-closed").await.charges, 0);
        assert_eq!(h.system.payment("lp-closed").await.expect("written").state.as_str(), "closed");
        h.stop().await;
    }

    /// A partial refund whose dispatcher is killed after LINE Pay refunded, before the answer was
    /// committed. LINE Pay keeps no refund number of ours: the redelivery must not send it again
    /// (a second partial refund would succeed). The refund becomes unknown and is queried; LINE
    /// Pay's list shows a refund, but which is ours cannot be told without its id, so it goes to
    /// a person. One refund at LINE Pay, one refund call in our log.
    pub async fn a_refund_cut_off_by_a_crash_is_never_sent_twice(p: &LinePay) {
        let mut h = Harness::start(p, |o| {
            o.processes = true;
            o.dispatchers = 1;
            o.retry_tiers = "1s,2s,3s".into();
        })
        .await;
        let trade = requested(&h, "lp-crash").await;
        p.sim().admin().approve(&trade, true).await.expect("the customer approves");
        h.event("lp-crash", "payment.succeeded").await;

        h.system.stop_dispatcher(0).await;
        let point = "dispatcher.after_provider_call";
        let armed = format!("{point}=return");
        let crashing = h.system.add_dispatcher(&[("FAILPOINTS", armed.as_str())]).await;
        h.refund("lp-crash", "lp-crash-r1", 500).await;
        eventually("the dispatcher to stop after LINE Pay refunded", DEADLINE, || {
            let reached = h.system.dispatcher_process(crashing).output().iter().any(|l| l.contains(point));
            async move { reached }
        })
        .await;
        assert_eq!(h.books("lp-crash").await.refunds_held(), 500, "LINE Pay refunded once");
        h.system.kill_dispatcher(crashing).await;
        h.system.add_dispatcher(&[]).await;

        let refund = h.refund_in("lp-crash-r1", "unknown").await;
        eventually("the unknown refund to reach a person", DEADLINE, || async {
            !h.open_attention("lp-crash").await.is_empty()
        })
        .await;
        let books = h.books("lp-crash").await;
        assert_eq!(
            (books.refunds.len(), books.refunds_held()),
            (1, 500),
            "one refund at LINE Pay: {books:?}"
        );
        let id = h.payment("lp-crash").await.id;
        let sent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM provider_exchanges
             WHERE payment_id = $1 AND request_method = 'POST' AND request_url LIKE '%/refund'",
        )
        .bind(id)
        .fetch_one(&h.system.db.pool)
        .await
        .expect("count the refund requests");
        assert_eq!(sent, 1, "the refund request was never sent again");
        assert_eq!(refund.amount.minor_units(), 500);
        h.stop().await;
    }

    /// LINE Pay has no bill: the day is reconciled by a query sweep. A confirmed payment, a
    /// refunded one and one the customer approved only after our close all agree with LINE Pay,
    /// and the sweep, which only reads, never confirms the approval that came after the close.
    pub async fn the_days_sweep_agrees_and_never_confirms(p: &LinePay) {
        use crate::Provider;
        use paygate::recon::Kind;
        let h = Harness::start(p, |o| o.retry_tiers = "10m".into()).await;
        let paid = requested(&h, "lp-sw-paid").await;
        p.sim().admin().approve(&paid, true).await.expect("the customer approves");
        h.event("lp-sw-paid", "payment.succeeded").await;
        let refunded = requested(&h, "lp-sw-refunded").await;
        p.sim().admin().approve(&refunded, true).await.expect("the customer approves");
        h.event("lp-sw-refunded", "payment.succeeded").await;
        h.refund("lp-sw-refunded", "lp-sw-r1", 400).await;
        h.refund_in("lp-sw-r1", "succeeded").await;
        let closed = requested(&h, "lp-sw-closed").await;
        h.close("lp-sw-closed").await;
        h.event("lp-sw-closed", "payment.closed").await;
        p.sim().admin().approve(&closed, false).await.expect("the customer approves after the close");

        let batch = h.reconcile(Kind::Sweep, p.bill_day(), 0).await;
        assert_eq!(h.discrepancies(&batch).await, Vec::new(), "every row agrees: {batch:?}");
        assert_eq!(batch.state, "matched", "{batch:?}");
        let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM recon_lines WHERE batch_id = $1")
            .bind(batch.id)
            .fetch_one(&h.system.db.pool)
            .await
            .expect("count the sweep's lines");
        assert_eq!(lines, 4, "three payments and one refund asked about");
        assert_eq!(h.calls("lp-sw-closed", "confirm").await, 0, "the sweep never confirmed");
        assert_eq!(h.books("lp-sw-closed").await.charges, 0);
        assert_eq!(h.books("lp-sw-paid").await.charges, 1);
        h.stop().await;
    }

    /// LINE Pay has no webhook: notify-handler refuses anything posted as its notification with
    /// 404 `no_webhook`, before reading it.
    pub async fn notify_refuses_linepay_clearly(p: &LinePay) {
        let h = Harness::start(p, |_| {}).await;
        let trade = requested(&h, "lp-notify").await;
        let base = h.system.notify_http().expect("notify-handler runs").to_owned();
        let client = reqwest::Client::builder().no_proxy().build().expect("a client");
        let r = client
            .post(format!("{base}/notify/linepay/{trade}"))
            .header("content-type", "application/json")
            .body(r#"{"returnCode":"0000"}"#)
            .send()
            .await
            .expect("notify-handler answers");
        assert_eq!(r.status().as_u16(), 404);
        let body = r.text().await.unwrap_or_default();
        assert!(body.contains("no_webhook"), "{body}");
        assert_eq!(h.system.payment("lp-notify").await.expect("written").state.as_str(), "action_required");
        h.stop().await;
    }
}
