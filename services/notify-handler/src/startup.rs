//! Building the notify-handler application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.
//!
//! It serves the provider routes (`routes`) beside /healthz, /readyz and /metrics on one
//! listener, and runs one worker: the supervised connection that forwards notifications to the
//! order shards (`publisher`). /readyz is false while the broker or the database is down, and
//! the webhook then answers 503 so that providers retry.

use crate::configuration::{Config, MockpayConfig};
use crate::metrics::NotifyMetrics;
use crate::publisher::ShardPublisher;
use crate::routes::{self, AppState};
use paygate::broker::connection::Supervisor;
use paygate::providers::NotificationVerifier;
use paygate::providers::mockpay::notification::MockpayNotifications;
use paygate::providers::mockpay::signing::Secret;
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::{ServiceCore, Workers};
use paygate::runtime::startup_error::StartupError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Application {
    core: ServiceCore,
    config: Config,
    verifiers: BTreeMap<&'static str, Arc<dyn NotificationVerifier>>,
}

impl Application {
    /// The address the HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }
}

/// The notification verifiers this configuration enables, by provider name.
pub fn verifiers(config: &Config) -> BTreeMap<&'static str, Arc<dyn NotificationVerifier>> {
    let mut all: BTreeMap<&'static str, Arc<dyn NotificationVerifier>> = BTreeMap::new();
    if let Some(v) = mockpay(&config.mockpay) {
        all.insert(v.provider(), Arc::new(v));
    }
    all
}

fn mockpay(config: &MockpayConfig) -> Option<MockpayNotifications> {
    if config.account.secret.is_empty() {
        return None;
    }
    Some(
        MockpayNotifications::new(
            config.account.merchant.clone(),
            Secret::new(config.account.secret.clone()),
        )
        .with_window_secs(i64::from(config.window_secs)),
    )
}

impl Service for Application {
    const NAME: &'static str = "notify-handler";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let verifiers = verifiers(&config);
        if verifiers.is_empty() {
            tracing::warn!(
                "no provider's notifications are configured (set MOCKPAY_SECRET): every notification will be refused"
            );
        }
        let core = ServiceCore::build(Self::NAME, &config.common, config.http_addr).await?;
        Ok(Self { core, config, verifiers })
    }

    async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = NotifyMetrics::new(&mut self.core.registry);
        let publisher = ShardPublisher::new(self.core.topology.clone(), self.config.confirm_timeout);
        let state = Arc::new(AppState {
            db: self.core.db.clone(),
            verifiers: self.verifiers,
            publisher: publisher.clone(),
            metrics,
            body_limit: usize::try_from(self.config.body_limit).unwrap_or(usize::MAX),
            store_timeout: self.config.confirm_timeout,
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
        self.core.serve(routes::router(state), workers, shutdown).await
    }
}
