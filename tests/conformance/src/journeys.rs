//! The conformance scenarios that go through the services (issue 14): each drives a whole paygate
//! system ([`Harness`]: ingest, the dispatcher, notify-handler and, where it matters, the
//! compensation-scheduler) against the provider's simulator, with commands over AMQP, and checks
//! what upstream hears, what paygate recorded and the provider's books. They are written once
//! and run for every provider (`tests/journeys.rs`); one that needs a capability the provider
//! lacks is not applicable to it, as in [`crate::scenarios`].
//!
//! Nothing here sleeps to synchronise: every wait polls with a deadline.

use crate::harness::{Harness, charges_at_once};
use crate::scenarios::require;
use crate::{Capability, DEADLINE, Provider};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use paygate::messages::commands::PayMethod;
use paygate::providers::adapter::trade_no;
use paygate::recon::Kind;
use paygate_e2e::SystemOptions;
use paygate_test_support::{eventually, eventually_some};
use simkit::{BillFault, BillFaultKind, FaultSettings};
use uuid::Uuid;

/// Every scenario here, by name (the test file lists each once per provider).
pub const ALL: &[&str] = &[
    "paid_once_through_the_services",
    "a_notification_before_the_pay_answer_settles_it_with_one_charge",
    "refused_and_replayed_notifications_change_nothing_and_are_flagged",
    "a_payment_waiting_for_its_customer_is_followed_without_alarm",
    "an_expired_unpaid_payment_is_closed_at_the_provider",
    "a_close_never_claims_closed_what_the_customer_can_still_pay",
    "a_payment_paid_at_the_last_moment_wins_over_its_expiry",
    "paid_after_close_is_succeeded_and_flagged",
    "a_barcode_payment_in_process_is_polled_to_success",
    "a_barcode_payment_never_confirmed_is_reversed",
    "the_days_bill_reconciled_finds_every_planted_discrepancy",
    "the_days_settlement_is_our_payments_of_the_providers_own_day",
    "an_authorised_payment_is_captured_in_full",
    "a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured",
    "an_authorisation_is_voided_and_takes_nothing",
    "an_authorisation_left_uncaptured_is_voided_at_its_expiry",
    "an_authorisation_the_provider_releases_itself_is_voided",
    "a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it",
];

/// The capability a scenario needs beyond taking a payment, if any.
pub fn capability_of(scenario: &str) -> Option<Capability> {
    match scenario {
        "refused_and_replayed_notifications_change_nothing_and_are_flagged"
        | "a_notification_before_the_pay_answer_settles_it_with_one_charge"
        | "paid_after_close_is_succeeded_and_flagged" => Some(Capability::GenuineNotification),
        "a_barcode_payment_in_process_is_polled_to_success"
        | "a_barcode_payment_never_confirmed_is_reversed" => Some(Capability::Pay(PayMethod::Barcode)),
        "the_days_bill_reconciled_finds_every_planted_discrepancy" => Some(Capability::BillDownload),
        "the_days_settlement_is_our_payments_of_the_providers_own_day" => {
            Some(Capability::SettlementDownload)
        }
        "an_authorised_payment_is_captured_in_full"
        | "a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured"
        | "an_authorisation_is_voided_and_takes_nothing"
        | "an_authorisation_left_uncaptured_is_voided_at_its_expiry"
        | "an_authorisation_the_provider_releases_itself_is_voided"
        | "a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it" => {
            Some(Capability::ManualCapture)
        }
        _ => None,
    }
}

/// An amount every provider takes, in minor units.
const AMOUNT: i64 = 1_200;
/// Every fault on: the rate that means "always".
const ALWAYS: u32 = 1_000_000;

/// Pays `order` (`minor`) by the provider's charging method through the services: at once, or
/// once the customer acts on what upstream was told to show them. Returns the payment's id when
/// upstream hears of success.
async fn paid<P: Provider>(h: &Harness<'_, P>, order: &str, minor: i64) -> Uuid {
    let method = h.p.charging_method();
    h.pay(order, minor, method).await;
    if !charges_at_once(method) {
        h.event(order, "payment.action_required").await;
        h.customer_pays(order).await;
    }
    h.event(order, "payment.succeeded").await;
    h.payment(order).await.id
}

/// Pays `order` with manual capture by the provider's charging method, through the services, and
/// waits until upstream hears it is authorised: nothing is taken yet.
async fn authorised<P: Provider>(h: &Harness<'_, P>, order: &str, minor: i64) {
    let method = h.p.charging_method();
    h.pay_manual(order, minor, method).await;
    if !charges_at_once(method) {
        h.event(order, "payment.action_required").await;
        h.customer_pays(order).await;
    }
    let authorized = h.event(order, "payment.authorized").await;
    assert_eq!(authorized.state, "authorized", "{}", P::NAME);
    assert_eq!(authorized.captured, None, "{}: nothing is captured yet", P::NAME);
    assert_eq!(h.books(order).await.charges, 0, "{}: an authorisation takes no money", P::NAME);
}

