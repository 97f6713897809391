//! Building the ingest application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.
//!
//! It runs two workers besides the HTTP endpoints, each on its own broker connection under its
//! own [`Supervisor`] (docs/broker.md): the consumer of the commands queue (retries by requeue,
//! since the TTL ladder leads only back to the orders exchange) and the outbox relay that
//! publishes the work and the rejections the handler committed. The upstream HTTP API
//! (`crate::api`) is served on its own listener (`API_ADDR`), bound here too, and stops with the
//! rest (graceful: requests in flight finish); a janitor forgets expired nonces, idempotency keys
//! past their day and idle rate-limit entries every minute.

use crate::api::{self, ApiState};
use crate::configuration::Config;
use crate::handler::CommandHandler;
use crate::metrics::CommandMetrics;
use paygate::broker::connection::Supervisor;
use paygate::broker::consumer::{Consumer, ConsumerConfig};
use paygate::broker::{BrokerMetrics, OutboxRelay};
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::{ServiceCore, Workers};
use paygate::runtime::startup_error::StartupError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How often expired nonces and idle rate-limit entries are forgotten.
const JANITOR_EVERY: Duration = Duration::from_secs(60);

pub struct Application {
    core: ServiceCore,
    consumer: Consumer<CommandHandler>,
    relay: OutboxRelay,
    api: Arc<ApiState>,
    api_listener: TcpListener,
    api_addr: SocketAddr,
}

impl Application {
    /// The address the operational HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }

    /// The address the upstream HTTP API is served on.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }
}

impl Service for Application {
    const NAME: &'static str = "ingest";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.base.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let mut core = ServiceCore::build(Self::NAME, &config.base.common, config.base.http_addr).await?;
        let broker_metrics = BrokerMetrics::new(&mut core.registry);
        // Each provider's kind, for its pay terms at the door (ingest builds no adapter).
        let providers = config.providers.names_with_kinds()?;
        let relay = OutboxRelay::new(core.db.clone(), core.topology.clone(), broker_metrics.clone());
        // One series for the commands, whichever way they came.
        let command_metrics = CommandMetrics::new(&mut core.registry);
        let bind_error = |e: std::io::Error| StartupError::Bind {
            addr: config.api.addr.to_string(),
            reason: e.to_string(),
        };
        let api_listener = TcpListener::bind(config.api.addr).await.map_err(bind_error)?;
        let api_addr = api_listener.local_addr().map_err(bind_error)?;
        let api = Arc::new(ApiState::new(
            core.db.clone(),
            core.topology.clone(),
            providers.clone(),
            relay.waker(),
            config.api.settings(api_addr),
            command_metrics.clone(),
        ));
        let handler = CommandHandler::new(core.topology.clone(), providers, command_metrics);
        let batch = config.command_batch;
        let consumer_config = ConsumerConfig::for_queue(Self::NAME, core.topology.ingest_queue())
            .with_batch(usize::from(batch))
            // Enough sent ahead for every handler to find a full batch waiting.
            .with_prefetch(batch.saturating_mul(8).max(32))
            .with_shutdown_grace(config.base.common.shutdown_grace)
            .waking(relay.waker());
        let consumer = Consumer::new(
            consumer_config,
            core.topology.clone(),
            core.db.clone(),
            handler,
            broker_metrics.clone(),
        )
        .map_err(|e| StartupError::Topology { reason: e.to_string() })?;
        Ok(Self { core, consumer, relay, api, api_listener, api_addr })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Application { core, consumer, relay, api, api_listener, api_addr } = self;
        let amqp_url = core.common.amqp_url.clone();
        let mut workers = Workers::new();

        let supervisor =
            Supervisor::new(amqp_url.clone(), "ingest/commands").declaring(core.topology.clone());
        let stop = shutdown.clone();
        workers.spawn(async move {
            consumer.run(&supervisor, &stop).await;
            Ok(())
        });

        let supervisor = Supervisor::new(amqp_url, "ingest/outbox").declaring(core.topology.clone());
        let stop = shutdown.clone();
        workers.spawn(async move {
            relay.run(&supervisor, &stop).await;
            Ok(())
        });

        let watcher = api.clone();
        let stop = shutdown.clone();
        workers.spawn(async move {
            watcher.provider_wait.watch(watcher.db.clone(), stop).await;
            Ok(())
        });

        let router = api::router(api.clone());
        let stop = shutdown.clone();
        // Not "listening …": tests and scripts take the operational address from that line.
        tracing::info!(api_addr = %api_addr, "serving the upstream HTTP API (/v1, /openapi.json) and the hosted cashier (/cashier)");
        workers.spawn(async move {
            axum::serve(api_listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(stop.cancelled_owned())
                .await?;
            Ok(())
        });

        let stop = shutdown.clone();
        workers.spawn(async move {
            let mut tick = tokio::time::interval(JANITOR_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tick.tick() => {}
                }
                let forgotten = async {
                    let mut conn = api.db.acquire().await?;
                    paygate::store::api_keys::forget_expired_nonces(&mut conn).await?;
                    api::idempotency::forget_old(&mut conn).await
                };
                if let Err(e) = forgotten.await {
                    tracing::warn!(error = %e, "could not forget expired API nonces and idempotency keys; trying again later");
                }
                api.limit.forget_idle();
                api.cashier_limit.forget_idle();
            }
        });

        core.serve(axum::Router::new(), workers, shutdown).await
    }
}
