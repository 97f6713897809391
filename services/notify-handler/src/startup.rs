//! Building the notify-handler application: everything that can fail at start-up happens in
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
        &config.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let core = ServiceCore::build(Self::NAME, &config.common, config.http_addr).await?;
        Ok(Self { core })
    }

    async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.core.serve(axum::Router::new(), JoinSet::new(), shutdown).await
    }
}