/// A payment that waits for its customer ([`Provider::waiting_method`]), expiring `secs` from now.
async fn qr_expiring<P: Provider>(h: &Harness<'_, P>, order: &str, secs: i64) {
    let mut command = h.pay_command(order, AMOUNT, h.p.waiting_method());
    let expires = chrono::Utc::now() + chrono::Duration::seconds(secs);
    command["expires_at"] = serde_json::json!(expires.to_rfc3339());
    h.send_pay(order, command).await;
    h.event(order, "payment.action_required").await;
}

/// The dispatcher's ladder waits ten minutes and the stuck scan a minute: within the scenario only
/// the scheduler's expiry close looks at a payment waiting for its customer.
fn expiry_only(o: &mut SystemOptions) {
    o.retry_tiers = "10m".into();
    o.schedulers = 1;
    o.stuck_schedule = "1m".into();
}

/// Paid by its method, through ingest, the dispatcher (and notify-handler where the customer
/// pays later): one charge of the amount asked, one `payment.succeeded`, and every state recorded.
pub async fn paid_once_through_the_services<P: Provider>(p: &P) {
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    paid(&h, "cf-paid", AMOUNT).await;
    let books = h.books("cf-paid").await;
    assert_eq!((books.charges, books.amount), (1, AMOUNT), "{}", P::NAME);
    let succeeded = h.events("cf-paid").into_iter().filter(|e| e.kind == "payment.succeeded").count();
    assert_eq!(succeeded, 1, "{}: upstream hears of the success once", P::NAME);
    let states = h.states("cf-paid").await;
    assert_eq!(states.first().map(String::as_str), Some("created"), "{}: {states:?}", P::NAME);
    assert_eq!(states.last().map(String::as_str), Some("succeeded"), "{}: {states:?}", P::NAME);
    h.stop().await;
}

/// The pay call's answer is lost (the provider took the request), so paygate does not know; the
/// provider's notification arrives first, and, confirmed by a query, settles the payment. The
/// ladder is 30 s away: only the notification can have done it within the deadline.
pub async fn a_notification_before_the_pay_answer_settles_it_with_one_charge<P: Provider>(p: &P) {
    require(p, Capability::GenuineNotification);
    let h = Harness::start(p, |_| {}).await;
    p.set_faults(&FaultSettings { lost_response_ppm: ALWAYS, ..FaultSettings::default() })
        .await
        .expect("set the faults");
    let method = p.charging_method();
    h.pay("cf-early", AMOUNT, method).await;
    let id = h.payment("cf-early").await.id;
    if !charges_at_once(method) {
        // The order exists at the provider though paygate never heard so: the customer pays it.
        let trade = h.trade_no("cf-early").await;
        eventually("the order to reach the provider", DEADLINE, || async {
            p.books(&trade).await.expect("the books answer").is_some()
        })
        .await;
        h.customer_pays("cf-early").await;
    }
    h.event("cf-early", "payment.succeeded").await;
    p.set_faults(&FaultSettings::default()).await.expect("clear the faults");
    assert_eq!(h.books("cf-early").await.charges, 1, "{}", P::NAME);
    let rows = h.system.notifications(id).await;
    assert!(rows.iter().any(|r| r.status == "applied"), "{}: the notification settled it: {rows:?}", P::NAME);
    assert_eq!(h.calls("cf-early", "pay").await, 1, "{}: the pay request was sent once", P::NAME);
    h.stop().await;
}

/// A genuine notification's headers as notify-handler stored them.
fn header_map(stored: &serde_json::Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (k, v) in stored.as_object().expect("stored headers are an object") {
        let (Ok(name), Some(Ok(value))) =
            (HeaderName::try_from(k.as_str()), v.as_str().map(HeaderValue::from_str))
        else {
            continue;
        };
        // Hop-by-hop and length headers are the HTTP client's to set.
        if !matches!(name.as_str(), "content-length" | "host" | "connection" | "transfer-encoding") {
            headers.insert(name, value);
        }
    }
    headers
}

