//! Signed merchant callbacks (docs/callbacks.md): every payment and refund event POSTed to the
//! URLs its merchant registered (`payctl callback add`), signed, retried on a published schedule
//! until a 2xx, every attempt recorded.
//!
//! - [`intake`]: the consumer of `{p}.events.callbacks`, bound to the events exchange like any
//!   upstream's queue: owes each event to the endpoints that want it (a row per endpoint and
//!   event in `callback_deliveries`, in the consumer's transaction);
//! - [`sender`]: the due-delivery poller: claims with `FOR UPDATE SKIP LOCKED` and a lease, POSTs
//!   holding nothing, records the attempt and the next one;
//! - [`signature`]: the `Paygate-Signature` header (HMAC-SHA256 over `"{t}.{body}"`);
//! - [`schedule`]: `CALLBACK_SCHEDULE`, the waits between attempts.
//!
//! The money path never waits on a merchant: the dispatcher publishes events to the exchange and
//! is done; a slow merchant holds only its own deliveries' sending slots, for at most
//! `CALLBACK_TIMEOUT` each; and the schedule lives in PostgreSQL, so a restart loses nothing.
//!
//! Metrics: `paygate_callback_attempts_total{outcome}` (`success`: a 2xx; `failure`) and
//! `paygate_callback_exhausted_total` (deliveries that used up their schedule).

pub mod intake;
pub mod schedule;
pub mod sender;
pub mod signature;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// The callbacks' metrics. Cheap to clone: clones share the series.
#[derive(Clone, Default)]
pub struct CallbackMetrics {
    pub attempts: Family<OutcomeLabels, Counter>,
    pub exhausted: Counter,
}

impl CallbackMetrics {
    /// Registers the series in `registry` (prefix `paygate`).
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "callback_attempts",
            "Callback delivery attempts, by outcome (success: a 2xx answer)",
            metrics.attempts.clone(),
        );
        registry.register(
            "callback_exhausted",
            "Callback deliveries that used up their retry schedule",
            metrics.exhausted.clone(),
        );
        metrics
    }
}
