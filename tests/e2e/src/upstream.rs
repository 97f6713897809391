//! The upstream side of the contract (docs/messages.md): publish commands to the commands
//! exchange in the envelope, and collect every event paygate publishes, from a queue bound to the
//! events exchange with `#`, and every reply sent to its own reply queue ([`Upstream::reply_queue`],
//! what a command's `reply_to` names).

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use paygate::broker::envelope::Envelope;
use paygate::messages::events::OrderEvent;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// An upstream system connected to one paygate system's vhost.
pub struct Upstream {
    channel: Channel,
    _connection: Connection,
    commands_exchange: String,
    events: Arc<Mutex<Vec<Envelope<Value>>>>,
    reply_queue: String,
    replies: Arc<Mutex<Vec<Envelope<Value>>>>,
}

/// Collects every envelope delivered to `queue` into `sink`, acknowledging each.
async fn collect(
    channel: Channel,
    queue: &str,
    sink: Arc<Mutex<Vec<Envelope<Value>>>>,
) -> anyhow::Result<()> {
    let mut deliveries = channel
        .basic_consume(queue.into(), "upstream".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    tokio::spawn(async move {
        let _keep = channel;
        while let Some(Ok(delivery)) = deliveries.next().await {
            if let Ok(envelope) = Envelope::<Value>::from_json(&delivery.data) {
                sink.lock().unwrap().push(envelope);
            }
            let _ = delivery.ack(BasicAckOptions::default()).await;
        }
    });
    Ok(())
}

impl Upstream {
    /// Connects to `amqp_url` and starts collecting events from `events_exchange`.
    pub async fn connect(
        amqp_url: &str,
        commands_exchange: &str,
        events_exchange: &str,
    ) -> anyhow::Result<Self> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let consume = connection.create_channel().await?;
        let queue = consume
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        consume
            .queue_bind(
                queue.name().clone(),
                events_exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let events = Arc::new(Mutex::new(Vec::new()));
        collect(consume, queue.name().as_str(), events.clone()).await?;
        let replies_channel = connection.create_channel().await?;
        let reply_queue = replies_channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?
            .name()
            .to_string();
        let replies = Arc::new(Mutex::new(Vec::new()));
        collect(replies_channel, &reply_queue, replies.clone()).await?;
        Ok(Self {
            channel,
            _connection: connection,
            commands_exchange: commands_exchange.to_owned(),
            events,
            reply_queue,
            replies,
        })
    }

    /// Publishes a command (`command.pay`, …) with `payload`, confirmed; returns its message id.
    pub async fn command(&self, message_type: &str, order_key: &str, payload: Value) -> Uuid {
        self.send(Envelope::new(message_type, order_key, payload)).await
    }

    /// Publishes an envelope to the commands exchange (routing key: the type without `command.`).
    pub async fn send(&self, envelope: Envelope<Value>) -> Uuid {
        let key = envelope.message_type.strip_prefix("command.").unwrap_or(&envelope.message_type).to_owned();
        let message = envelope.to_amqp().expect("a publishable envelope");
        self.publish_raw(&key, &message.body, message.properties).await;
        envelope.message_id
    }

    /// Publishes raw bytes to the commands exchange (for malformed input).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8], properties: lapin::BasicProperties) {
        let confirm = self
            .channel
            .basic_publish(
                self.commands_exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await
            .expect("publish a command");
        confirm.await.expect("the broker confirms the command");
    }

    /// The queue replies come to: name it as a command's `reply_to`.
    pub fn reply_queue(&self) -> &str {
        &self.reply_queue
    }

    /// Every message received on [`Upstream::reply_queue`] so far, in arrival order.
    pub fn replies(&self) -> Vec<Envelope<Value>> {
        self.replies.lock().unwrap().clone()
    }

    /// Waits for a reply whose `message_type` is `message_type` and whose envelope satisfies `pred`.
    pub async fn wait_for_reply(
        &self,
        message_type: &str,
        within: Duration,
        pred: impl Fn(&Envelope<Value>) -> bool,
    ) -> Envelope<Value> {
        paygate_test_support::eventually_some(&format!("a {message_type} reply"), within, || async {
            self.replies().into_iter().find(|e| e.message_type == message_type && pred(e))
        })
        .await
    }

    /// Every event received so far.
    pub fn events(&self) -> Vec<Envelope<Value>> {
        self.events.lock().unwrap().clone()
    }

    /// The order events received so far about `payment_id`, in arrival order.
    pub fn order_events(&self, merchant_order_no: &str) -> Vec<OrderEvent> {
        self.events()
            .into_iter()
            .filter_map(|e| serde_json::from_value::<OrderEvent>(e.payload).ok())
            .filter(|e| e.merchant_order_no == merchant_order_no)
            .collect()
    }

    /// Waits for an order event of `kind` (e.g. `payment.succeeded`) about `merchant_order_no`.
    pub async fn wait_for(&self, merchant_order_no: &str, kind: &str, within: Duration) -> OrderEvent {
        paygate_test_support::eventually_some(&format!("{kind} for {merchant_order_no}"), within, || async {
            self.order_events(merchant_order_no).into_iter().find(|e| e.kind == kind)
        })
        .await
    }

    /// Waits for an event whose `message_type` is `message_type` and whose payload satisfies `pred`.
    pub async fn wait_for_message(
        &self,
        message_type: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Envelope<Value> {
        paygate_test_support::eventually_some(&format!("a {message_type} event"), within, || async {
            self.events().into_iter().find(|e| e.message_type == message_type && pred(&e.payload))
        })
        .await
    }
}
