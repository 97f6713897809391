//! Confirmed, persistent publishing.
//!
//! A [`Publisher`] owns a channel in confirm mode. A publish succeeds only when the broker has
//! acknowledged the message (for quorum queues: written to a majority). With
//! [`Routing::Mandatory`] the message must also reach a queue: if no binding matches, the broker
//! returns it and the publish fails with [`PublishError::Unroutable`] instead of the message
//! silently vanishing. Use [`Topology::routing_for`] to pick: mandatory everywhere but the events
//! exchange.
//!
//! A publisher whose channel broke stays broken (every publish fails); the session it belongs to
//! ends and the [`Supervisor`](super::connection::Supervisor) builds a new one.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use serde::Serialize;

use super::envelope::{Envelope, EnvelopeError};
use super::topology::Topology;

/// Whether a message must reach at least one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Published with the mandatory flag; a returned message is an error.
    Mandatory,
    /// Nobody listening is fine (upstream's events).
    BestEffort,
}

impl Topology {
    /// [`Routing::Mandatory`] for our own exchanges, [`Routing::BestEffort`] for the events
    /// exchange (see [`Topology::requires_route`]).
    pub fn routing_for(&self, exchange: &str) -> Routing {
        if self.requires_route(exchange) { Routing::Mandatory } else { Routing::BestEffort }
    }
}

/// A publish failed; the message may or may not have reached the broker, so publishing again
/// (same message id) is the way to be sure.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("invalid {what} {name:?}: longer than 255 bytes")]
    InvalidName { what: &'static str, name: String },
    #[error("publishing to {exchange:?} failed: {source}")]
    Amqp {
        exchange: String,
        #[source]
        source: lapin::Error,
    },
    #[error("the broker refused (nacked) the message for {exchange:?} / {routing_key:?}")]
    Nacked { exchange: String, routing_key: String },
    #[error(
        "no confirm from the broker within {timeout:?} for {exchange:?} (is it blocked by a resource alarm?)"
    )]
    ConfirmTimeout { exchange: String, timeout: std::time::Duration },
    #[error("the channel used to publish to {exchange:?} is not in confirm mode")]
    NotConfirmed { exchange: String },
    #[error("unroutable: no queue is bound for {exchange:?} / {routing_key:?} ({reply})")]
    Unroutable { exchange: String, routing_key: String, reply: String },
}

/// A channel in confirm mode.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

/// A message sent but not yet confirmed; [`Pending::confirmed`] waits for the broker.
pub struct Pending {
    confirm: PublisherConfirm,
    exchange: String,
    routing_key: String,
    routing: Routing,
}

impl Publisher {
    /// Opens a channel on `conn` and puts it in confirm mode.
    pub async fn new(conn: &Connection) -> Result<Self, lapin::Error> {
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Self { channel })
    }

    /// Whether the channel is still usable.
    pub fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    /// Closes the channel (waiting for the broker), if it is open. Close it before the connection:
    /// a channel dropped while its connection closes makes lapin log a spurious error.
    pub async fn close(&self) {
        if self.is_open() {
            let _ = self.channel.close(200, "publisher closed".into()).await;
        }
    }

    /// Publishes an envelope and waits for the broker's confirm.
    pub async fn publish<P: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        envelope: &Envelope<P>,
        routing: Routing,
    ) -> Result<(), PublishError> {
        self.send(exchange, routing_key, envelope, routing).await?.confirmed().await
    }

    /// Sends an envelope without waiting for the confirm, so many can be in flight at once.
    pub async fn send<P: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        envelope: &Envelope<P>,
        routing: Routing,
    ) -> Result<Pending, PublishError> {
        let msg = envelope.to_amqp()?;
        self.send_raw(exchange, routing_key, &msg.body, msg.properties, routing).await
    }

    /// Sends any body with any properties (dead-lettering a body that is not an envelope).
    pub async fn send_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        routing: Routing,
    ) -> Result<Pending, PublishError> {
        let ex = ShortString::try_new(exchange)
            .map_err(|_| PublishError::InvalidName { what: "exchange", name: exchange.to_owned() })?;
        let rk = ShortString::try_new(routing_key)
            .map_err(|_| PublishError::InvalidName { what: "routing key", name: routing_key.to_owned() })?;
        let opts = BasicPublishOptions { mandatory: routing == Routing::Mandatory, immediate: false };
        let confirm = self
            .channel
            .basic_publish(ex, rk, opts, body, properties)
            .await
            .map_err(|source| PublishError::Amqp { exchange: exchange.to_owned(), source })?;
        Ok(Pending { confirm, exchange: exchange.to_owned(), routing_key: routing_key.to_owned(), routing })
    }
}

impl Pending {
    /// [`Pending::confirmed`], giving up after `timeout` (the message may still be confirmed
    /// later; treat the channel as unreliable and publish again on a new one).
    pub async fn confirmed_within(self, timeout: std::time::Duration) -> Result<(), PublishError> {
        let exchange = self.exchange.clone();
        tokio::time::timeout(timeout, self.confirmed())
            .await
            .unwrap_or(Err(PublishError::ConfirmTimeout { exchange, timeout }))
    }

    /// Waits for the broker's confirm: `Ok` only for an ack of a message that was routed (when
    /// routing is mandatory).
    pub async fn confirmed(self) -> Result<(), PublishError> {
        let Pending { confirm, exchange, routing_key, routing } = self;
        let confirmation =
            confirm.await.map_err(|source| PublishError::Amqp { exchange: exchange.clone(), source })?;
        match confirmation {
            // A mandatory message that no queue took comes back (basic.return) before its ack.
            Confirmation::Ack(Some(returned)) if routing == Routing::Mandatory => {
                Err(PublishError::Unroutable {
                    exchange,
                    routing_key,
                    reply: format!("{} {}", returned.reply_code, returned.reply_text),
                })
            }
            Confirmation::Ack(_) => Ok(()),
            Confirmation::Nack(_) => Err(PublishError::Nacked { exchange, routing_key }),
            // Cannot happen: the channel is put in confirm mode when the Publisher is made.
            Confirmation::NotRequested => Err(PublishError::NotConfirmed { exchange }),
        }
    }
}
