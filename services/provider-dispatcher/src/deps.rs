//! What every piece of work needs besides the order itself: the providers, the topology its
//! messages travel on, the exchange log, the bulkheads, and where providers notify us. Built once
//! at start-up (`startup.rs`) and shared by every shard's handler.

use crate::bulkhead::Bulkheads;
use crate::exchange_log::ExchangeLog;
use crate::metrics::DispatcherMetrics;
use paygate::broker::topology::Topology;
use paygate::providers::ProviderRegistry;
use std::sync::Arc;

/// What every piece of work needs besides the order itself.
pub struct Deps {
    pub providers: ProviderRegistry,
    pub topology: Arc<Topology>,
    pub exchanges: ExchangeLog,
    /// notify-handler's public base URL, if providers should notify us.
    pub notify_base_url: Option<String>,
    pub metrics: DispatcherMetrics,
    pub bulkheads: Bulkheads,
}
