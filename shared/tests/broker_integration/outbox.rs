//! The outbox: enqueue in the caller's transaction, relay with confirms, republish when unmarked.

use std::sync::Arc;

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use paygate::broker::envelope::Envelope;
use paygate::broker::{BrokerMetrics, OutboxRelay, Supervisor, Topology, enqueue};
use paygate_test_support::{TestDb, TestVhost, eventually};
use tokio_util::sync::CancellationToken;

use crate::common::*;

#[tokio::test]
async fn the_relay_publishes_committed_rows_once_and_republishes_unmarked_ones() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    paygate::db::migrate(&db.pool).await.unwrap();
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    // Upstream's queue on the events exchange.
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
