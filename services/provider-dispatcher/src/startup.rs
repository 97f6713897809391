//! Building the provider-dispatcher application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.
//!
//! It runs one consumer per order shard (each shard queue has a single active consumer across
//! all dispatcher instances, so an order is handled by one instance at a time and a dead
//! instance's shards pass to another), and an outbox relay for the events and follow-ups the
//! work emits.

use crate::bulkhead::{BulkheadConfig, Bulkheads};
use crate::configuration::Config;
use crate::deps::Deps;
use crate::dispatcher::Dispatcher;
use crate::exchange_log::ExchangeLog;
use crate::metrics::DispatcherMetrics;
use crate::shard_leases::ShardLeases;
use paygate::broker::connection::Supervisor;
use paygate::broker::consumer::{Consumer, ConsumerConfig};
use paygate::broker::metrics::BrokerMetrics;
use paygate::broker::outbox::OutboxRelay;
use paygate::messages::orders::ORDER_WORK_CONSUMER;
use paygate::providers::ProviderRegistry;
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::{ServiceCore, Workers};
use paygate::runtime::startup_error::StartupError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Connections of the exchange log's own pool (see `exchange_log`).
const EXCHANGE_LOG_CONNECTIONS: u32 = 8;

pub struct Application {
    core: ServiceCore,
    config: Config,
    providers: ProviderRegistry,
}

impl Application {
    /// The address the HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "provider-dispatcher";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.base.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let providers = config.providers.registry()?;
        let window = u64::from(config.shard_prefetch) * u64::from(config.base.common.order_shards);
        if 2 * u64::from(config.provider_max_in_flight) > window {
            tracing::warn!(
                provider_max_in_flight = config.provider_max_in_flight,
                shard_prefetch = config.shard_prefetch,
                order_shards = config.base.common.order_shards,
                "one provider's calls in flight may fill half or more of the shards' prefetch window: \
                 a provider in trouble can then hold up the others' work until its breaker opens; \
                 raise SHARD_PREFETCH or lower PROVIDER_MAX_IN_FLIGHT"
            );
        }
        let core = ServiceCore::build(Self::NAME, &config.base.common, config.base.http_addr).await?;
        Ok(Self { core, config, providers })
    }

    async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let core = &mut self.core;
        let metrics = BrokerMetrics::new(&mut core.registry);
        let dispatcher_metrics = DispatcherMetrics::new(&mut core.registry);
        let shards_gauge = dispatcher_metrics.shards_consumed.clone();
        let exchanges = ExchangeLog::connect_lazy(&core.common.database_url, EXCHANGE_LOG_CONNECTIONS)?;
        let dispatcher = Dispatcher::new(Deps {
            providers: self.providers.clone(),
            topology: core.topology.clone(),
            exchanges,
            notify_base_url: self.config.notify_base_url.clone(),
            bulkheads: Bulkheads::new(
                BulkheadConfig {
                    max_in_flight: usize::from(self.config.provider_max_in_flight),
                    failures_to_open: self.config.provider_breaker_failures,
                    open_for: self.config.provider_breaker_open_for,
                },
                dispatcher_metrics.bulkheads.clone(),
            ),
            metrics: dispatcher_metrics,
        });
        let amqp_url = core.common.amqp_url.clone();
        let relay = OutboxRelay::new(core.db.clone(), core.topology.clone(), metrics.clone());
        let mut workers = Workers::new();
        // One consumer per shard, built now (so that a bad setting fails the start), run while
        // this instance holds the shard's lease (`shard_leases`).
        let mut consumers = BTreeMap::new();
        for shard in 0..core.topology.config().order_shards {
            let config = ConsumerConfig::for_shard(ORDER_WORK_CONSUMER, &core.topology, shard)
                .with_concurrency(usize::from(self.config.shard_concurrency))
                .with_batch(usize::from(self.config.shard_batch))
                .with_appliers(usize::from(self.config.shard_appliers))
                .with_prefetch(self.config.shard_prefetch)
                .with_shutdown_grace(core.common.shutdown_grace)
                .waking(relay.waker());
            let consumer = Consumer::new(
                config,
                core.topology.clone(),
                core.db.clone(),
                dispatcher.clone(),
                metrics.clone(),
            )?;
            consumers.insert(shard, consumer);
        }
        let (topology, url) = (core.topology.clone(), amqp_url.clone());
        let start = move |shard: u16, stop: CancellationToken| {
            let consumer = consumers.get(&shard).cloned();
            let supervisor = Supervisor::new(url.clone(), format!("{}/shard-{shard}", Self::NAME))
                .declaring(topology.clone());
            async move {
                if let Some(consumer) = consumer {
                    consumer.run(&supervisor, &stop).await;
                }
            }
        };
        let leases =
            ShardLeases::new(core.db.clone(), core.topology.config().order_shards, shards_gauge, start);
        let stop = shutdown.clone();
        workers.spawn(async move {
            leases.run(&stop).await;
            Ok(())
        });
        let supervisor =
            Supervisor::new(amqp_url, format!("{}/outbox", Self::NAME)).declaring(core.topology.clone());
        let stop = shutdown.clone();
        workers.spawn(async move {
            relay.run(&supervisor, &stop).await;
            Ok(())
        });
        self.core.serve(axum::Router::new(), workers, shutdown).await
    }
}
