//! Starting and stopping the simulator in process: [`StripeSim::start`] and [`SimHandle`] (serving
//! is simkit's [`simkit::serve::Serving`]).

use crate::admin::AdminClient;
use crate::app::App;
use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use simkit::serve::Serving;
use std::net::SocketAddr;

/// The simulator.
pub struct StripeSim;

impl StripeSim {
    /// Binds `config.addr`, starts serving and returns a handle. Inside a tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<SimHandle> {
        config.faults.validate().map_err(anyhow::Error::msg).context("invalid faults")?;
        let listening = simkit::listen::bind(config.addr, config.public_url.as_deref())
            .await
            .with_context(|| format!("cannot bind {}", config.addr))?;
        let app = App::new(&config, listening.base_url.clone())?;
        let router = Router::new()
            .merge(crate::api::routes())
            .merge(crate::balance::routes())
            .merge(crate::admin::routes())
            .route("/healthz", get(|| async { "ok" }))
            .with_state(app.clone())
            .layer(axum::middleware::from_fn(crate::cors::cors));
        let serving = Serving::start("stripesim", listening, router, app.kit.cancel_token().clone());
        Ok(SimHandle { serving, app })
    }
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct SimHandle {
    serving: Serving,
    app: App,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// `http://host:port` without a trailing slash: paygate's Stripe `URL`.
    pub fn base_url(&self) -> &str {
        self.serving.base_url()
    }

    /// The account id events are for.
    pub fn account(&self) -> &str {
        &self.app.account
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(self.serving.admin_url())
    }

    /// Stops serving: held responses are dropped, background tasks stop, the server is awaited
    /// (at most 5 s).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.serving.shutdown().await
    }
}
