//! The parts every service application has, built in one place: the HTTP listener with the
//! operational endpoints, the PostgreSQL pool (migrated), the broker connection (topology
//! declared, reconnected with backoff when lost), and the metrics registry. A service's
//! `startup.rs` builds a [`ServiceCore`], adds its own routes and workers, and serves.

use super::config::CommonConfig;
use super::health::{self, HealthState};
use super::readiness::Reachability;
use super::startup_error::StartupError;
use super::database;
use crate::broker::supervisor::BrokerSupervisor;
use crate::broker::topology::{Topology, TopologyConfig};
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
    pub db_reachability: Reachability,
    pub broker: BrokerSupervisor,
    pub topology: Topology,
    /// Register the service's own metrics here before calling [`ServiceCore::serve`].
    pub registry: Registry,
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl ServiceCore {
    /// Binds `http_addr`, connects to PostgreSQL and applies migrations, connects to RabbitMQ and
    /// declares the topology. Any failure is a [`StartupError`] that says what was tried.
    pub async fn build(
        name: &'static str,
        common: &CommonConfig,
        http_addr: SocketAddr,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(http_addr)
            .await
            .map_err(|e| StartupError::Bind { addr: http_addr.to_string(), reason: e.to_string() })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| StartupError::Bind { addr: http_addr.to_string(), reason: e.to_string() })?;
        let db = database::connect_and_migrate(common).await?;
        let topology = Topology::new(TopologyConfig::from_common(common));
        let broker = BrokerSupervisor::connect(name, &common.amqp_url, topology.clone()).await?;
        Ok(Self {
            name,
            common: common.clone(),
            db,
            db_reachability: Reachability::new("PostgreSQL"),
            broker,
            topology,
            registry: Registry::with_prefix("paygate"),
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
    /// (each watches the same token), and closes the connections.
    pub async fn serve(
        self,
        routes: Router,
        mut workers: JoinSet<anyhow::Result<()>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        database::watch(self.db.clone(), self.db_reachability.clone(), shutdown.clone());
        let health = HealthState {
            service: self.name,
            db: self.db.clone(),
            broker: self.broker.reachability(),
            registry: Arc::new(self.registry),
        };
        let app = routes.merge(health::router(health));
        tracing::info!(addr = %self.local_addr, "listening for HTTP (/healthz /readyz /metrics)");
        let stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
        });

        // A worker that fails ends the service: better to restart than to run half a service.
        let mut failure = None;
        tokio::select! {
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
            if let Ok(Err(e)) | Err(e @ _) = done.map_err(anyhow::Error::from) {
                tracing::error!(error = %format!("{e:#}"), "a worker failed while stopping");
            }
        }
        server.await??;
        self.broker.close().await;
        self.db.close().await;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