/// The sum of notify-handler's `paygate_notifications_received_total` samples with `label`.
fn received(metrics: &str, provider: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("paygate_notifications_received_total{"))
        .filter(|l| l.contains(&format!("provider=\"{provider}\"")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// After a payment is settled by its genuine notification, notify-handler is sent a forged copy
/// (signed by another key), a tampered one (a digit changed after signing) and an oversized one:
/// each is refused in the provider's format, kept as `rejected` with its reason, and counted;
/// the genuine one sent again is acknowledged as a duplicate. None changes the payment, its
/// history or what upstream heard.
pub async fn refused_and_replayed_notifications_change_nothing_and_are_flagged<P: Provider>(p: &P) {
    require(p, Capability::GenuineNotification);
    let h = Harness::start(p, |_| {}).await;
    let id = paid(&h, "cf-claims", AMOUNT).await;
    // The notification may come after the pay answer settled the payment (then it is decided
    // `ignored`), or settle it itself (`applied`): either way it is genuine and decided.
    let genuine = eventually_some("the genuine notification decided", DEADLINE, || async {
        h.system.notifications(id).await.into_iter().find(|r| r.status == "applied" || r.status == "ignored")
    })
    .await;
    // Let the simulator's own deliveries finish (it retries until acknowledged).
    eventually("every delivery decided", DEADLINE, || async {
        h.system.notifications(id).await.iter().all(|r| r.status != "received")
    })
    .await;
    let before =
        (h.states("cf-claims").await, h.events("cf-claims").len(), h.system.notifications(id).await.len());
    let headers = header_map(&genuine.headers);
    let body = genuine.body.clone().into_bytes();
    let delivered = crate::Delivered { headers: headers.clone(), body: body.clone() };
    let forged = p.forge(&delivered);
    let mut tampered = delivered.clone();
    let at = tampered.body.iter().position(u8::is_ascii_digit).expect("a digit in the body");
    tampered.body[at] = if tampered.body[at] == b'9' { b'1' } else { tampered.body[at] + 1 };
    let mut oversized = delivered.clone();
    oversized.body.resize(body.len() + 128 * 1024, b' ');

    let url = format!(
        "{}/notify/{}/{}",
        h.system.notify_http().expect("notify-handler runs"),
        h.account,
        h.trade_no("cf-claims").await
    );
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let post = |d: crate::Delivered| {
        let request = http.post(&url).headers(d.headers).body(d.body);
        async move { request.send().await.expect("notify-handler answers").status().as_u16() }
    };
    for (what, d, reason) in [
        ("forged", forged, "bad_signature"),
        ("tampered", tampered, "bad_signature"),
        ("oversized", oversized, "body_too_large"),
    ] {
        let status = post(d).await;
        assert!((400..500).contains(&status), "{}: the {what} one answered {status}", P::NAME);
        let rows = h.system.notifications(id).await;
        assert!(
            rows.iter().any(|r| r.status == "rejected" && r.reason.as_deref().is_some_and(|x| x.starts_with(reason))),
            "{}: the {what} one is kept as rejected ({reason}): {rows:?}",
            P::NAME
        );
    }
    let duplicates_before = received(&h.system.notify_metrics().await, &h.account, "outcome=\"duplicate\"");
    let status = post(delivered).await;
    assert!((200..300).contains(&status), "{}: the replayed genuine one answered {status}", P::NAME);
    let duplicates = received(&h.system.notify_metrics().await, &h.account, "outcome=\"duplicate\"");
    assert_eq!(duplicates, duplicates_before + 1, "{}: the replay is counted as a duplicate", P::NAME);
    let metrics = h.system.notify_metrics().await;
    let rejected: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("paygate_notifications_rejected_total{") && l.contains(&h.account))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(rejected, 3, "{}: three refusals counted:\n{metrics}", P::NAME);

    let rows = h.system.notifications(id).await;
    let after = (h.states("cf-claims").await, h.events("cf-claims").len(), rows.len());
    assert_eq!(after.0, before.0, "{}: the payment's history did not change", P::NAME);
    assert_eq!(after.1, before.1, "{}: upstream heard nothing more", P::NAME);
    assert_eq!(after.2, before.2 + 3, "{}: three rejected rows, no new claim: {rows:?}", P::NAME);
    assert_eq!(h.books("cf-claims").await.charges, 1, "{}", P::NAME);
    h.stop().await;
}

/// A payment waiting for its customer (a QR code nobody has scanned yet) is queried on the
/// ladder without raising anything: at a provider that makes the trade only when the customer
/// scans it, "no such trade" is what it says meanwhile. Then the customer pays and it succeeds.
pub async fn a_payment_waiting_for_its_customer_is_followed_without_alarm<P: Provider>(p: &P) {
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,10m".into()).await;
    h.pay("cf-waits", AMOUNT, p.waiting_method()).await;
    h.event("cf-waits", "payment.action_required").await;
    eventually("three follow-up queries", DEADLINE, || async { h.calls("cf-waits", "query").await >= 3 })
        .await;
    assert_eq!(h.open_attention("cf-waits").await, Vec::<String>::new(), "{}: nobody is asked", P::NAME);
    assert_eq!(h.system.payment("cf-waits").await.expect("written").state.as_str(), "action_required");
    h.customer_pays("cf-waits").await;
    h.event("cf-waits", "payment.succeeded").await;
    assert_eq!(h.books("cf-waits").await.charges, 1, "{}", P::NAME);
    h.stop().await;
}

/// A payment nobody pays expires: the scheduler closes it at the provider (or the provider's own
/// expiry notification comes first), upstream hears `payment.expired`, nobody is asked to look,
/// and the provider agrees: the customer can no longer pay it, and it took no money.
pub async fn an_expired_unpaid_payment_is_closed_at_the_provider<P: Provider>(p: &P) {
    let h = Harness::start(p, expiry_only).await;
    qr_expiring(&h, "cf-expires", 3).await;
    h.event("cf-expires", "payment.expired").await;
    assert_eq!(h.open_attention("cf-expires").await, Vec::<String>::new(), "{}: nobody is asked", P::NAME);
    // The provider agrees: the customer can no longer pay it, and no money moved.
    let trade = h.trade_no("cf-expires").await;
    let late = p.customer_pays(&trade, None).await;
    assert!(late.is_err(), "{}: the customer could still pay an expired payment", P::NAME);
    let charges = p.books(&trade).await.expect("the books answer").map_or(0, |b| b.charges);
    assert_eq!(charges, 0, "{}", P::NAME);
    h.stop().await;
}

/// Upstream closes a payment nobody has paid yet, well before its expiry. Either the provider
/// closed it (upstream hears `payment.closed`, and the customer can no longer pay), or, where
/// the provider makes the trade only when the customer scans or opens it and so cannot close it
/// yet (Alipay's QR code), paygate does not claim it closed and asks a person. Never "closed"
/// while the customer can still pay.
pub async fn a_close_never_claims_closed_what_the_customer_can_still_pay<P: Provider>(p: &P) {
    // A "no such trade" is believed at once: what decides is whether the provider can still take
    // the customer's money, not the not-found's age.
    let h = Harness::start(p, |o| {
        o.retry_tiers = "10m".into();
        for account in &mut o.accounts {
            account.settings.push(("NOT_FOUND_FINAL_AFTER".into(), "1ms".into()));
        }
    })
    .await;
    let method = p.waiting_method();
    let mut command = h.pay_command("cf-close", AMOUNT, method);
    command["expires_at"] =
        serde_json::json!((chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339());
    h.send_pay("cf-close", command).await;
    h.event("cf-close", "payment.action_required").await;
    h.close("cf-close").await;
    let trade = h.trade_no("cf-close").await;
    let closed = eventually_some("the close decided", DEADLINE, || async {
        if h.events("cf-close").iter().any(|e| e.kind == "payment.closed") {
            return Some(true);
        }
        let asked = h.open_attention("cf-close").await;
        asked.iter().any(|k| k == "close_before_the_customer_acts").then_some(false)
    })
    .await;
    if closed {
        let late = p.customer_pays(&trade, None).await;
        assert!(late.is_err(), "{}: closed, but the customer could still pay", P::NAME);
        let charges = p.books(&trade).await.expect("the books answer").map_or(0, |b| b.charges);
        assert_eq!(charges, 0, "{}", P::NAME);
    } else {
        assert_eq!(h.system.payment("cf-close").await.expect("written").state.as_str(), "action_required");
    }
    h.stop().await;
}

/// The customer pays just before the expiry and the notification is lost: the expiry close is
/// the first to ask, the provider answers that it is paid, and the payment succeeds (flagged
/// `paid_at_expiry`), never closed, with one charge.
pub async fn a_payment_paid_at_the_last_moment_wins_over_its_expiry<P: Provider>(p: &P) {
    let h = Harness::start(p, expiry_only).await;
    p.set_faults(&FaultSettings { notification_lost_ppm: ALWAYS, ..FaultSettings::default() })
        .await
        .expect("set the faults");
    qr_expiring(&h, "cf-last", 3).await;
    h.customer_pays("cf-last").await;
    let event = h.event("cf-last", "payment.succeeded").await;
    assert!(event.flags.iter().any(|f| f == "paid_at_expiry"), "{}: {:?}", P::NAME, event.flags);
    assert!(h.calls("cf-last", "close").await >= 1, "{}: found by the expiry close", P::NAME);
    let states = h.states("cf-last").await;
    assert!(!states.iter().any(|s| s == "closed" || s == "expired"), "{}: never closed: {states:?}", P::NAME);
    assert_eq!(h.books("cf-last").await.charges, 1, "{}", P::NAME);
    h.stop().await;
}

/// Our side closed while the provider still had the order open (our close won a race); the
/// customer pays it all the same: the notification moves the payment to `succeeded` flagged
/// `paid_after_close` (upstream decides), and a person is asked.
pub async fn paid_after_close_is_succeeded_and_flagged<P: Provider>(p: &P) {
    require(p, Capability::GenuineNotification);
    let h = Harness::start(p, |_| {}).await;
    h.pay("cf-late", AMOUNT, p.waiting_method()).await;
    h.event("cf-late", "payment.action_required").await;
    let id = h.payment("cf-late").await.id;
    h.system.close_our_side(id).await;
    h.customer_pays("cf-late").await;
    let event = h.event("cf-late", "payment.succeeded").await;
    assert_eq!(event.flags, ["paid_after_close"], "{}", P::NAME);
    eventually("a person is asked", DEADLINE, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM attention WHERE payment_id = $1 AND kind = 'paid_after_close'",
        )
        .bind(id)
        .fetch_one(&h.system.db.pool)
        .await
        .expect("count attention")
            == 1
    })
    .await;
    assert_eq!(h.books("cf-late").await.charges, 1, "{}", P::NAME);
    h.stop().await;
}

