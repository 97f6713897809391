//! A notification receiver on a free local port: records every delivery (headers and body) and
//! acknowledges it with 200 `success`, which every simulator takes as acknowledged (mockpay and
//! WeChat Pay by the status, Alipay by the exact body).

use crate::Delivered;
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use std::sync::{Arc, Mutex};

/// Stops the receiver's server when dropped.
struct Stop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Receiver {
    /// `http://127.0.0.1:<port>`; any path is taken.
    pub base_url: String,
    got: Arc<Mutex<Vec<Delivered>>>,
    _stop: Stop,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let got: Arc<Mutex<Vec<Delivered>>> = Arc::default();
        let g = got.clone();
        let router = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap_or_else(|e| e.into_inner()).push(Delivered { headers, body: body.to_vec() });
                "success"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Receiver { base_url, got, _stop: Stop(Some(tx)) })
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
