//! The upstream side of a bench run: publishes `count` pay commands (each the pass's provider's
//! own, [`BenchProvider::pay_command`]: `direct` for mockpay, `barcode` for Alipay, `qr` for
//! WeChat Pay), a refund after a share of the successes, and times each command from its publish
//! to the arrival of its final event (`payment.succeeded` / `payment.failed`, `refund.succeeded` /
//! `refund.failed` / `refund.refused`) on upstream's own events queue, a durable quorum queue like
//! the floor's sink. Where payments wait for the customer (WeChat Pay's QR code), the driver plays
//! the customer too: on a payment's `payment.action_required` it has the [`Customer`] pay it at
//! the simulator; that step is inside the payment's time.
//!
//! The driver publishes from `publishers` tasks on one confirm channel, each awaiting its own
//! confirm (as the floor's driver does); with `--via http` the same tasks send each command to
//! ingest's HTTP API instead ([`super::http_upstream`]), each awaiting its answer, which is timed
//! as the create's latency. With `rate`, commands start on a fixed schedule (open loop) instead of
//! as fast as the tasks go. With `inflight > 0` at most that many payments are in
//! the system at once (a payment leaves the window when its last final event arrives), so
//! latency is not just the length of the backlog.

use super::http_upstream::{HttpUpstream, Via};
use super::providers::{BenchProvider, Customer};
use super::stats::Samples;
use crate::system::MERCHANT;
use anyhow::Context;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use paygate::broker::envelope::Envelope;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

/// The events that end a payment's or a refund's story, as routing-key patterns on the events
/// exchange (`<kind>.<order_type>`), plus rejections (which end a command's).
const FINAL_EVENTS: [&str; 6] = [
    "payment.succeeded.#",
    "payment.failed.#",
    "refund.succeeded.#",
    "refund.failed.#",
    "refund.refused.#",
    "command.rejected.#",
];
/// The event that shows the customer what to do (bound only when the pass has a customer).
const ACTION_REQUIRED: &str = "payment.action_required.#";
const EVENTS_QUEUE: &str = "bench.upstream.events";

/// What to drive.
#[derive(Debug, Clone)]
pub struct Drive {
    /// The provider of every awaited payment.
    pub provider: BenchProvider,
    pub count: u64,
    /// Refunds per thousand payments (spread evenly over the run).
    pub refund_permille: u64,
    pub publishers: usize,
    /// At most this many payments in the system (0: no bound).
    pub inflight: usize,
    pub max_secs: u64,
    /// Send every other payment (the odd ones) to this provider instead of mockpay, without
    /// waiting for it: only mockpay's payments are timed and counted, so that a second provider
    /// that is slow or failing shows in mockpay's figures only through paygate, never through
    /// the driver's window.
    pub second_provider: Option<String>,
    /// How commands are sent: published, or over ingest's HTTP API.
    pub via: Via,
    /// Start pay commands at this many a second (open loop); `None`: as fast as the tasks go.
    pub rate: Option<u32>,
}

impl Drive {
    /// Whether payment `i` goes to the second provider.
    fn is_second(&self, i: u64) -> bool {
        self.second_provider.is_some() && i % 2 == 1
    }

    /// The payments whose final events are awaited.
    pub fn awaited(&self) -> u64 {
        if self.second_provider.is_some() { self.count.div_ceil(2) } else { self.count }
    }
}

/// What a drive measured. Times are microseconds since the first publish.
#[derive(Debug, Default)]
pub struct Driven {
    pub payments_succeeded: u64,
    pub payments_failed: u64,
    pub refunds_succeeded: u64,
    pub refunds_failed: u64,
    pub rejected: u64,
    /// Payments whose payment final event arrived.
    pub payments_final: u64,
    pub refunds_sent: u64,
    pub pay_latency: Samples,
    pub refund_latency: Samples,
    /// Over HTTP: each create's answer time (request sent → answer in).
    pub create_latency: Samples,
    /// Over HTTP: when the last create's answer came in (µs since the first send).
    pub last_create_us: u64,
    pub last_final_us: u64,
    pub last_publish_us: u64,
    pub timed_out: bool,
    /// Payments sent to the second provider (not awaited).
    pub second_sent: u64,
    /// A few rejection or failure reasons, for the report.
    pub problems: Vec<String>,
}

/// Whether payment `i` gets a refund: `permille` of the payments, spread evenly.
pub fn gets_refund(i: u64, permille: u64) -> bool {
    (i + 1) * permille / 1000 > i * permille / 1000
}

fn order_no(i: u64) -> String {
    format!("bench-{i:07}")
}

