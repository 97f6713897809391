//! The run's own PostgreSQL and RabbitMQ: private servers on free ports (never the machine's
//! shared ones, which other work uses), each restartable once the load is on.

use anyhow::Context;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate_test_support::{PrivatePostgres, RabbitCluster, TestDb};

/// The prefix of every exchange and queue.
pub const PREFIX: &str = "paygate";

pub struct Servers {
    pub postgres: PrivatePostgres,
    pub rabbit: RabbitCluster,
    /// paygate's database on the private server (migrated).
    pub db: TestDb,
}

impl Servers {
    pub async fn start(order_shards: u16, retry_tiers: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(PrivatePostgres::available(), "PostgreSQL's server programs are not installed");
        anyhow::ensure!(RabbitCluster::available(), "Debian's rabbitmq-server is not installed");
        let postgres = PrivatePostgres::start();
        let rabbit = RabbitCluster::start(1).await;
        let db = TestDb::on(&postgres.url()).await;
        paygate::db::migrate(&db.pool).await.context("migrate the run's database")?;
        let servers = Self { postgres, rabbit, db };
        servers.declare_topology(order_shards, retry_tiers).await?;
        Ok(servers)
    }

    /// The broker's AMQP URL on its default vhost.
    pub fn amqp_url(&self) -> String {
        format!("{}/%2f", self.rabbit.nodes[0].amqp_base())
    }

    /// The management API's base URL (with credentials).
    pub fn management_url(&self) -> String {
        self.rabbit.nodes[0].management_url()
    }

    /// Declares the topology, as every service would, so that upstream's events queue can be
    /// bound before the services start.
    async fn declare_topology(&self, order_shards: u16, retry_tiers: &str) -> anyhow::Result<()> {
        let tiers = paygate::runtime::config::parse_retry_tiers(retry_tiers)
            .map_err(|e| anyhow::anyhow!("retry tiers: {e}"))?
            .0;
        let config = TopologyConfig {
            prefix: PREFIX.into(),
            order_shards,
            retry_tiers: tiers,
            ..TopologyConfig::default()
        };
        let topology = Topology::new(config).map_err(|e| anyhow::anyhow!("topology: {e}"))?;
        let conn =
            lapin::Connection::connect(&self.amqp_url(), lapin::ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        topology.declare(&channel).await?;
        let _ = conn.close(200, "declared".into()).await;
        Ok(())
    }

    /// Restarts RabbitMQ (a graceful stop and start; durable queues and their messages survive).
    /// The server tools block while they run, so this worker thread is handed over for the
    /// duration: the load and the upstream go on on the others.
    pub fn restart_rabbit(&mut self) {
        let rabbit = &mut self.rabbit;
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(rabbit.restart_node(0)));
    }

    /// Restarts PostgreSQL as a crash would (an immediate stop, then recovery from the WAL).
    pub fn restart_postgres(&self) {
        tokio::task::block_in_place(|| self.postgres.restart());
    }
}
