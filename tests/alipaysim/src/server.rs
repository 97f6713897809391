//! Starting and stopping the simulator in process: [`AlipaySim::start`] and [`AlipaySimHandle`].

use crate::app::App;
use crate::config::Config;
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often unpaid trades are checked for expiry.
const EXPIRY_SWEEP: Duration = Duration::from_millis(200);

/// The simulator.
pub struct AlipaySim;

impl AlipaySim {
    /// Binds `config.addr`, starts serving and returns a handle. Inside a tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<AlipaySimHandle> {
        config.faults.validate().map_err(anyhow::Error::msg).context("invalid faults")?;
        let simkit::listen::Listening { listener, addr, base_url } =
            simkit::listen::bind(config.addr, config.public_url.as_deref())
                .await
                .with_context(|| format!("cannot bind {}", config.addr))?;
        let app = App::new(&config, base_url.clone())?;
        let router = Router::new()
            .merge(crate::gateway::routes())
            .merge(crate::pages::routes())
            .merge(crate::bill::routes())
            .merge(crate::admin::routes())
            .route("/healthz", get(|| async { "ok" }))
            .with_state(app.clone());
        let shutdown = app.kit.cancel_token().clone().cancelled_owned();
        let server =
            tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await });
        let sweeper = app.clone();
        app.kit.spawn(async move {
            while sweeper.kit.sleep(EXPIRY_SWEEP).await {
                crate::gateway::expire_due(&sweeper);
            }
        });
        tracing::info!(%addr, %base_url, "alipaysim listening");
        Ok(AlipaySimHandle { addr, base_url, app, server: Some(server) })
    }
}

/// A running simulator; dropping it stops it too (without waiting).
pub struct AlipaySimHandle {
    addr: SocketAddr,
    base_url: String,
    app: App,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl AlipaySimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The gateway URL to configure an Alipay client with.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.base_url)
    }

    /// The admin API.
    pub fn admin(&self) -> crate::testkit::AdminClient {
        crate::testkit::AdminClient::new(&self.base_url)
    }

    /// The public key answers and notifications are signed for (SPKI PEM).
    pub fn alipay_public_key_pem(&self) -> String {
        crate::keys::public_pem(&self.app.alipay_key.to_public_key())
    }

    /// Stops serving and background tasks; waits for the server (5 s at most).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.app.kit.shutdown();
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(5), server).await {
                Ok(joined) => joined.context("server task")?.context("server")?,
                Err(_) => anyhow::bail!("alipaysim did not stop within 5 s"),
            }
        }
        Ok(())
    }
}

impl Drop for AlipaySimHandle {
    fn drop(&mut self) {
        self.app.kit.shutdown();
    }
}
