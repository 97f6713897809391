//! Forwarding to the order shards: a long-lived confirm-mode channel on a supervised connection.
//!
//! The webhook publishes each stored notification straight away and waits for the broker's
//! confirm before it acknowledges (not through the outbox: the relay's polling would add its
//! latency to every answer, and the provider is waiting). [`ShardPublisher::run`] keeps one
//! connection and one [`Publisher`] under a [`Supervisor`]; while the broker is down there is no
//! publisher, every publish fails at once, and the webhook answers non-2xx so the provider
//! retries. A request that finds no publisher waits for one up to the confirm timeout (the
//! moment after start-up, a reconnect in progress) before it gives up. The supervisor
//! reconnects with backoff and the provider's next retry goes through.

use paygate::broker::connection::{SessionError, Supervisor};
use paygate::broker::publisher::{PublishError, Publisher};
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
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
    current: Arc<watch::Sender<Option<Publisher>>>,
    topology: Arc<Topology>,
    confirm_timeout: Duration,
}

impl ShardPublisher {
    pub fn new(topology: Arc<Topology>, confirm_timeout: Duration) -> Self {
        Self { current: Arc::new(watch::Sender::new(None)), topology, confirm_timeout }
    }

    /// The open publisher, waiting up to the confirm timeout for one.
    async fn get(&self) -> Option<Publisher> {
        let mut rx = self.current.subscribe();
        let open = |p: &Option<Publisher>| p.as_ref().is_some_and(Publisher::is_open);
        let found = tokio::time::timeout(self.confirm_timeout, rx.wait_for(open)).await;
        found.ok()?.ok().and_then(|p| p.clone())
    }

    fn set(&self, publisher: Option<Publisher>) {
        self.current.send_replace(publisher);
    }

    /// Publishes `work` to the orders exchange (it lands on the order's shard) and waits for the
    /// confirm.
    pub async fn forward(&self, work: &OrderWork) -> Result<(), ForwardError> {
        let publisher = self.get().await.ok_or(ForwardError::NotConnected)?;
        // Every forward of one stored notification is one message (the dispatcher applies it
        // once): `to_shard` sends it under the work's stable id, as the scheduler's sweep does.
        let pending = to_shard(&self.topology, work).publish(&publisher).await?;
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
