//! The outbox: enqueue in the caller's transaction, relay with confirms, republish when unmarked.

use std::sync::Arc;

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use paygate::broker::envelope::Envelope;
use paygate::broker::{BrokerMetrics, OutboxRelay, Publisher, Supervisor, Topology, enqueue, outbox};
use paygate_test_support::{TestDb, TestVhost, eventually};
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// A database and a vhost for relays, with upstream's queue on the events exchange (bound to
/// every payment event) and a channel to read it.
struct Relayed {
    vhost: TestVhost,
    db: TestDb,
    topology: Arc<Topology>,
    conn: lapin::Connection,
    ch: lapin::Channel,
    upstream: &'static str,
}

impl Relayed {
    async fn new() -> Self {
        let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
        paygate::db::migrate(&db.pool).await.unwrap();
        let topology = Arc::new(Topology::default());
        let conn = declared(&vhost.amqp_url, &topology).await;
        let (ch, upstream) = upstream_queue(&conn, &topology).await;
        Self { vhost, db, topology, conn, ch, upstream }
    }
}

async fn upstream_queue(conn: &lapin::Connection, topology: &Topology) -> (lapin::Channel, &'static str) {
    let ch = conn.create_channel().await.unwrap();
    let upstream = "upstream.events";
    ch.queue_declare(
        upstream.into(),
        QueueDeclareOptions { durable: true, ..Default::default() },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        upstream.into(),
        topology.events_exchange().as_str().into(),
        "payment.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    (ch, upstream)
}

#[tokio::test]
async fn the_relay_publishes_committed_rows_once_and_republishes_unmarked_ones() {
    let Relayed { vhost, db, topology, conn: _conn, ch, upstream } = Relayed::new().await;

    // Three messages in a committed transaction, one in a rolled-back one.
    let events = topology.events_exchange();
    let envs: Vec<_> = (0..3).map(|i| Envelope::new("payment.succeeded", format!("pay_{i}"), i)).collect();
    let mut tx = db.pool.begin().await.unwrap();
    for e in &envs {
        enqueue(&mut tx, &events, &e.message_type, e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    enqueue(&mut tx, &events, "payment.failed", &Envelope::new("payment.failed", "pay_x", ())).await.unwrap();
    tx.rollback().await.unwrap();

    let metrics = BrokerMetrics::default();
    let relay = OutboxRelay::new(db.pool.clone(), topology.clone(), metrics.clone());
    let waker = relay.waker();
    let supervisor = Supervisor::new(&vhost.amqp_url, "relay").declaring(topology.clone());
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { relay.run(&supervisor, &token).await });

    eventually("all rows marked published", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0
    })
    .await;
    assert_eq!(count(&db.pool, "SELECT count(*) FROM outbox").await, 3);
    // Marked only after the confirm: everything marked is in the queue already.
    let mut got = Vec::new();
    while let Some((p, body)) = get_one(&ch, upstream).await {
        let env: Envelope<i32> = Envelope::from_json(&body).unwrap();
        assert_eq!(p.message_id().as_ref().unwrap().as_str(), env.message_id.to_string());
        got.push(env);
    }
    assert_eq!(got, envs, "each exactly once, in order, unchanged");

    // A relay that crashed between the confirm and the commit leaves the row unmarked.
    sqlx::query("UPDATE outbox SET published_at = NULL WHERE message_id = $1")
        .bind(envs[1].message_id)
        .execute(&db.pool)
        .await
        .unwrap();
    waker.notify_one();
    let (_, body) =
        paygate_test_support::eventually_some("the republished message", WITHIN, || get_one(&ch, upstream))
            .await;
    let again: Envelope<i32> = Envelope::from_json(&body).unwrap();
    assert_eq!(again, envs[1], "the same message, with the same message id");
    eventually("marked again", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0
    })
    .await;
    assert!(get_one(&ch, upstream).await.is_none(), "nothing else");
    let published: u64 = metrics
        .outbox_published
        .get_or_create(&paygate::broker::metrics::ExchangeLabels { exchange: events.clone() })
        .get();
    assert_eq!(published, 4);

    shutdown.cancel();
    tokio::time::timeout(WITHIN, handle).await.expect("the relay stops").unwrap();
}

