//! The upstream side of a chaos run, built to outlive broker restarts as a real upstream must:
//! commands are published with confirms and published again (same message id, so ingest
//! de-duplicates) until confirmed; events arrive on a durable quorum queue of upstream's own
//! (nothing is lost while upstream is disconnected), consumed by a loop that reconnects.

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use paygate::broker::envelope::Envelope;
use paygate::messages::events::OrderEvent;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Mutex as AsyncMutex;
use uuid::Uuid;

const EVENTS_QUEUE: &str = "chaos.upstream.events";
/// A connection attempt that takes longer is given up (a broker that is starting may accept the
/// TCP connection and never answer the AMQP handshake).
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

async fn connect(amqp_url: &str) -> anyhow::Result<Connection> {
    tokio::time::timeout(CONNECT_WITHIN, Connection::connect(amqp_url, ConnectionProperties::default()))
        .await
        .map_err(|_| anyhow::anyhow!("no AMQP handshake within {CONNECT_WITHIN:?}"))?
        .map_err(Into::into)
}

/// One order event as it arrived.
#[derive(Debug, Clone)]
pub struct Arrived {
    pub event: OrderEvent,
    /// The envelope's message id (the same for every copy of one published event).
    pub message_id: Uuid,
}

/// Every event upstream received, by merchant order number, in arrival order.
#[derive(Default, Clone)]
pub struct Received {
    by_order: HashMap<String, Vec<Arrived>>,
    /// `command.rejected` events: the order key and the payload.
    pub rejected: Vec<(String, Value)>,
    /// Deliveries that were not an order event or a rejection.
    pub unreadable: u64,
    pub deliveries: u64,
}

impl Received {
    pub fn of(&self, merchant_order_no: &str) -> &[Arrived] {
        self.by_order.get(merchant_order_no).map(Vec::as_slice).unwrap_or(&[])
    }

    fn push(&mut self, arrived: Arrived) {
        self.by_order.entry(arrived.event.merchant_order_no.clone()).or_default().push(arrived);
    }

    #[cfg(test)]
    pub(crate) fn push_for_tests(&mut self, arrived: Arrived) {
        self.push(arrived);
    }
}

pub struct Upstream {
    amqp_url: String,
    commands_exchange: String,
    /// The publishing connection and its channel, with a generation number: a publish that fails
    /// drops the connection only if it is still the one it used, so that thousands of publishes
    /// failing together after a broker restart do not each drop the one the others just made.
    publisher: AsyncMutex<Option<(u64, Connection, Channel)>>,
    generations: std::sync::atomic::AtomicU64,
    pub received: Arc<Mutex<Received>>,
    /// Publishes that had to be sent again (the broker went away before confirming).
    pub republished: std::sync::atomic::AtomicU64,
    consumer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(consumer) = self.consumer.lock().unwrap().take() {
            consumer.abort();
        }
    }
}

