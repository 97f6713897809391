//! Building the compensation-scheduler application: everything that can fail at start-up happens in
//! [`Application::build`], so that tests start the real service on a random port against a
//! fresh database and vhost, exactly as `main` does.
//!
//! It runs the stuck and expiry scans ([`Scheduler`]), the sweep of undecided notifications
//! (`undecided`), an outbox relay for the work they enqueue, reconciliation (`recon`), the pruning of old outbox and inbox rows (`retention`), and the merchant callbacks (`callbacks`: the consumer of the callbacks queue and the sender). Any number of instances may run against one database (the scans claim rows with
//! SKIP LOCKED).

use crate::callbacks::CallbackMetrics;
use crate::callbacks::intake::{self, Intake};
use crate::callbacks::sender::Sender;
use crate::configuration::Config;
use crate::metrics::SchedulerMetrics;
use crate::runner::Scheduler;
use crate::scan::Scanner;
use paygate::broker::connection::Supervisor;
use paygate::broker::consumer::{Consumer, ConsumerConfig};
use paygate::broker::metrics::BrokerMetrics;
use paygate::broker::outbox::OutboxRelay;
use paygate::runtime::entrypoint::Service;
use paygate::runtime::service::{ServiceCore, Workers};
use paygate::runtime::startup_error::StartupError;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct Application {
    core: ServiceCore,
    config: Config,
    reconciler: crate::recon::Reconciler,
}

impl Application {
    /// The address the HTTP endpoints are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }
}

impl Service for Application {
    const NAME: &'static str = "compensation-scheduler";
    type Config = Config;

    fn common(config: &Config) -> &paygate::runtime::config::CommonConfig {
        &config.base.common
    }

    async fn build(config: Config) -> Result<Self, StartupError> {
        let core = ServiceCore::build(Self::NAME, &config.base.common, config.base.http_addr).await?;
        let providers = config.recon.providers()?;
        let reconciler = crate::recon::Reconciler {
            pool: core.db.clone(),
            topology: core.topology.clone(),
            providers,
            config: config.recon.config(),
            daily_at: config.recon.daily_at,
        };
        Ok(Self { core, config, reconciler })
    }

    async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let core = &mut self.core;
        let broker_metrics = BrokerMetrics::new(&mut core.registry);
        let metrics = SchedulerMetrics::new(&mut core.registry);
        metrics.stuck_schedule_span(self.config.stuck_schedule.span());
        let relay = OutboxRelay::new(core.db.clone(), core.topology.clone(), broker_metrics.clone());
        let scanner = Scanner::new(
            core.db.clone(),
            core.topology.clone(),
            Arc::new(self.config.stuck_schedule.clone()),
            self.config.batch_size,
        )
        .resending_after(self.config.stuck_query_resend_after)
        .with_authorization_expiry(Arc::new(self.config.authorization_expiry.clone()));
        let sweep = crate::undecided::Sweep {
            pool: core.db.clone(),
            topology: core.topology.clone(),
            age: self.config.undecided_notification_age,
            interval: self.config.undecided_notification_interval,
            batch_size: self.config.batch_size,
        };
        let (sweep_metrics, sweep_relay, sweep_stop) = (metrics.clone(), relay.waker(), shutdown.clone());
        let retention = self.config.retention();
        let (pool, pruning_metrics, stop) = (core.db.clone(), metrics.clone(), shutdown.clone());
        let scheduler = Scheduler::new(scanner, metrics, self.config.poll_interval).waking(relay.waker());
        let mut workers = Workers::new();
        let callback_metrics = CallbackMetrics::new(&mut core.registry);
        let sender = Sender::new(
            core.db.clone(),
            Arc::new(self.config.callback_schedule.clone()),
            self.config.callback_timeout,
            self.config.callback_poll_interval,
            usize::from(self.config.callback_concurrency),
            callback_metrics,
        )?;
        let intake = Consumer::new(
            ConsumerConfig::for_queue(intake::CONSUMER, core.topology.callbacks_queue())
                .with_batch(32)
                .with_prefetch(256)
                .with_shutdown_grace(core.common.shutdown_grace)
                .waking(sender.waker()),
            core.topology.clone(),
            core.db.clone(),
            Intake,
            broker_metrics.clone(),
        )?;
        let intake_supervisor =
            Supervisor::new(core.common.amqp_url.clone(), format!("{}/callbacks", Self::NAME))
                .declaring(core.topology.clone());
        let intake_stop = shutdown.clone();
        workers.spawn(async move {
            intake.run(&intake_supervisor, &intake_stop).await;
            Ok(())
        });
        let sender_stop = shutdown.clone();
        workers.spawn(async move {
            sender.run(&sender_stop).await;
            Ok(())
        });
        workers.spawn(async move {
            retention.run(&pool, &pruning_metrics, &stop).await;
            Ok(())
        });
        workers.spawn(async move {
            sweep.run(&sweep_metrics, Some(sweep_relay), &sweep_stop).await;
            Ok(())
        });
        let reconciler = self.reconciler;
        let stop = shutdown.clone();
        workers.spawn(async move {
            reconciler.run(stop).await;
            Ok(())
        });
        let stop = shutdown.clone();
        workers.spawn(async move {
            scheduler.run(&stop).await;
            Ok(())
        });
        let supervisor = Supervisor::new(core.common.amqp_url.clone(), format!("{}/outbox", Self::NAME))
            .declaring(core.topology.clone());
        let stop = shutdown.clone();
        workers.spawn(async move {
            relay.run(&supervisor, &stop).await;
            Ok(())
        });
        self.core.serve(axum::Router::new(), workers, shutdown).await
    }
}