fn index_of(order_no: &str) -> Option<u64> {
    order_no.strip_prefix("bench-")?.parse().ok()
}

/// Per-payment progress.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Stage {
    #[default]
    Sent,
    /// Waiting for the customer, who is paying it.
    Paying,
    /// Succeeded; its refund is on the way.
    Refunding,
    Complete,
}

struct Shared {
    t0: Instant,
    drive: Drive,
    commands: Channel,
    commands_exchange: String,
    /// Publish time (µs since t0) + 1 per payment; 0 = not yet.
    pay_sent: Vec<AtomicU64>,
    refund_sent: Vec<AtomicU64>,
    state: Mutex<(Vec<Stage>, Driven)>,
    complete: AtomicU64,
    all_complete: Notify,
    window: Option<Semaphore>,
    errors: AtomicU64,
    /// The simulated customer, when payments wait for one.
    customer: Option<Customer>,
    /// The HTTP API's client, with `--via http`.
    http: Option<HttpUpstream>,
}

/// What the driver does next for a payment, after one of its events.
enum Next {
    /// Refund payment `i`.
    Refund(u64),
    /// The customer pays payment `i`, whose trade number at the provider is the `String`.
    CustomerPays(u64, String),
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    async fn publish(&self, routing_key: &str, envelope: Envelope<Value>) -> anyhow::Result<()> {
        let message = envelope.to_amqp()?;
        let confirm = self
            .commands
            .basic_publish(
                self.commands_exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                &message.body,
                message.properties,
            )
            .await?
            .await?;
        anyhow::ensure!(confirm.is_ack(), "the broker refused a command: {confirm:?}");
        Ok(())
    }

    async fn send_pay(&self, i: u64) -> anyhow::Result<()> {
        let no = order_no(i);
        let amount = format!("{}.{:02}", 10 + i % 990, i % 100);
        let mut payload = self.drive.provider.pay_command(&no, &amount);
        let second = self.drive.is_second(i);
        if let (true, Some(provider)) = (second, &self.drive.second_provider) {
            payload["provider"] = json!(provider);
        }
        self.pay_sent[idx(i)].store(self.now_us() + 1, Relaxed);
        match &self.http {
            Some(http) => {
                let started = self.now_us();
                http.post("/v1/payments", &payload).await?;
                let answered = self.now_us();
                let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
                guard.1.create_latency.push(answered.saturating_sub(started));
                guard.1.last_create_us = guard.1.last_create_us.max(answered);
            }
            None => self.publish("pay", Envelope::new("command.pay", no.clone(), payload)).await?,
        }
        if second {
            // Not awaited: it leaves the window as soon as it is sent.
            let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let (stages, d) = &mut *guard;
            d.second_sent += 1;
            self.complete(stages, i);
        }
        Ok(())
    }

    async fn send_refund(&self, i: u64) -> anyhow::Result<()> {
        let no = order_no(i);
        let payload = json!({
            "merchant_id": MERCHANT, "refund_no": format!("refund-{i:07}"), "merchant_order_no": no,
            "amount": "1.00", "currency": self.drive.provider.currency(), "requested_by": "bench", "reason": "bench"
        });
        self.refund_sent[idx(i)].store(self.now_us() + 1, Relaxed);
        match &self.http {
            Some(http) => http.post("/v1/refunds", &payload).await.map(drop),
            None => self.publish("refund", Envelope::new("command.refund", no, payload)).await,
        }
    }

    /// Marks payment `i` complete (once).
    fn complete(&self, stages: &mut [Stage], i: u64) {
        if stages[idx(i)] == Stage::Complete {
            return;
        }
        stages[idx(i)] = Stage::Complete;
        if let Some(w) = &self.window {
            w.add_permits(1);
        }
        if !self.drive.is_second(i) && self.complete.fetch_add(1, Relaxed) + 1 == self.drive.awaited() {
            self.all_complete.notify_one();
        }
    }

