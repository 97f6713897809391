//! The parts every service application has, built in one place: the HTTP listener with the
//! operational endpoints, the PostgreSQL pool (migrated), the RabbitMQ topology (declared), and
//! the metrics registry. A service's `startup.rs` builds a [`ServiceCore`], adds its own routes
//! and workers, and serves.

use super::config::CommonConfig;
use super::database;
use super::health::{self, HealthState};
use super::readiness::Reachability;
use super::startup_error::StartupError;
use crate::broker::connection::{Supervisor, connect_once};
use crate::broker::topology::Topology;
use axum::Router;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct ServiceCore {
    pub name: &'static str,
    pub common: CommonConfig,
    pub db: PgPool,
    pub topology: Arc<Topology>,
    /// Register the service's own metrics here before calling [`ServiceCore::serve`].
    pub registry: Registry,
    listener: TcpListener,
    local_addr: SocketAddr,
}

/// What a service runs besides HTTP: long-lived tasks that watch the shutdown token and return
/// `Ok` once they have finished or handed back their work.
pub type Workers = JoinSet<anyhow::Result<()>>;

impl ServiceCore {
    /// Binds `http_addr`, connects to PostgreSQL and applies migrations, connects to RabbitMQ and
    /// declares the topology. Any failure is a [`StartupError`] that says what was tried.
    pub async fn build(
        name: &'static str,
        common: &CommonConfig,
        http_addr: SocketAddr,
    ) -> Result<Self, StartupError> {
        let bind_error =
            |e: std::io::Error| StartupError::Bind { addr: http_addr.to_string(), reason: e.to_string() };
        let listener = TcpListener::bind(http_addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let db = database::connect_and_migrate(common).await?;

        let topology = Topology::new(common.topology_config())
            .map_err(|e| StartupError::Topology { reason: e.to_string() })?;
        let conn = connect_once(&common.amqp_url, name)
            .await
            .map_err(|e| StartupError::broker(&common.amqp_url, &e))?;
        let declared = async {
            let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
            topology.declare(&channel).await.map_err(|e| e.to_string())?;
            channel.close(200, "declared".into()).await.map_err(|e| e.to_string())
        };
        let declared = declared.await;
        let _ = conn.close(200, "declared".into()).await;
        declared.map_err(|reason| StartupError::Topology { reason })?;

        let mut registry = Registry::with_prefix("paygate");
        register_build_info(&mut registry, name);
        Ok(Self {
            name,
            common: common.clone(),
            db,
            topology: Arc::new(topology),
            registry,
            listener,
            local_addr,
        })
    }

    /// The address the HTTP endpoints are served on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves the operational endpoints plus `routes`, and runs `workers`, until `shutdown` is
    /// cancelled. Then stops the HTTP server, waits for the workers to finish what they hold
    /// (each watches the same token), and closes the pool.
    ///
    /// Broker reachability for /readyz comes from a supervised connection of its own, which
    /// re-declares the topology whenever it reconnects (so a broker that lost its definitions
    /// gets them back) and logs when the broker is lost and when it is back.
    pub async fn serve(
        self,
        routes: Router,
        mut workers: Workers,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let db_reachability = Reachability::new("PostgreSQL");
        database::watch(self.db.clone(), db_reachability, shutdown.clone());

        let supervisor = Supervisor::new(self.common.amqp_url.clone(), format!("{}/health", self.name))
            .declaring(self.topology.clone());
        let broker_connected = supervisor.connected();
        let watch_stop = shutdown.clone();
        let broker_watch = tokio::spawn(async move {
            supervisor.run(&watch_stop, |conn| hold_until_lost(conn, watch_stop.clone())).await;
        });

        let health = HealthState {
            service: self.name,
            db: self.db.clone(),
            broker: broker_connected,
            registry: Arc::new(self.registry),
        };
        let app = routes.merge(health::router(health));
        tracing::info!(addr = %self.local_addr, "listening for HTTP (/healthz /readyz /metrics)");
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            // With the peer's address for the routes that need it (notify-handler's rate limit).
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(self.listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
        });

        // A worker that ends on its own ends the service: a restart beats running half a service.
        // Biased: a worker that ends because shutdown was asked for is not "on its own".
        let mut failure = None;
        tokio::select! {
            // Shutdown first: a worker that returns promptly once the token is cancelled must not
            // be taken for one that stopped on its own (select! would pick at random).
            biased;
            _ = shutdown.cancelled() => {}
            Some(done) = workers.join_next() => {
                failure = Some(match done {
                    Ok(Ok(())) => anyhow::anyhow!("a worker stopped before shutdown was asked for"),
                    Ok(Err(e)) => e,
                    Err(e) => anyhow::anyhow!("a worker panicked: {e}"),
                });
                shutdown.cancel();
            }
        }
        while let Some(done) = workers.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "a worker failed while stopping"),
                Err(e) => tracing::error!(error = %e, "a worker panicked while stopping"),
            }
        }
        server.await??;
        broker_watch.await?;
        self.db.close().await;
        failure.map_or(Ok(()), Err)
    }
}

/// A session that only keeps the connection open, ending when it breaks or at shutdown.
async fn hold_until_lost(
    conn: Arc<lapin::Connection>,
    shutdown: CancellationToken,
) -> Result<(), crate::broker::connection::SessionError> {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = conn.close(200, "shutting down".into()).await;
                return Ok(());
            }
            _ = tick.tick() => {
                if !conn.status().connected() {
                    return Err(crate::broker::connection::SessionError::Other("connection lost".into()));
                }
            }
        }
    }
}

/// `paygate_build_info{service, version} 1`: which build of which service answers on this port.
fn register_build_info(registry: &mut Registry, service: &'static str) {
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    let info: Family<Vec<(&'static str, &'static str)>, Gauge> = Family::default();
    info.get_or_create(&vec![("service", service), ("version", env!("CARGO_PKG_VERSION"))]).set(1);
    registry.register("build_info", "Which build of which service this is", info);
}