/// A barcode payment the customer must confirm on the phone is "in process" at first; the
/// dispatcher's follow-up queries poll it until the customer confirms, then it succeeds.
pub async fn a_barcode_payment_in_process_is_polled_to_success<P: Provider>(p: &P) {
    require(p, Capability::Pay(PayMethod::Barcode));
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    p.barcode_waits_for_the_customer().await.expect("barcode payments wait for the customer");
    h.pay("cf-barcode", AMOUNT, PayMethod::Barcode).await;
    // Asked at least once while the customer has not confirmed.
    eventually("a follow-up query", DEADLINE, || async { h.calls("cf-barcode", "query").await >= 1 }).await;
    let state = h.system.payment("cf-barcode").await.expect("written").state;
    assert!(["pending", "action_required"].contains(&state.as_str()), "{}: {state}", P::NAME);
    h.customer_pays("cf-barcode").await;
    h.event("cf-barcode", "payment.succeeded").await;
    assert_eq!(h.books("cf-barcode").await.charges, 1, "{}", P::NAME);
    assert_eq!(h.reversals("cf-barcode").await, 0, "{}: never reversed", P::NAME);
    h.stop().await;
}

/// A barcode payment the customer never confirms is reversed once it is older than the
/// provider's limit (here 3 s): the provider closes it, no money moved, and upstream hears
/// `payment.closed`.
pub async fn a_barcode_payment_never_confirmed_is_reversed<P: Provider>(p: &P) {
    require(p, Capability::Pay(PayMethod::Barcode));
    let h = Harness::start(p, |o| {
        o.retry_tiers = "1s,2s,3s,5s".into();
        for account in &mut o.accounts {
            account.settings.push(("REVERSE_AFTER".into(), "3s".into()));
        }
    })
    .await;
    p.barcode_waits_for_the_customer().await.expect("barcode payments wait for the customer");
    h.pay("cf-reverse", AMOUNT, PayMethod::Barcode).await;
    h.event("cf-reverse", "payment.closed").await;
    assert!(h.reversals("cf-reverse").await >= 1, "{}: reversed", P::NAME);
    assert_eq!(h.books("cf-reverse").await.charges, 0, "{}: no money moved", P::NAME);
    h.stop().await;
}