    /// Applies one event; returns what to do next for its payment, if anything.
    fn on_event(&self, envelope: &Envelope<Value>) -> Option<Next> {
        let now = self.now_us();
        let kind = envelope.message_type.as_str();
        let order = envelope.payload.get("merchant_order_no").and_then(Value::as_str)?;
        let i = index_of(order).filter(|i| *i < self.drive.count)?;
        if self.drive.is_second(i) {
            if kind == "command.rejected" {
                let msg = envelope.payload.get("message").and_then(Value::as_str).unwrap_or("?");
                let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
                note(&mut guard.1, format!("{order} (second provider): command.rejected: {msg}"));
            }
            return None;
        }
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (stages, d) = &mut *guard;
        let stage = stages[idx(i)];
        let since = |sent: &AtomicU64| now.saturating_sub(sent.load(Relaxed).saturating_sub(1));
        let mut next = None;
        match kind {
            "payment.action_required" if stage == Stage::Sent && self.customer.is_some() => {
                let payment_id = envelope.payload.get("payment_id").and_then(Value::as_str);
                match payment_id.and_then(|id| id.parse::<uuid::Uuid>().ok()) {
                    Some(id) => {
                        stages[idx(i)] = Stage::Paying;
                        next = Some(Next::CustomerPays(i, paygate::providers::adapter::trade_no(id)));
                    }
                    None => note(d, format!("{order}: payment.action_required without a payment_id")),
                }
            }
            "payment.succeeded" | "payment.failed" if matches!(stage, Stage::Sent | Stage::Paying) => {
                d.pay_latency.push(since(&self.pay_sent[idx(i)]));
                d.payments_final += 1;
                d.last_final_us = d.last_final_us.max(now);
                if kind == "payment.failed" {
                    d.payments_failed += 1;
                    note(d, format!("{order}: payment.failed: {}", reason(envelope)));
                    self.complete(stages, i);
                } else {
                    d.payments_succeeded += 1;
                    if gets_refund(i, self.drive.refund_permille) {
                        stages[idx(i)] = Stage::Refunding;
                        next = Some(Next::Refund(i));
                    } else {
                        self.complete(stages, i);
                    }
                }
            }
            "refund.succeeded" | "refund.failed" | "refund.refused" if stage == Stage::Refunding => {
                d.refund_latency.push(since(&self.refund_sent[idx(i)]));
                d.last_final_us = d.last_final_us.max(now);
                if kind == "refund.succeeded" {
                    d.refunds_succeeded += 1;
                } else {
                    d.refunds_failed += 1;
                    note(d, format!("{order}: {kind}: {}", reason(envelope)));
                }
                self.complete(stages, i);
            }
            "command.rejected" if stage != Stage::Complete => {
                d.rejected += 1;
                let msg = envelope.payload.get("message").and_then(Value::as_str).unwrap_or("?");
                note(d, format!("{order}: command.rejected: {msg}"));
                d.last_final_us = d.last_final_us.max(now);
                self.complete(stages, i);
            }
            _ => {} // a repeat (at-least-once delivery), or an event of a finished story
        }
        next
    }

    /// Does what an event asked for (a refund, the customer's payment), in a task of its own.
    fn follow(self: &Arc<Self>, next: Next) {
        let shared = self.clone();
        tokio::spawn(async move {
            let (what, i, done) = match next {
                Next::Refund(i) => ("refund", i, shared.send_refund(i).await),
                Next::CustomerPays(i, trade_no) => {
                    let pays = match &shared.customer {
                        Some(customer) => customer.pays(&trade_no).await,
                        None => Ok(()),
                    };
                    ("the customer's payment of", i, pays)
                }
            };
            if let Err(e) = done {
                shared.errors.fetch_add(1, Relaxed);
                eprintln!("bench: {what} {i}: {e:#}");
            }
        });
    }
}

fn idx(i: u64) -> usize {
    usize::try_from(i).expect("a payment index fits in usize")
}

fn reason(envelope: &Envelope<Value>) -> &str {
    envelope.payload.get("reason").and_then(Value::as_str).unwrap_or("?")
}

fn note(d: &mut Driven, problem: String) {
    if d.problems.len() < 5 {
        d.problems.push(problem);
    }
}

