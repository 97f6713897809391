//! Whether a dependency is reachable, as last seen by the task that uses it. The broker
//! supervisor marks the broker up and down; /readyz reads the mark. Each change is logged once,
//! so an operator sees "lost" and "restored" rather than a line per failed attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug)]
pub struct Reachability {
    what: &'static str,
    up: Arc<AtomicBool>,
}

impl Reachability {
    /// Starts as unreachable until the first successful connection.
    pub fn new(what: &'static str) -> Self {
        Self { what, up: Arc::new(AtomicBool::new(false)) }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(dependency = self.what, "{} reachable", self.what);
        }
    }

    pub fn mark_down(&self, reason: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(dependency = self.what, reason, "{} lost; reconnecting with backoff", self.what);
        }
    }
}