/// A payment for reconciliation: an amount whose fee at the simulators' 0.6 % is whole (6).
const RECON_AMOUNT: i64 = 1_000;

/// The day's trade bill, read through the adapter and reconciled by the engine against what
/// paygate recorded through the services, finds exactly the discrepancies planted in it: a line
/// dropped, an amount changed, a fee changed, a status changed, a payment billed twice, a
/// payment we never sent, a refund's amount changed, a refund dropped, a refund we never asked
/// for, and, where the bill has a status column, a status changed; and nothing about the clean
/// payment.
pub async fn the_days_bill_reconciled_finds_every_planted_discrepancy<P: Provider>(p: &P) {
    require(p, Capability::BillDownload);
    let h = Harness::start(p, |_| {}).await;
    let clean = paid(&h, "rc-clean", RECON_AMOUNT).await;
    let dropped = paid(&h, "rc-dropped", RECON_AMOUNT).await;
    let amount = paid(&h, "rc-amount", RECON_AMOUNT).await;
    let fee = paid(&h, "rc-fee", RECON_AMOUNT).await;
    let status = paid(&h, "rc-status", RECON_AMOUNT).await;
    let twice = paid(&h, "rc-twice", RECON_AMOUNT).await;
    let refunded = paid(&h, "rc-refunded", RECON_AMOUNT).await;
    h.refund("rc-refunded", "rf-amount", 300).await;
    let refund_amount = h.refund_in("rf-amount", "succeeded").await;
    h.refund("rc-refunded", "rf-dropped", 200).await;
    let refund_dropped = h.refund_in("rf-dropped", "succeeded").await;

    let day = p.bill_day();
    let currency = p.currency().as_str();
    let never = Uuid::now_v7();
    for f in [
        BillFault::new(BillFaultKind::DropLine).order(trade_no(dropped)),
        BillFault::new(BillFaultKind::Amount).order(trade_no(amount)).amount(999),
        BillFault::new(BillFaultKind::Fee).order(trade_no(fee)).fee(60),
        BillFault::new(BillFaultKind::DuplicatePayment).order(trade_no(twice)),
        BillFault::new(BillFaultKind::AddPayment)
            .order(trade_no(never))
            .amount(500)
            .currency(currency)
            .date(day),
        BillFault::new(BillFaultKind::Amount).refund(trade_no(refund_amount.id)).amount(350),
        BillFault::new(BillFaultKind::DropLine).refund(trade_no(refund_dropped.id)),
        BillFault::new(BillFaultKind::AddRefund)
            .order(trade_no(refunded))
            .refund(trade_no(Uuid::now_v7()))
            .amount(100)
            .currency(currency)
            .date(day),
    ] {
        p.plant_bill_fault(f).await.expect("plant a bill fault");
    }
    if p.can(Capability::BillLineStatus) {
        let f = BillFault::new(BillFaultKind::Status).order(trade_no(status)).status("REVERSED");
        p.plant_bill_fault(f).await.expect("plant a bill fault");
    }

    // Window 0: the provider's day is judged by its own bill.
    let batch = h.reconcile(Kind::Trade, day, 0).await;
    let found = h.discrepancies(&batch).await;
    let mut want = vec![
        ("amount_mismatch".to_owned(), Some(amount)),
        ("duplicate_payment".to_owned(), Some(twice)),
        ("fee_mismatch".to_owned(), Some(fee)),
        ("missing_at_provider".to_owned(), Some(dropped)),
        ("missing_locally".to_owned(), None),
        ("refund_mismatch".to_owned(), Some(refunded)), // the amount
        ("refund_mismatch".to_owned(), Some(refunded)), // dropped: missing at the provider
        ("refund_mismatch".to_owned(), Some(refunded)), // one we never asked for
    ];
    if p.can(Capability::BillLineStatus) {
        want.push(("status_mismatch".to_owned(), Some(status)));
    }
    want.sort();
    assert_eq!(found, want, "{}", P::NAME);
    assert!(found.iter().all(|(_, id)| *id != Some(clean)), "{}", P::NAME);
    assert_eq!(batch.state, "discrepancies", "{}", P::NAME);
    h.stop().await;
}

