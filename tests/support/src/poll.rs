//! Polling with a deadline: tests wait for a condition, never for a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` until it returns true; panics with `what` if `within` passes first.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, within, move || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
}

/// Polls `check` until it returns `Some`, and returns that value; panics if `within` passes first.
pub async fn eventually_some<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for: {what}");
        tokio::time::sleep(INTERVAL).await;
    }
}
