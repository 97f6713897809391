//! Starting and stopping the simulator in-process: [`MockPay::start`] and [`MockPayHandle`].

use crate::admin_client::AdminClient;
use crate::app::App;
use crate::config::Config;
use crate::flow::payments;
use crate::http;
use anyhow::Context;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often WAITING payments are checked for expiry (reads also check lazily).
const EXPIRY_SWEEP: Duration = Duration::from_millis(100);

/// The simulator.
pub struct MockPay;

impl MockPay {
    /// Binds `config.addr` (127.0.0.1:0 by default: a free port), starts serving, and returns a
    /// handle. Must be called inside a tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<MockPayHandle> {
        config.faults.validate().map_err(anyhow::Error::msg).context("invalid faults")?;
        let simkit::listen::Listening { listener, addr, base_url } =
            simkit::listen::bind(config.addr, config.public_url.as_deref())
                .await
                .with_context(|| format!("cannot bind {}", config.addr))?;
        let app = App::new(&config, base_url.clone())?;
        let router = http::router(app.clone());
        let shutdown = app.kit.cancel_token().clone().cancelled_owned();
        let server =
            tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await });
        let sweeper = app.clone();
        app.spawn(async move {
            while sweeper.sleep(EXPIRY_SWEEP).await {
                payments::expire_due(&sweeper);
            }
        });
        tracing::info!(%addr, %base_url, "mockpay listening");
        Ok(MockPayHandle { addr, base_url, app, server: Some(server) })
    }
}

/// A running simulator. Dropping it stops it too (without waiting).
pub struct MockPayHandle {
    addr: SocketAddr,
    base_url: String,
    app: App,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl MockPayHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, without a trailing slash: prefix of `/v1/...`, `/admin/...`, `/pay/...`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A client for the admin API.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(format!("http://{}", self.addr_for_clients()))
    }

    fn addr_for_clients(&self) -> SocketAddr {
        if self.addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], self.addr.port()))
        } else {
            self.addr
        }
    }

    /// Stops serving: held (timed-out) responses are dropped at once, background tasks stop,
    /// and the server is awaited (at most 5 s).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.app.kit.shutdown();
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(5), server).await {
                Ok(joined) => joined.context("server task")?.context("server")?,
                Err(_) => anyhow::bail!("mockpay did not stop within 5 s"),
            }
        }
        Ok(())
    }
}

impl Drop for MockPayHandle {
    fn drop(&mut self) {
        self.app.kit.shutdown();
    }
}