/// The day's settlement, reconciled against our payments and refunds of the provider's own day
/// (its zone's midnight to midnight: Beijing time for Alipay and WeChat Pay), matches. Our
/// records are moved to just after the provider's midnight, when that day has begun at the
/// provider and, in Beijing, the UTC day has not: counted by the UTC day, the totals would not
/// agree.
pub async fn the_days_settlement_is_our_payments_of_the_providers_own_day<P: Provider>(p: &P) {
    require(p, Capability::SettlementDownload);
    let h = Harness::start(p, |_| {}).await;
    let a = paid(&h, "st-a", RECON_AMOUNT).await;
    let b = paid(&h, "st-b", RECON_AMOUNT).await;
    h.refund("st-b", "st-rf", 400).await;
    h.refund_in("st-rf", "succeeded").await;
    let day = p.bill_day();
    let just_after_midnight = paygate::providers::provider_day::starts_at(day, p.adapter().day_offset())
        + chrono::Duration::minutes(30);
    for (table, column) in [("payments", "id"), ("refunds", "payment_id")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET succeeded_at = $1 WHERE {column} = ANY($2) AND succeeded_at IS NOT NULL"
        )))
        .bind(just_after_midnight)
        .bind(vec![a, b])
        .execute(&h.system.db.pool)
        .await
        .expect("move our records to the provider's early morning");
    }
    let batch = h.reconcile(Kind::Settlement, day, 3).await;
    assert_eq!(h.discrepancies(&batch).await, Vec::new(), "{}", P::NAME);
    assert_eq!(batch.state, "matched", "{}", P::NAME);
    h.stop().await;
}

