//! Starting and stopping the simulator in process: [`StripeSim::start`] and [`SimHandle`].

use crate::admin::AdminClient;
use crate::app::App;
use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The simulator.
pub struct StripeSim;

impl StripeSim {
    /// Binds `config.addr`, starts serving and returns a handle. Inside a tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<SimHandle> {
        config.faults.validate().map_err(anyhow::Error::msg).context("invalid faults")?;
        let simkit::listen::Listening { listener, addr, base_url } =
            simkit::listen::bind(config.addr, config.public_url.as_deref())
                .await
                .with_context(|| format!("cannot bind {}", config.addr))?;
        let app = App::new(&config, base_url.clone())?;
        let router = Router::new()
            .merge(crate::api::routes())
            .merge(crate::balance::routes())
            .merge(crate::admin::routes())
            .route("/healthz", get(|| async { "ok" }))
            .with_state(app.clone())
            .layer(axum::middleware::from_fn(crate::cors::cors));
        let shutdown = app.kit.cancel_token().clone().cancelled_owned();
        let server =
            tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await });
        tracing::info!(%addr, %base_url, "stripesim listening");
        Ok(SimHandle { addr, base_url, app, server: Some(server) })
    }
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    app: App,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` without a trailing slash: paygate's Stripe `URL`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The account id events are for.
    pub fn account(&self) -> &str {
        &self.app.account
    }

    pub fn admin(&self) -> AdminClient {
        let addr = if self.addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], self.addr.port()))
        } else {
            self.addr
        };
        AdminClient::new(format!("http://{addr}"))
    }

    /// Stops serving: held responses are dropped, background tasks stop, the server is awaited
    /// (at most 5 s).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.app.kit.shutdown();
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(5), server).await {
                Ok(joined) => joined.context("server task")?.context("server")?,
                Err(_) => anyhow::bail!("stripesim did not stop within 5 s"),
            }
        }
        Ok(())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.app.kit.shutdown();
    }
}
