//! Forwarding to the order shards: a long-lived confirm-mode channel on a supervised connection.
//!
//! The webhook publishes each stored notification straight away and waits for the broker's
//! confirm before it acknowledges (not through the outbox: the relay's polling would add its
//! latency to every answer, and the provider is waiting). [`ShardPublisher::run`] keeps one
//! connection and one [`Publisher`] under a [`Supervisor`]; while the broker is down there is no
//! publisher, every publish fails at once, and the webhook answers non-2xx so the provider
//! retries. The supervisor reconnects with backoff and the next retry goes through.

use paygate::broker::connection::{SessionError, Supervisor};
use paygate::broker::envelope::Envelope;
use paygate::broker::publisher::{PublishError, Publisher};
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a notification could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the broker is not connected")]
    NotConnected,
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The current publisher, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct ShardPublisher {
    current: Arc<RwLock<Option<Publisher>>>,
    topology: Arc<Topology>,
    confirm_timeout: Duration,
}

impl ShardPublisher {
    pub fn new(topology: Arc<Topology>, confirm_timeout: Duration) -> Self {
        Self { current: Arc::new(RwLock::new(None)), topology, confirm_timeout }
    }

    fn get(&self) -> Option<Publisher> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, publisher: Option<Publisher>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = publisher;
    }

    /// Publishes `work` to the orders exchange (it lands on the order's shard) and waits for the
    /// confirm.
    pub async fn forward(&self, work: &OrderWork) -> Result<(), ForwardError> {
        let publisher = self.get().filter(Publisher::is_open).ok_or(ForwardError::NotConnected)?;
        let envelope = Envelope::new(work.message_type(), work.payment_id().to_string(), work);
        let exchange = self.topology.orders_exchange();
        let routing = self.topology.routing_for(&exchange);
        let pending = publisher.send(&exchange, &envelope.order_key, &envelope, routing).await?;
        pending.confirmed_within(self.confirm_timeout).await?;
        Ok(())
    }

    /// Keeps a publisher connected until `shutdown`.
    pub async fn run(&self, supervisor: &Supervisor, shutdown: &CancellationToken) {
        supervisor
            .run(shutdown, |conn| {
                let this = self.clone();
                let stop = shutdown.clone();
                async move {
                    let publisher = Publisher::new(&conn).await?;
                    this.set(Some(publisher.clone()));
                    let mut tick = tokio::time::interval(Duration::from_millis(200));
                    let ended = loop {
                        tokio::select! {
                            _ = stop.cancelled() => break Ok(()),
                            _ = tick.tick() => {
                                if !conn.status().connected() || !publisher.is_open() {
                                    break Err(SessionError::Other("the publishing channel was lost".into()));
                                }
                            }
                        }
                    };
                    this.set(None);
                    publisher.close().await;
                    if ended.is_ok() {
                        let _ = conn.close(200, "shutting down".into()).await;
                    }
                    ended
                }
            })
            .await;
        self.set(None);
    }
}