/// A pay with `capture: manual` stops at `authorized` (no money taken); a refund of it is refused
/// at ingest (only captured money is refunded); a `capture` of the whole amount takes it once,
/// upstream hears `payment.captured` with the captured amount, and a second capture is answered
/// as a repeat, never sent again.
pub async fn an_authorised_payment_is_captured_in_full<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    authorised(&h, "cf-capture", AMOUNT).await;
    h.refund("cf-capture", "cf-capture-r0", AMOUNT).await;
    let (field, rule) = h.rejected("cf-capture", "command.refund").await;
    assert_eq!(field, "merchant_order_no", "{}: {rule}", P::NAME);
    assert!(rule.contains("only authorised, not captured"), "{}: {rule}", P::NAME);

    h.capture("cf-capture", AMOUNT).await;
    let captured = h.event("cf-capture", "payment.captured").await;
    assert_eq!(captured.state, "succeeded", "{}", P::NAME);
    assert_eq!(captured.captured, Some(p.money(AMOUNT)), "{}", P::NAME);
    let books = h.books("cf-capture").await;
    assert_eq!(books.charges, 1, "{}: captured once", P::NAME);
    assert_eq!(books.captured, Some(AMOUNT), "{}", P::NAME);
    let states = h.states("cf-capture").await;
    let tail: Vec<&str> = states.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, ["authorized", "capturing", "succeeded"], "{}: {states:?}", P::NAME);

    // The same capture again is a repeat: reported, not sent (a capture may take the adapter more
    // than one exchange: Stripe's search first; none is added).
    let exchanges = h.calls("cf-capture", "capture").await;
    assert!(exchanges >= 1, "{}", P::NAME);
    let heard = h.events("cf-capture").len();
    h.capture("cf-capture", AMOUNT).await;
    eventually("the repeat answered", DEADLINE, || async { h.events("cf-capture").len() > heard }).await;
    assert_eq!(h.calls("cf-capture", "capture").await, exchanges, "{}: no second capture request", P::NAME);
    // Another amount is a conflict, naming the amount.
    h.capture("cf-capture", AMOUNT - 1).await;
    let (field, rule) = h.rejected("cf-capture", "command.capture").await;
    assert_eq!(field, "amount", "{}: {rule}", P::NAME);
    assert_eq!(h.books("cf-capture").await.charges, 1, "{}", P::NAME);
    h.stop().await;
}

/// A capture of part of the authorisation takes that part and releases the rest: upstream hears
/// the captured amount, refunds apply to it (a refund above it is refused naming `amount`; one of
/// all of it refunds the payment fully), and a capture above the authorised amount is refused.
pub async fn a_partial_capture_releases_the_rest_and_refunds_apply_to_what_was_captured<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    authorised(&h, "cf-partial", AMOUNT).await;
    h.capture("cf-partial", AMOUNT + 100).await;
    let (field, rule) = h.rejected("cf-partial", "command.capture").await;
    assert_eq!(field, "amount", "{}: {rule}", P::NAME);
    assert!(rule.contains("exceeds the authorised"), "{}: {rule}", P::NAME);

    let part = AMOUNT / 2;
    h.capture("cf-partial", part).await;
    let captured = h.event("cf-partial", "payment.captured").await;
    assert_eq!(captured.captured, Some(p.money(part)), "{}", P::NAME);
    assert_eq!(captured.amount, p.money(AMOUNT), "{}: the amount stays the authorised one", P::NAME);
    let books = h.books("cf-partial").await;
    assert_eq!((books.charges, books.captured), (1, Some(part)), "{}", P::NAME);
    let payment = h.payment("cf-partial").await;
    assert_eq!(payment.captured, Some(p.money(part)), "{}", P::NAME);

    h.refund("cf-partial", "cf-partial-r1", part + 1).await;
    let (field, rule) = h.rejected("cf-partial", "command.refund").await;
    assert_eq!(field, "amount", "{}: {rule}", P::NAME);
    h.refund("cf-partial", "cf-partial-r2", part).await;
    h.refund_in("cf-partial-r2", "succeeded").await;
    h.event("cf-partial", "payment.refunded").await;
    let books = h.books("cf-partial").await;
    assert_eq!(books.refunds_held(), part, "{}: the captured part was refunded, no more", P::NAME);
    h.stop().await;
}

/// A `void` releases the authorisation: upstream hears `payment.voided`, nothing was ever taken,
/// and a capture after it is refused naming the order.
pub async fn an_authorisation_is_voided_and_takes_nothing<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    authorised(&h, "cf-void", AMOUNT).await;
    h.void("cf-void").await;
    let voided = h.event("cf-void", "payment.voided").await;
    assert_eq!(voided.captured, None, "{}", P::NAME);
    let states = h.states("cf-void").await;
    let tail: Vec<&str> = states.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, ["authorized", "voiding", "voided"], "{}: {states:?}", P::NAME);
    h.capture("cf-void", AMOUNT).await;
    let (field, rule) = h.rejected("cf-void", "command.capture").await;
    assert_eq!(field, "merchant_order_no", "{}: {rule}", P::NAME);
    assert!(rule.contains("the payment is voided"), "{}: {rule}", P::NAME);
    let books = h.books("cf-void").await;
    assert_eq!((books.charges, books.captured), (0, None), "{}: nothing was taken", P::NAME);
    assert_eq!(h.calls("cf-void", "capture").await, 0, "{}", P::NAME);
    h.stop().await;
}