#[tokio::test]
async fn the_relay_recovers_when_its_connection_is_closed() {
    logs();
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    paygate::db::migrate(&db.pool).await.unwrap();
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let ch = conn.create_channel().await.unwrap();
    let relay = OutboxRelay::new(db.pool.clone(), topology.clone(), BrokerMetrics::default());
    let connection_name = format!("relay-{}", uuid::Uuid::new_v4());
    let supervisor = Supervisor::new(&vhost.amqp_url, &connection_name).declaring(topology.clone());
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { relay.run(&supervisor, &token).await });

    let orders = topology.orders_exchange();
    let enqueue_one = |key: &'static str| {
        let pool = db.pool.clone();
        let orders = orders.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            enqueue(&mut tx, &orders, "order.dispatch", &Envelope::new("order.dispatch", key, ()))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    enqueue_one("pay_1").await;
    eventually("published", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0
    })
    .await;
    force_reconnect(&vhost.name, &connection_name).await;
    enqueue_one("pay_2").await;
    eventually("published after the reconnection", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await == 0
    })
    .await;
    let mut in_shards = 0;
    for q in topology.shard_queues() {
        in_shards += ready_count(&conn, &q).await;
    }
    assert_eq!(in_shards, 2);
    drop(ch);
    shutdown.cancel();
    tokio::time::timeout(WITHIN, handle).await.expect("the relay stops").unwrap();
}

/// Every service instance runs a relay on the one outbox. While one relay holds a batch, another
/// waits for it, rather than pass over its rows and publish what the same orders sent next (an
/// order's close before its pay: `SKIP LOCKED` did, when database connections were killed).
#[tokio::test]
async fn a_second_relay_waits_for_a_busy_one_rather_than_publish_what_follows_its_batch() {
    let Relayed { vhost: _vhost, db, topology, conn, ch, upstream } = Relayed::new().await;
    // One order's two messages, committed one after the other.
    let events = topology.events_exchange();
    let sent = [Envelope::new("payment.pending", "pay_1", 1), Envelope::new("payment.closed", "pay_1", 2)];
    for e in &sent {
        let mut tx = db.pool.begin().await.unwrap();
        enqueue(&mut tx, &events, &e.message_type, e).await.unwrap();
        tx.commit().await.unwrap();
    }

    // A relay has claimed the first and is still publishing it.
    let mut busy = db.pool.begin().await.unwrap();
    let claimed = outbox::claim(&mut busy, 1).await.unwrap();
    assert_eq!(claimed.len(), 1, "the busy relay's batch: the first message");
    // Another relay's batch meanwhile.
    let relay = OutboxRelay::new(db.pool.clone(), topology.clone(), BrokerMetrics::default());
    let publisher = Publisher::new(&conn).await.unwrap();
    let other = tokio::spawn(async move { relay.relay_batch(&publisher).await.unwrap() });
    eventually("the other relay waiting for its turn", WITHIN, || async {
        count(
            &db.pool,
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
        )
        .await
            == 1
    })
    .await;
    assert!(get_one(&ch, upstream).await.is_none(), "nothing published past the busy relay's batch");

    // The busy relay's session ends before its publish was confirmed: its turn ends with it, and
    // the other relay publishes from the first unpublished row.
    busy.rollback().await.unwrap();
    let published = tokio::time::timeout(WITHIN, other).await.expect("the other relay's batch ends").unwrap();
    assert_eq!(published, 2);
    let mut got = Vec::new();
    while let Some((_, body)) = get_one(&ch, upstream).await {
        got.push(Envelope::<i32>::from_json(&body).unwrap());
    }
    assert_eq!(got, sent, "the order's messages in the order they were committed");
}
