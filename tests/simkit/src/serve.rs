//! Serving a simulator in process: its router on its bound socket until its kit's cancellation,
//! and the stop that waits for the server ([`Serving`]). Each simulator's `SimHandle` holds one
//! beside its own state.

use crate::listen::Listening;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long [`Serving::shutdown`] waits for the server to stop.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A simulator being served. Dropping it cancels too (without waiting).
pub struct Serving {
    name: &'static str,
    addr: SocketAddr,
    base_url: String,
    cancel: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Serves `router` on `listening` until `cancel` (the simulator's kit's token, so that its
    /// background tasks and held responses stop with it). Inside a tokio runtime.
    pub fn start(
        name: &'static str,
        listening: Listening,
        router: Router,
        cancel: CancellationToken,
    ) -> Self {
        let Listening { listener, addr, base_url } = listening;
        let shutdown = cancel.clone().cancelled_owned();
        let server =
            tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await });
        tracing::info!(%addr, %base_url, "{name} listening");
        Serving { name, addr, base_url, cancel, server: Some(server) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` without a trailing slash: the URL paygate's adapter is given.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The admin API's base URL: the bound address, on loopback when bound to every interface.
    pub fn admin_url(&self) -> String {
        let addr = if self.addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], self.addr.port()))
        } else {
            self.addr
        };
        format!("http://{addr}")
    }

    /// Stops serving: held responses are dropped, background tasks stop, the server is awaited
    /// (at most 5 s).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.cancel.cancel();
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(STOP_WITHIN, server).await {
                Ok(joined) => joined.context("server task")?.context("server")?,
                Err(_) => anyhow::bail!("{} did not stop within {} s", self.name, STOP_WITHIN.as_secs()),
            }
        }
        Ok(())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
