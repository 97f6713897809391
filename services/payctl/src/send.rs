//! Sending work to an order's shard from the command line: one `OrderWork` message, published to
//! the orders exchange keyed on the payment id (so it is serialised with everything else for that
//! order), persistent and mandatory, and confirmed by the broker before payctl says it was sent.
//! payctl publishes directly rather than through the outbox: it has no relay of its own, and an
//! operator wants to know now whether the broker took the message (a failure is reported, and
//! running the command again is safe: queries and decisions are idempotent at the dispatcher).

use paygate::broker::connection::connect_once;
use paygate::broker::publisher::Publisher;
use paygate::broker::topology::Topology;
use paygate::messages::orders::OrderWork;
use paygate::messages::to_shard::to_shard;
use paygate::runtime::config::CommonConfig;
use std::time::Duration;
use uuid::Uuid;

/// How long to wait for the broker's confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes `work` to its order's shard and waits for the confirm; returns the message id.
pub async fn order_work(common: &CommonConfig, work: &OrderWork) -> anyhow::Result<Uuid> {
    let topology = Topology::new(common.topology_config())?;
    let conn = connect_once(&common.amqp_url, "payctl").await?;
    let sent = async {
        let publisher = Publisher::new(&conn).await?;
        let message = to_shard(&topology, work);
        let confirmed = message.publish(&publisher).await?.confirmed_within(CONFIRM_TIMEOUT).await;
        publisher.close().await;
        confirmed?;
        anyhow::Ok(message.envelope.message_id)
    };
    let result = sent.await;
    let _ = conn.close(200, "payctl done".into()).await;
    result
}
