//! Connecting to RabbitMQ, and staying connected.
//!
//! [`connect_once`] makes one attempt and returns a [`ConnectError`] naming the URL without its
//! password; the service runtime turns that into its one-line message at start.
//!
//! A long-running component (a [`Consumer`](super::consumer::Consumer), the
//! [`OutboxRelay`](super::outbox::OutboxRelay)) runs under a [`Supervisor`]: a loop that connects
//! (backing off, jittered and capped, with every failed attempt logged at warn), declares the
//! topology, and runs the component's *session* on the connection until it ends. A session ends
//! with `Ok` when shutdown was asked for, and with an error when the connection or a channel
//! broke (the broker restarted, a network fault, the connection was closed by an operator); the
//! supervisor then reconnects and runs a new session, which opens new channels and consumers, and
//! logs the recovery at info. Nothing is carried over between sessions: deliveries that were not
//! acknowledged on a dead channel go back to their queue by themselves, and consumers deduplicate
//! what comes again (`processed_messages`).
//!
//! Each component has its own connection (and supervisor), so one breaking does not stop the
//! others; a service with four shard consumers and a relay holds five connections.
//!
//! `AMQP_URL` may name the nodes of a cluster, separated by commas
//! (`amqp://u:p@rabbit-1:5672/%2f,amqp://u:p@rabbit-2:5672/%2f`). Each attempt tries them in
//! turn, starting one further along each time (so components spread over the nodes and a dead
//! node costs one failed try, not a backoff), and stops at the first that accepts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::topology::{DeclareError, Topology};

/// How long one connection attempt may take (TCP, TLS and the AMQP handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to RabbitMQ at {url}: {source}")]
    Failed {
        /// The URL without its password.
        url: String,
        #[source]
        source: lapin::Error,
    },
    #[error("cannot connect to RabbitMQ at {url}: no answer within {CONNECT_TIMEOUT:?}")]
    TimedOut { url: String },
}

impl ConnectError {
    /// The URL that was tried, without its password.
    pub fn url(&self) -> &str {
        match self {
            ConnectError::Failed { url, .. } | ConnectError::TimedOut { url } => url,
        }
    }

    /// Whether the broker answered and refused us (bad credentials or vhost): retrying will not
    /// help until the configuration changes.
    pub fn is_refused(&self) -> bool {
        matches!(self, ConnectError::Failed { source, .. } if source.is_amqp_error())
    }
}

/// `url` with the password removed (`amqp://user:secret@host/vh` → `amqp://user@host/vh`), from
/// every node's URL when it names several.
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        return node_urls(url).map(redact_node_url).collect::<Vec<_>>().join(",");
    }
    redact_node_url(url)
}

fn redact_node_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The node URLs of an `AMQP_URL`: one, or several separated by commas (see the module
/// documentation). Blank entries are ignored.
pub fn node_urls(url: &str) -> impl Iterator<Item = &str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty())
}

/// Where the next attempt starts in a list of node URLs: one further along each time.
static NEXT_NODE: AtomicUsize = AtomicUsize::new(0);

