//! The demo's side of the message contract, exactly as a real upstream system does it
//! (docs/messages.md): commands go to the commands exchange in the envelope, confirmed and
//! mandatory; events come back on an exclusive, server-named queue bound to the events exchange
//! for the demo's order type (and for `command.rejected.*`). Waiting for an event is driven by
//! arrivals (a watch channel), never by sleeping.

use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use paygate::broker::connection::connect_once;
use paygate::broker::envelope::Envelope;
use paygate::broker::publisher::{Publisher, Routing};
use paygate::broker::topology::Topology;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use futures_util::StreamExt;

/// Every envelope received so far, and a counter that ticks with each arrival.
struct Inbox {
    received: Mutex<Vec<Envelope<Value>>>,
    /// Arrivals so far; `None` once the consumer has stopped (the connection was lost).
    arrivals: watch::Sender<Option<usize>>,
}

impl Inbox {
    fn new() -> Self {
        Self { received: Mutex::new(Vec::new()), arrivals: watch::channel(Some(0)).0 }
    }

    /// Keeps `envelope`, then tells the waiters.
    fn arrived(&self, envelope: Envelope<Value>) {
        let n = {
            let mut received = self.received.lock().expect("inbox lock");
            received.push(envelope);
            received.len()
        };
        self.arrivals.send_replace(Some(n));
    }

    /// The consumer stopped: no more will arrive.
    fn closed(&self) {
        self.arrivals.send_replace(None);
    }

    /// See [`Upstream::wait_for`].
    async fn wait_for<T>(
        &self,
        what: &str,
        deadline: Instant,
        mut pick: impl FnMut(&Envelope<Value>) -> Option<T>,
    ) -> Result<T, String> {
        let mut arrivals = self.arrivals.subscribe();
        loop {
            // Marked seen before looking, so that what arrives while we look wakes the wait
            // below (marked after, its arrival was taken as seen and missed until the next: the
            // smoke's last event once waited out the demo's whole deadline so).
            let open = arrivals.borrow_and_update().is_some();
            let received = self.received.lock().expect("inbox lock").clone();
            if let Some(found) = received.iter().find_map(&mut pick) {
                return Ok(found);
            }
            if !open {
                return Err(format!("{what}: the connection to RabbitMQ was lost"));
            }
            match tokio::time::timeout_at(deadline, arrivals.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(format!("{what}: the event consumer stopped")),
                Err(_) => return Err(format!("{what}: not seen before the deadline")),
            }
        }
    }
}

/// A connected upstream: publishes commands and collects the events of one order type.
pub struct Upstream {
    connection: Connection,
    publisher: Publisher,
    consume: Channel,
    commands_exchange: String,
    queue: String,
    inbox: Arc<Inbox>,
}

impl Upstream {
    /// Connects to RabbitMQ at `amqp_url`, and binds an exclusive queue to the events exchange
    /// for `payment.*.<order_type>`, `refund.*.<order_type>` and `command.rejected.*`.
    pub async fn connect(amqp_url: &str, topology: &Topology, order_type: &str) -> anyhow::Result<Self> {
        let connection = connect_once(amqp_url, "payctl-demo").await.map_err(|e| {
            anyhow::anyhow!("{e} (AMQP_URL / --amqp-url: the RabbitMQ of the running paygate system)")
        })?;
        let publisher = Publisher::new(&connection).await?;
        let consume = connection.create_channel().await?;
        let queue = consume
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let events_exchange = topology.events_exchange();
        for key in
            [format!("payment.*.{order_type}"), format!("refund.*.{order_type}"), "command.rejected.*".into()]
        {
            consume
                .queue_bind(
                    queue.name().clone(),
                    events_exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot bind to the events exchange {events_exchange:?} ({e}); it is declared by the \
                         services at start: are they running with the same AMQP_PREFIX (scripts/up)?"
                    )
                })?;
        }
        let mut deliveries = consume
            .basic_consume(
                queue.name().clone(),
                "payctl-demo".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let inbox = Arc::new(Inbox::new());
        let sink = inbox.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = deliveries.next().await {
                // Anything that is not an envelope is not ours to judge here: skip it.
                if let Ok(envelope) = Envelope::<Value>::from_json(&delivery.data) {
                    sink.arrived(envelope);
                }
            }
            sink.closed();
        });
        Ok(Self {
            connection,
            publisher,
            consume,
            commands_exchange: topology.commands_exchange(),
            queue: queue.name().to_string(),
            inbox,
        })
    }

    /// The name of the exclusive queue events arrive on (what `reply_to` names).
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Publishes `envelope` to the commands exchange with the routing key of its type without
    /// `command.`, and waits for the broker to confirm it reached ingest's queue.
    pub async fn send(&self, envelope: &Envelope<Value>) -> anyhow::Result<Uuid> {
        let key = envelope.message_type.strip_prefix("command.").unwrap_or(&envelope.message_type);
        self.publisher.publish(&self.commands_exchange, key, envelope, Routing::Mandatory).await?;
        Ok(envelope.message_id)
    }

    /// Every envelope received from index `from` on.
    pub fn received_since(&self, from: usize) -> Vec<Envelope<Value>> {
        self.inbox.received.lock().expect("inbox lock").get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Waits until `pick` accepts a received envelope (checking those already received first), or
    /// `deadline` passes. The error says what was awaited.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        deadline: Instant,
        pick: impl FnMut(&Envelope<Value>) -> Option<T>,
    ) -> Result<T, String> {
        self.inbox.wait_for(what, deadline, pick).await
    }

    /// A change notifier for printing events as they arrive.
    pub fn arrivals(&self) -> watch::Receiver<Option<usize>> {
        self.inbox.arrivals.subscribe()
    }

    /// Closes the channels and the connection.
    pub async fn close(self) {
        self.publisher.close().await;
        let _ = self.consume.close(200, "demo done".into()).await;
        let _ = self.connection.close(200, "demo done".into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(kind: &str) -> Envelope<Value> {
        Envelope::new(kind, "m-1:o-1", Value::Null)
    }

    #[tokio::test]
    async fn an_event_that_arrives_while_the_received_ones_are_looked_at_is_not_missed() {
        let inbox = Arc::new(Inbox::new());
        inbox.arrived(event("payment.action_required"));
        let mut arriving = Some(inbox.clone());
        let found = inbox
            .wait_for("payment.succeeded", Instant::now() + Duration::from_secs(10), |e| {
                // The awaited event arrives while the first is being looked at, and no other after it.
                if let Some(inbox) = arriving.take() {
                    inbox.arrived(event("payment.succeeded"));
                }
                (e.message_type == "payment.succeeded").then_some(())
            })
            .await;
        assert_eq!(found, Ok(()));
    }

    #[tokio::test]
    async fn what_arrived_before_the_connection_was_lost_is_still_found_and_then_the_loss_is_said() {
        let inbox = Inbox::new();
        inbox.arrived(event("payment.succeeded"));
        inbox.closed();
        let deadline = Instant::now() + Duration::from_secs(10);
        let pick = |kind: &'static str| move |e: &Envelope<Value>| (e.message_type == kind).then_some(());
        assert_eq!(inbox.wait_for("succeeded", deadline, pick("payment.succeeded")).await, Ok(()));
        assert_eq!(
            inbox.wait_for("refunded", deadline, pick("refund.succeeded")).await,
            Err("refunded: the connection to RabbitMQ was lost".to_owned())
        );
    }
}
