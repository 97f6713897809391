//! Building the compensation-scheduler application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.

use crate::configuration::Config;
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::ServiceCore;
use paygate::runtime::startup_error::StartupError;
use std::net::SocketAddr;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct Application {
    core: ServiceCore,
    reconciler: crate::recon::schedule::Reconciler,
}

impl Application {
    /// The address the HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "compensation-scheduler";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let core = ServiceCore::build(Self::NAME, &config.common, config.http_addr).await?;
        let providers = config
            .recon
            .providers()
            .map_err(|e| StartupError::Settings { setting: "MOCKPAY_URL", reason: format!("{e:#}") })?;
        let reconciler = crate::recon::schedule::Reconciler {
            pool: core.db.clone(),
            topology: core.topology.clone(),
            providers,
            config: config.recon.config(),
            daily_at: config.recon.daily_at,
        };
        Ok(Self { core, reconciler })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        let reconciler = self.reconciler;
        let stop = shutdown.clone();
        tasks.spawn(async move {
            reconciler.run(stop).await;
            Ok(())
        });
        self.core.serve(axum::Router::new(), tasks, shutdown).await
    }
}