/// Declares upstream's events queue (durable, quorum) and binds it to the final events (and to
/// `payment.action_required` with `actions`).
async fn bind_events(conn: &Connection, events_exchange: &str, actions: bool) -> anyhow::Result<Channel> {
    let ch = conn.create_channel().await?;
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    ch.queue_declare(EVENTS_QUEUE.into(), QueueDeclareOptions { durable: true, ..Default::default() }, args)
        .await?;
    let keys = FINAL_EVENTS.iter().copied().chain(actions.then_some(ACTION_REQUIRED));
    for key in keys {
        ch.queue_bind(
            EVENTS_QUEUE.into(),
            events_exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(ch)
}

/// Runs the drive against the system at `amqp_url`, with the simulated `customer` where payments
/// wait for one, printing progress every 5 s to stderr.
pub async fn run(
    amqp_url: &str,
    commands_exchange: &str,
    events_exchange: &str,
    drive: Drive,
    customer: Option<Customer>,
    http: Option<HttpUpstream>,
) -> anyhow::Result<Driven> {
    anyhow::ensure!(
        (drive.via == Via::Http) == http.is_some(),
        "the drive goes {:?}, but an HTTP client was{} given",
        drive.via,
        if http.is_some() { "" } else { " not" }
    );
    let conn =
        Connection::connect(amqp_url, ConnectionProperties::default()).await.context("upstream connects")?;
    let consume = bind_events(&conn, events_exchange, customer.is_some()).await?;
    consume.basic_qos(512, BasicQosOptions::default()).await?;
    let commands = conn.create_channel().await?;
    commands.confirm_select(ConfirmSelectOptions::default()).await?;
    let n = idx(drive.count);
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        window: (drive.inflight > 0).then(|| Semaphore::new(drive.inflight)),
        drive: drive.clone(),
        commands,
        commands_exchange: commands_exchange.to_owned(),
        pay_sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        refund_sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        state: Mutex::new((vec![Stage::Sent; n], Driven::default())),
        complete: AtomicU64::new(0),
        all_complete: Notify::new(),
        errors: AtomicU64::new(0),
        customer,
        http,
    });

    let mut deliveries = consume
        .basic_consume(
            EVENTS_QUEUE.into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let sink = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = deliveries.next().await {
                if let Ok(envelope) = Envelope::<Value>::from_json(&delivery.data)
                    && let Some(next) = shared.on_event(&envelope)
                {
                    shared.follow(next);
                }
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        })
    };

    let next = Arc::new(AtomicU64::new(0));
    let last_publish = Arc::new(AtomicU64::new(0));
    let mut publishers = Vec::new();
    for _ in 0..drive.publishers.max(1) {
        let (shared, next, last_publish) = (shared.clone(), next.clone(), last_publish.clone());
        publishers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= shared.drive.count {
                    break;
                }
                if let Some(w) = &shared.window {
                    match w.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                }
                if let Some(rate) = shared.drive.rate {
                    // Open loop: payment i starts at i / rate seconds, however long the others take.
                    let at = Duration::from_micros(i.saturating_mul(1_000_000) / u64::from(rate.max(1)));
                    tokio::time::sleep_until(tokio::time::Instant::from_std(shared.t0 + at)).await;
                }
                if let Err(e) = shared.send_pay(i).await {
                    shared.errors.fetch_add(1, Relaxed);
                    eprintln!("bench: pay {i}: {e:#}");
                }
                last_publish.fetch_max(shared.now_us(), Relaxed);
            }
        }));
    }

    let deadline = tokio::time::sleep(Duration::from_secs(drive.max_secs));
    tokio::pin!(deadline);
    let five = Duration::from_secs(5);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + five, five);
    let timed_out = loop {
        if shared.complete.load(Relaxed) >= drive.awaited() {
            break false;
        }
        tokio::select! {
            _ = shared.all_complete.notified() => break false,
            _ = &mut deadline => break true,
            _ = tick.tick() => eprintln!(
                "bench:   t={}s published={} complete={}",
                shared.t0.elapsed().as_secs(),
                next.load(Relaxed).min(drive.count),
                shared.complete.load(Relaxed)
            ),
        }
    };
    if timed_out {
        publishers.iter().for_each(tokio::task::JoinHandle::abort);
    } else {
        // Every payment is final; over HTTP a create's answer may still be on its way (the final
        // event can arrive first): its time is part of the figures.
        for p in publishers {
            let _ = p.await;
        }
    }
    sink.abort();
    let _ = conn.close(200, "bench done".into()).await;

    let mut guard = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    let mut driven = std::mem::take(&mut guard.1);
    driven.timed_out = timed_out;
    driven.last_publish_us = last_publish.load(Relaxed);
    driven.refunds_sent = shared.refund_sent.iter().filter(|t| t.load(Relaxed) > 0).count() as u64;
    let errors = shared.errors.load(Relaxed);
    if errors > 0 {
        note(&mut driven, format!("{errors} publishes or customer payments failed"));
    }
    Ok(driven)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_are_spread_evenly_at_the_share() {
        let count = |permille| (0..10_000).filter(|i| gets_refund(*i, permille)).count();
        assert_eq!(count(100), 1000);
        assert_eq!(count(0), 0);
        assert_eq!(count(1000), 10_000);
        assert_eq!(count(333), 3330);
        assert!(gets_refund(9, 100) && !gets_refund(0, 100));
        assert_eq!(index_of(&order_no(42)), Some(42));
    }
}