impl Upstream {
    /// Declares upstream's events queue, bound to every event, and starts consuming it.
    pub async fn connect(amqp_url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        let events_exchange = format!("{prefix}.events");
        let conn = connect(amqp_url).await?;
        let channel = conn.create_channel().await?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        channel
            .queue_declare(
                EVENTS_QUEUE.into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                args,
            )
            .await?;
        channel
            .queue_bind(
                EVENTS_QUEUE.into(),
                events_exchange.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let _ = conn.close(200, "declared".into()).await;
        let upstream = Arc::new(Self {
            amqp_url: amqp_url.to_owned(),
            commands_exchange: format!("{prefix}.commands"),
            publisher: AsyncMutex::new(None),
            generations: Default::default(),
            received: Arc::new(Mutex::new(Received::default())),
            republished: Default::default(),
            consumer: Mutex::new(None),
        });
        let consumer = tokio::spawn(consume_forever(amqp_url.to_owned(), upstream.received.clone()));
        *upstream.consumer.lock().unwrap() = Some(consumer);
        Ok(upstream)
    }

    /// Publishes a command until the broker confirms it (or `within` passes), publishing the same
    /// envelope again after any failure. Returns its message id (a rejection names it).
    pub async fn command(
        &self,
        message_type: &str,
        order_key: &str,
        payload: Value,
        within: Duration,
    ) -> anyhow::Result<Uuid> {
        let envelope = Envelope::new(message_type, order_key, payload);
        let key = message_type.strip_prefix("command.").unwrap_or(message_type).to_owned();
        let message = envelope.to_amqp()?;
        let deadline = Instant::now() + within;
        let mut first = true;
        loop {
            if !first {
                self.republished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            first = false;
            let attempt = match self.channel().await {
                Ok((generation, channel)) => self
                    .publish_on(&channel, &key, &message.body, message.properties.clone())
                    .await
                    .map_err(|e| (Some(generation), e)),
                Err(e) => Err((None, e)),
            };
            match attempt {
                Ok(()) => return Ok(envelope.message_id),
                Err((generation, e)) if Instant::now() < deadline => {
                    progress(&format!("publish {message_type} for {order_key} again: {e}"));
                    if let Some(generation) = generation {
                        self.forget(generation).await;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err((_, e)) => {
                    anyhow::bail!("{message_type} for {order_key} not confirmed within {within:?}: {e}")
                }
            }
        }
    }

    /// The publishing channel and its generation, connecting when there is none (or it broke).
    async fn channel(&self) -> anyhow::Result<(u64, Channel)> {
        let mut guard = self.publisher.lock().await;
        if let Some((generation, conn, channel)) = guard.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok((*generation, channel.clone()));
        }
        let conn = connect(&self.amqp_url).await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        *guard = Some((generation, conn, channel.clone()));
        Ok((generation, channel))
    }

    /// Drops the publishing connection if it is still generation `generation`.
    async fn forget(&self, generation: u64) {
        let mut guard = self.publisher.lock().await;
        if guard.as_ref().is_some_and(|(current, _, _)| *current == generation) {
            *guard = None;
        }
    }

    async fn publish_on(
        &self,
        channel: &Channel,
        key: &str,
        body: &[u8],
        properties: lapin::BasicProperties,
    ) -> anyhow::Result<()> {
        let confirm = tokio::time::timeout(Duration::from_secs(10), async {
            channel
                .basic_publish(
                    self.commands_exchange.as_str().into(),
                    key.into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    body,
                    properties,
                )
                .await?
                .await
        })
        .await
        .map_err(|_| anyhow::anyhow!("no confirm within 10 s"))??;
        anyhow::ensure!(confirm.is_ack(), "the broker refused the command (nack)");
        anyhow::ensure!(confirm.take_message().is_none(), "the command was returned unroutable");
        Ok(())
    }
}

/// Progress lines of the run go to stderr, so the report on stdout stays clean; each carries the
/// seconds since the run began.
pub fn progress(line: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let at = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("chaos [{at:7.1}s] {line}");
}

async fn consume_forever(amqp_url: String, sink: Arc<Mutex<Received>>) {
    loop {
        if let Err(e) = consume(&amqp_url, &sink).await {
            progress(&format!("events consumer reconnects: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn consume(amqp_url: &str, sink: &Arc<Mutex<Received>>) -> anyhow::Result<()> {
    let conn = connect(amqp_url).await?;
    let channel = conn.create_channel().await?;
    channel.basic_qos(500, BasicQosOptions::default()).await?;
    let mut deliveries = channel
        .basic_consume(
            EVENTS_QUEUE.into(),
            "chaos-upstream".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        {
            let mut received = sink.lock().unwrap();
            received.deliveries += 1;
            match Envelope::<Value>::from_json(&delivery.data) {
                Ok(envelope) if envelope.message_type == "command.rejected" => {
                    received.rejected.push((envelope.order_key.clone(), envelope.payload));
                }
                Ok(envelope) => match serde_json::from_value::<OrderEvent>(envelope.payload) {
                    Ok(event) => received.push(Arrived { event, message_id: envelope.message_id }),
                    Err(_) => received.unreadable += 1,
                },
                Err(_) => received.unreadable += 1,
            }
        }
        delivery.ack(BasicAckOptions::default()).await?;
    }
    anyhow::bail!("the events stream ended")
}
