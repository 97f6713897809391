//! Building the notify-handler application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.
//!
//! It serves the provider routes (`routes`) beside /healthz, /readyz and /metrics on one
//! listener, and runs two workers: the supervised connection that forwards notifications to the
//! order shards (`publisher`), and the return's rate limiter's forgetting of idle clients. /readyz is false while the broker or the database is down, and
//! the webhook then answers 503 so that providers retry.

use crate::client_limit::ClientLimit;
use crate::configuration::Config;
use crate::metrics::NotifyMetrics;
use crate::publisher::ShardPublisher;
use crate::routes::{self, AppState};
use paygate::broker::connection::Supervisor;
use paygate::providers::ProviderRegistry;
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::{ServiceCore, Workers};
use paygate::runtime::startup_error::StartupError;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Application {
    core: ServiceCore,
    config: Config,
    providers: ProviderRegistry,
}

impl Application {
    /// The address the HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "notify-handler";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.base.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let providers = config.providers.registry()?;
        let core = ServiceCore::build(Self::NAME, &config.base.common, config.base.http_addr).await?;
        Ok(Self { core, config, providers })
    }

    async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = NotifyMetrics::new(&mut self.core.registry);
        let publisher = ShardPublisher::new(self.core.topology.clone(), self.config.confirm_timeout);
        let state = Arc::new(AppState {
            db: self.core.db.clone(),
            providers: self.providers,
            publisher: publisher.clone(),
            metrics,
            body_limit: usize::try_from(self.config.body_limit).unwrap_or(usize::MAX),
            store_timeout: self.config.confirm_timeout,
            client_limit: ClientLimit::per_minute(self.config.return_rate_per_minute),
            return_query_interval: self.config.return_query_interval,
        });
        let supervisor =
            Supervisor::new(self.core.common.amqp_url.clone(), format!("{}/forward", Self::NAME))
                .declaring(self.core.topology.clone());
        let mut workers = Workers::new();
        let stop = shutdown.clone();
        workers.spawn(async move {
            publisher.run(&supervisor, &stop).await;
            Ok(())
        });
        let (limits, stop) = (state.clone(), shutdown.clone());
        workers.spawn(async move {
            forget_idle_clients(&limits, &stop).await;
            Ok(())
        });
        self.core.serve(routes::router(state), workers, shutdown).await
    }
}

/// Every minute, forgets the return's clients whose rate limit is back to full, until `shutdown`.
async fn forget_idle_clients(state: &AppState, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => state.client_limit.forget_idle(),
        }
    }
}
