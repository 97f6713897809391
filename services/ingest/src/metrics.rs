//! ingest's own metrics: `paygate_ingest_commands_total{command, outcome}`, commands handled by
//! type (`command.pay`, …; `unknown` for a type that is not a command) and outcome (`accepted`,
//! `duplicate`, `rejected`). The broker's metrics (deliveries, dead letters, outbox) are
//! [`BrokerMetrics`](paygate::broker::BrokerMetrics)'.

use paygate::messages::commands;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: &'static str,
    pub outcome: &'static str,
}

/// Cheap to clone: clones share the series.
#[derive(Clone, Default)]
pub struct CommandMetrics {
    pub commands: Family<CommandLabels, Counter>,
}

impl CommandMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "ingest_commands",
            "Commands handled by ingest, by command and outcome (accepted, duplicate, rejected)",
            m.commands.clone(),
        );
        m
    }

    /// Counts one command of `message_type` with `outcome`. Only the known command types become
    /// label values, so a stream of junk types cannot grow the series without bound.
    pub fn count(&self, message_type: &str, outcome: &'static str) {
        let command = commands::ALL.into_iter().find(|c| *c == message_type).unwrap_or("unknown");
        self.commands.get_or_create(&CommandLabels { command, outcome }).inc();
    }
}