/// One attempt to connect: each node of `url` in turn (see the module documentation) until one
/// accepts; the error is the last node's. `connection_name` shows in the management UI (use the
/// service name).
pub async fn connect_once(url: &str, connection_name: &str) -> Result<Connection, ConnectError> {
    let nodes: Vec<&str> = node_urls(url).collect();
    let Some(&first) = nodes.first() else {
        return connect_node(url, connection_name).await;
    };
    let start = NEXT_NODE.fetch_add(1, Ordering::Relaxed) % nodes.len();
    let mut last = None;
    for node in nodes.iter().cycle().skip(start).take(nodes.len()) {
        match connect_node(node, connection_name).await {
            Ok(conn) => return Ok(conn),
            Err(e) if e.is_refused() => return Err(e),
            Err(e) => {
                if nodes.len() > 1 {
                    tracing::debug!(error = %e, "RabbitMQ node did not answer; trying the next");
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(ConnectError::TimedOut { url: redact_url(first) }))
}

async fn connect_node(url: &str, connection_name: &str) -> Result<Connection, ConnectError> {
    let props = ConnectionProperties::default().with_connection_name(connection_name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(source)) => Err(ConnectError::Failed { url: redact_url(url), source }),
        Err(_) => Err(ConnectError::TimedOut { url: redact_url(url) }),
    }
}

/// The default reconnection backoff: from 100 ms, doubling, capped at 10 s, jittered, forever.
pub fn reconnect_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
}

/// Connects, retrying with `backoff` until it succeeds or `shutdown` is cancelled (then `None`).
/// Each failed attempt is logged at warn, the success after failures at info.
pub async fn connect_with_retry(
    url: &str,
    connection_name: &str,
    backoff: ExponentialBuilder,
    shutdown: &CancellationToken,
) -> Option<Connection> {
    let mut delays = backoff.build();
    let mut failures = 0u32;
    loop {
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = connect_once(url, connection_name) => r,
        };
        match attempt {
            Ok(conn) => {
                if failures > 0 {
                    tracing::info!(url = %redact_url(url), failures, "connected to RabbitMQ");
                }
                return Some(conn);
            }
            Err(e) => {
                failures += 1;
                let delay = delays.next().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %e, failures, retry_in = ?delay, "RabbitMQ connection attempt failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Why a session ended other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("AMQP error: {0}")]
    Amqp(#[from] lapin::Error),
    #[error(transparent)]
    Declare(#[from] DeclareError),
    #[error("{0}")]
    Other(String),
}

/// Keeps a component connected: connect, declare, run a session, and again after a failure.
/// See the module documentation.
pub struct Supervisor {
    url: String,
    connection_name: String,
    topology: Option<Arc<Topology>>,
    backoff: ExponentialBuilder,
    connected: watch::Sender<bool>,
}

/// A session that ran at least this long was healthy: the next failure starts the backoff over.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);

impl Supervisor {
    /// A supervisor for one component; `connection_name` names its connection in the management
    /// UI (e.g. `provider-dispatcher/shard-2`).
    pub fn new(url: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            topology: None,
            backoff: reconnect_backoff(),
            connected: watch::Sender::new(false),
        }
    }

    /// Declares `topology` on every new connection, before the session starts.
    pub fn declaring(mut self, topology: Arc<Topology>) -> Self {
        self.topology = Some(topology);
        self
    }

    pub fn with_backoff(mut self, backoff: ExponentialBuilder) -> Self {
        self.backoff = backoff;
        self
    }

    /// Whether a session is running on a live connection (for `/readyz`).
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    pub fn connection_name(&self) -> &str {
        &self.connection_name
    }

    /// Runs sessions until `shutdown` is cancelled. `session` gets each new connection and must
    /// return `Ok(())` only when it stopped because of shutdown.
    pub async fn run<F, Fut>(&self, shutdown: &CancellationToken, mut session: F)
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<(), SessionError>>,
    {
        let url = redact_url(&self.url);
        let mut delays = self.backoff.build();
        let mut lost_at: Option<Instant> = None;
        let mut failures = 0u32;
        while !shutdown.is_cancelled() {
            let error = match self.one_session(shutdown, &mut session, &mut lost_at, failures).await {
                Ended::Shutdown => break,
                Ended::Broke { ran, error } => {
                    if ran >= HEALTHY_SESSION {
                        delays = self.backoff.build();
                        failures = 0;
                    }
                    error
                }
                Ended::Unavailable(error) => error,
            };
            if shutdown.is_cancelled() {
                break;
            }
            failures += 1;
            lost_at.get_or_insert_with(Instant::now);
            let delay = delays.next().unwrap_or(Duration::from_secs(10));
            tracing::warn!(connection = %self.connection_name, %url, %error, failures, retry_in = ?delay,
                "RabbitMQ unavailable, reconnecting");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.connected.send_replace(false);
    }

    /// Connects, declares and runs one session.
    async fn one_session<F, Fut>(
        &self,
        shutdown: &CancellationToken,
        session: &mut F,
        lost_at: &mut Option<Instant>,
        failures: u32,
    ) -> Ended
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<(), SessionError>>,
    {
        let conn = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            c = connect_once(&self.url, &self.connection_name) => match c {
                Ok(c) => Arc::new(c),
                Err(e) => return Ended::Unavailable(SessionError::Other(e.to_string())),
            },
        };
        if let Some(topology) = &self.topology {
            let declared = async {
                let channel = conn.create_channel().await?;
                topology.declare(&channel).await?;
                let _ = channel.close(200, "declared".into()).await;
                Ok::<_, SessionError>(())
            };
            if let Err(e) = declared.await {
                let _ = conn.close(200, "bye".into()).await;
                return Ended::Unavailable(e);
            }
        }
        if let Some(since) = lost_at.take() {
            tracing::info!(connection = %self.connection_name, url = %redact_url(&self.url), failures,
                down_for = ?since.elapsed(), "RabbitMQ connection recovered");
        }
        self.connected.send_replace(true);
        let started = Instant::now();
        let result = session(conn.clone()).await;
        self.connected.send_replace(false);
        let _ = conn.close(200, "bye".into()).await;
        match result {
            Ok(()) => Ended::Shutdown,
            Err(error) => Ended::Broke { ran: started.elapsed(), error },
        }
    }
}

enum Ended {
    Shutdown,
    Broke { ran: Duration, error: SessionError },
    Unavailable(SessionError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_the_password_only() {
        assert_eq!(redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest@127.0.0.1:5672/%2f");
        assert_eq!(redact_url("amqps://u:p@ss@h/vh?heartbeat=5"), "amqps://u@h/vh?heartbeat=5");
        assert_eq!(redact_url("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(
            redact_url("amqp://a:s1@n1:5672/%2f, amqp://b:s2@n2:5672/%2f"),
            "amqp://a@n1:5672/%2f,amqp://b@n2:5672/%2f"
        );
        assert_eq!(redact_url("amqp://user@h"), "amqp://user@h");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_clear_error() {
        // Port 1 on loopback: nothing listens there.
        let err = connect_once("amqp://guest:secret@127.0.0.1:1/%2f", "test").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("amqp://guest@127.0.0.1:1/%2f"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(!err.is_refused());
    }

    /// The machine's RabbitMQ (README), or `AMQP_URL` when the tests are pointed elsewhere.
    fn live_url() -> String {
        std::env::var("AMQP_URL").unwrap_or_else(|_| crate::runtime::config::DEFAULT_AMQP_URL.to_owned())
    }

    #[tokio::test]
    async fn a_cluster_list_with_a_dead_node_connects_to_a_live_one_every_time() {
        // Every rotation of the start must get past the dead node (port 1: nothing listens).
        let list = format!("amqp://guest:secret@127.0.0.1:1/%2f,{}", live_url());
        for _ in 0..3 {
            let conn = connect_once(&list, "test").await.expect("the live node accepts");
            assert!(conn.status().connected());
            conn.close(200, "done".into()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_cluster_list_of_dead_nodes_names_one_without_its_password() {
        let list = "amqp://guest:s1@127.0.0.1:1/%2f,amqp://guest:s2@127.0.0.1:2/%2f";
        let text = connect_once(list, "test").await.unwrap_err().to_string();
        assert!(text.contains("amqp://guest@127.0.0.1:"), "{text}");
        assert!(!text.contains("s1") && !text.contains("s2"), "{text}");
    }
}