/// An authorisation neither captured nor voided reaches its expiry (`AUTHORIZATION_EXPIRY`, 2 s
/// here; the provider's own is far away): the scheduler's authorisation expiry scan asks for a
/// void, the provider releases it, upstream hears `payment.voided`, the history says `expired`,
/// nothing was taken, and the scheduler counts the void it sent.
pub async fn an_authorisation_left_uncaptured_is_voided_at_its_expiry<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let h = Harness::start(p, |o| {
        o.retry_tiers = "1s,2s,3s,5s".into();
        o.schedulers = 1;
        o.scheduler_config.push(("AUTHORIZATION_EXPIRY".into(), "2s,2s".into()));
    })
    .await;
    authorised(&h, "cf-expiry", AMOUNT).await;
    let voided = h.event("cf-expiry", "payment.voided").await;
    assert_eq!(voided.captured, None, "{}", P::NAME);
    let id = h.payment("cf-expiry").await.id;
    let history = h.system.history(id).await;
    let last = history.iter().rev().find(|r| r.refund_id.is_none()).expect("a history");
    assert_eq!(
        (last.to_state.as_str(), last.event.as_str()),
        ("voided", "expired"),
        "{}: {history:?}",
        P::NAME
    );
    assert!(h.calls("cf-expiry", "void").await >= 1, "{}: the scan's void was sent", P::NAME);
    let books = h.books("cf-expiry").await;
    assert_eq!((books.charges, books.captured), (0, None), "{}: nothing was taken", P::NAME);
    let metrics = h.system.scheduler_metrics(0).await;
    assert!(
        paygate_e2e::system::metric(
            &metrics,
            "paygate_scheduler_enqueued_total{kind=\"authorization_void\"}"
        ) >= 1,
        "{}: the scheduler counts its void",
        P::NAME
    );
    h.stop().await;
}

/// The provider releases an authorisation left uncaptured at its own expiry (the simulator's set
/// to 2 s; paygate's scan is days away): its notification, confirmed by a query, makes the payment
/// `voided` with the history's event `expired`; no void was sent, nothing was taken.
pub async fn an_authorisation_the_provider_releases_itself_is_voided<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    p.authorizations_expire_after(std::time::Duration::from_secs(2))
        .await
        .expect("set the provider's expiry");
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    authorised(&h, "cf-released", AMOUNT).await;
    h.event("cf-released", "payment.voided").await;
    let id = h.payment("cf-released").await.id;
    let history = h.system.history(id).await;
    let last = history.iter().rev().find(|r| r.refund_id.is_none()).expect("a history");
    assert_eq!(
        (last.from_state.as_deref(), last.to_state.as_str(), last.event.as_str()),
        (Some("authorized"), "voided", "expired"),
        "{}: {history:?}",
        P::NAME
    );
    assert_eq!(h.calls("cf-released", "void").await, 0, "{}: the provider released it", P::NAME);
    let books = h.books("cf-released").await;
    assert_eq!((books.charges, books.captured), (0, None), "{}: nothing was taken", P::NAME);
    h.stop().await;
}

/// The capture reaches the provider but its answer is lost: the payment stays `capturing` (it may
/// have been sent: never re-sent blindly), the dispatcher's follow-up query finds it captured, and
/// upstream hears `payment.captured` once; one capture request went out, and the money was taken
/// once.
pub async fn a_capture_whose_answer_is_lost_stays_capturing_until_a_query_finds_it<P: Provider>(p: &P) {
    require(p, Capability::ManualCapture);
    let h = Harness::start(p, |o| o.retry_tiers = "1s,2s,3s,5s".into()).await;
    authorised(&h, "cf-lost-capture", AMOUNT).await;
    let trade = h.trade_no("cf-lost-capture").await;
    p.script(&trade, simkit::Operation::Capture, simkit::Fault::LostResponse)
        .await
        .expect("script a lost answer");
    h.capture("cf-lost-capture", AMOUNT).await;
    let captured = h.event("cf-lost-capture", "payment.captured").await;
    assert_eq!(captured.captured, Some(p.money(AMOUNT)), "{}", P::NAME);
    let states = h.states("cf-lost-capture").await;
    let tail: Vec<&str> = states.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, ["authorized", "capturing", "succeeded"], "{}: {states:?}", P::NAME);
    let id = h.payment("cf-lost-capture").await.id;
    let posts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM provider_exchanges WHERE payment_id = $1 AND operation = 'capture' AND request_method = 'POST'",
    )
    .bind(id)
    .fetch_one(&h.system.db.pool)
    .await
    .expect("count the capture requests");
    assert_eq!(posts, 1, "{}: the capture was sent once", P::NAME);
    assert!(h.calls("cf-lost-capture", "query").await >= 1, "{}: a query decided", P::NAME);
    let heard = h.events("cf-lost-capture").iter().filter(|e| e.kind == "payment.captured").count();
    assert_eq!(heard, 1, "{}: upstream hears of the capture once", P::NAME);
    assert_eq!(h.books("cf-lost-capture").await.charges, 1, "{}: taken once", P::NAME);
    h.stop().await;
}
