//! The consumer runtime: inbox deduplication, retries, dead-lettering, shutdown, recovery.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use lapin::types::AMQPValue;
use paygate::broker::consumer::{
    Batched, Consumer, ConsumerConfig, Delivered, Handler, HandlerError, Outcome, RetryStrategy,
};
use paygate::broker::envelope::{Envelope, header_str, headers};
use paygate::broker::metrics::{HandledLabels, QueueLabels};
use paygate::broker::{BrokerMetrics, Publisher, Routing, Supervisor, Topology};
use paygate_test_support::{TestDb, TestVhost, eventually, eventually_some};
use sqlx::{Postgres, Transaction};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::*;

const NAME: &str = "test-consumer";

struct Running {
    token: CancellationToken,
    handle: JoinHandle<()>,
    connected: tokio::sync::watch::Receiver<bool>,
}

fn spawn<H: Handler>(consumer: Consumer<H>, url: &str, connection_name: &str) -> Running {
    logs();
    let supervisor = Supervisor::new(url, connection_name);
    let connected = supervisor.connected();
    let token = CancellationToken::new();
    let t = token.clone();
    let handle = tokio::spawn(async move { consumer.run(&supervisor, &t).await });
    Running { token, handle, connected }
}

impl Running {
    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(WITHIN, self.handle).await.expect("the consumer stops").unwrap();
    }
}

fn handled(metrics: &BrokerMetrics, queue: &str, outcome: &'static str) -> u64 {
    metrics
        .handled
        .get_or_create(&HandledLabels { consumer: NAME.into(), queue: queue.into(), outcome })
        .get()
}

async fn publish_command<P: serde::Serialize>(publisher: &Publisher, topology: &Topology, env: &Envelope<P>) {
    publisher
        .publish(&topology.commands_exchange(), &env.message_type, env, Routing::Mandatory)
        .await
        .unwrap();
}

fn reason_of(p: &BasicProperties) -> String {
    header_str(p, headers::REJECT_REASON).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_unparseable_message_goes_to_the_dlq_with_the_reason() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let consumer = Consumer::new(
        ConsumerConfig::for_queue(NAME, &queue),
        topology.clone(),
        db.pool.clone(),
        Recorder::new(Mode::Ok),
        metrics.clone(),
    )
    .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "unparseable");

    let ch = conn.create_channel().await.unwrap();
    let props = BasicProperties::default().with_message_id("garbage-1".into()).with_delivery_mode(2);
    ch.basic_publish(
        topology.commands_exchange().into(),
        "command.pay".into(),
        BasicPublishOptions::default(),
        b"{not json",
        props,
    )
    .await
    .unwrap();

    let dlq = topology.dlq(&queue);
    let (p, body) = eventually_some("the message in the DLQ", WITHIN, || get_one(&ch, &dlq)).await;
    assert_eq!(body, b"{not json");
    assert!(reason_of(&p).contains("not a valid envelope"), "{}", reason_of(&p));
    assert_eq!(header_str(&p, headers::REJECTED_BY), Some(NAME));
    assert_eq!(p.message_id().as_ref().unwrap().as_str(), "garbage-1");
    eventually("counted", WITHIN, || async { handled(&metrics, &queue, "dead_lettered") == 1 }).await;
    assert_eq!(ready_count(&conn, &queue).await, 0);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 0);
    running.stop().await;
}

#[tokio::test]
async fn the_effect_and_the_inbox_commit_together_and_a_redelivery_is_not_applied_twice() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let recorder = Recorder::new(Mode::Ok);
    let consumer = Consumer::new(
        ConsumerConfig::for_queue(NAME, &queue),
        topology.clone(),
        db.pool.clone(),
        recorder.clone(),
        metrics.clone(),
    )
    .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "dedup");

    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("command.pay", "m1:o1", serde_json::json!({"amount": 100}));
    publish_command(&publisher, &topology, &env).await;
    eventually("handled once", WITHIN, || async { handled(&metrics, &queue, "done") == 1 }).await;
    // The same message again, as a redelivery or a repeated outbox publish would bring it.
    publish_command(&publisher, &topology, &env).await;
    eventually("recognised", WITHIN, || async { handled(&metrics, &queue, "duplicate") == 1 }).await;

    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 1);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 1);
    let (consumer_name, id): (String, uuid::Uuid) =
        sqlx::query_as("SELECT consumer, message_id FROM processed_messages")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((consumer_name.as_str(), id), (NAME, env.message_id));
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1, "the handler ran once");
    assert_eq!(ready_count(&conn, &queue).await, 0);
    running.stop().await;
}

#[tokio::test]
async fn a_permanent_error_rolls_back_and_dead_letters_with_the_reason() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let consumer = Consumer::new(
        ConsumerConfig::for_queue(NAME, &queue),
        topology.clone(),
        db.pool.clone(),
        Recorder::new(Mode::Permanent),
        BrokerMetrics::default(),
    )
    .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "permanent");
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("command.pay", "m1:o2", serde_json::json!({"amount": -1}));
    publish_command(&publisher, &topology, &env).await;

    let ch = conn.create_channel().await.unwrap();
    let dlq = topology.dlq(&queue);
    let (p, body) = eventually_some("the message in the DLQ", WITHIN, || get_one(&ch, &dlq)).await;
    assert!(reason_of(&p).contains("the amount is negative"), "{}", reason_of(&p));
    let back: Envelope<serde_json::Value> = Envelope::from_json(&body).unwrap();
    assert_eq!(back.message_id, env.message_id);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 0, "rolled back");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 0);
    running.stop().await;
}

/// One consumer per shard, all with the same handler.
fn spawn_shards<H: Handler + Clone>(
    topology: &Arc<Topology>,
    db: &TestDb,
    url: &str,
    recorder: &H,
    metrics: &BrokerMetrics,
) -> Vec<Running> {
    (0..topology.config().order_shards)
        .map(|i| {
            let config = ConsumerConfig::for_shard(NAME, topology, i);
            let c =
                Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), metrics.clone())
                    .unwrap();
            spawn(c, url, &format!("shard-{i}"))
        })
        .collect()
}

#[tokio::test]
async fn a_transient_error_is_retried_through_the_ladder_on_the_same_shard() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(&[("t1", 200), ("t2", 400)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let recorder = Recorder::new(Mode::TransientFirst);
    let metrics = BrokerMetrics::default();
    let shards = spawn_shards(&topology, &db, &vhost.amqp_url, &recorder, &metrics);
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_1", serde_json::json!({}));
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();

    eventually("the effect of the retry", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM effects").await == 1
    })
    .await;
    let attempt: i32 = sqlx::query_scalar("SELECT attempt FROM effects").fetch_one(&db.pool).await.unwrap();
    assert_eq!(attempt, 1, "the first attempt rolled back, the retry committed");
    assert_eq!(recorder.seen_attempts.lock().unwrap()[&env.message_id], vec![0, 1]);
    let shard_queues = topology.shard_queues();
    let retried: Vec<_> = shard_queues.iter().filter(|q| handled(&metrics, q, "retried") == 1).collect();
    assert_eq!(retried.len(), 1);
    eventually("done on the same shard", WITHIN, || async { handled(&metrics, retried[0], "done") == 1 })
        .await;
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn when_the_ladder_is_exhausted_the_message_is_dead_lettered() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(&[("t1", 100)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let recorder = Recorder::new(Mode::AlwaysTransient);
    let metrics = BrokerMetrics::default();
    let shards = spawn_shards(&topology, &db, &vhost.amqp_url, &recorder, &metrics);
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_2", serde_json::json!({}));
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();

    let ch = conn.create_channel().await.unwrap();
    let dlqs: Vec<String> = topology.shard_queues().iter().map(|q| topology.dlq(q)).collect();
    let (p, _) = eventually_some("the message in a shard DLQ", WITHIN, || async {
        for dlq in &dlqs {
            if let Some(m) = get_one(&ch, dlq).await {
                return Some(m);
            }
        }
        None
    })
    .await;
    let reason = reason_of(&p);
    assert!(
        reason.contains("retries exhausted after 1 retries") && reason.contains("provider timed out"),
        "{reason}"
    );
    assert_eq!(recorder.seen_attempts.lock().unwrap()[&env.message_id], vec![0, 1]);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 0);
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn a_held_message_waits_on_the_ladder_without_spending_its_retries() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    // One retry in all: a message retried twice would be dead-lettered.
    let topology = test_topology(&[("t1", 100)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let recorder = Recorder::new(Mode::HeldThrice);
    let metrics = BrokerMetrics::default();
    let shards = spawn_shards(&topology, &db, &vhost.amqp_url, &recorder, &metrics);
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_held", serde_json::json!({}));
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();

    eventually("the message applied after three holds", WITHIN, || async {
        recorder.calls.load(Ordering::SeqCst) == 4
    })
    .await;
    assert_eq!(
        recorder.seen_attempts.lock().unwrap()[&env.message_id],
        vec![0, 0, 0, 0],
        "held three times on the ladder, its attempt count never raised"
    );
    let ch = conn.create_channel().await.unwrap();
    for q in topology.shard_queues() {
        assert!(get_one(&ch, &topology.dlq(&q)).await.is_none(), "nothing dead-lettered from {q}");
        assert_eq!(handled(&metrics, &q, "retried"), 0, "a hold is not a retry");
    }
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn a_panicking_handler_is_retried_then_dead_lettered() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(&[("t1", 100)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let recorder = Recorder::new(Mode::Panic);
    let metrics = BrokerMetrics::default();
    let shards = spawn_shards(&topology, &db, &vhost.amqp_url, &recorder, &metrics);
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_5", serde_json::json!({}));
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();

    let ch = conn.create_channel().await.unwrap();
    let dlqs: Vec<String> = topology.shard_queues().iter().map(|q| topology.dlq(q)).collect();
    let (p, _) = eventually_some("the message in a shard DLQ", WITHIN, || async {
        for dlq in &dlqs {
            if let Some(m) = get_one(&ch, dlq).await {
                return Some(m);
            }
        }
        None
    })
    .await;
    assert!(reason_of(&p).contains("the handler panicked: boom"), "{}", reason_of(&p));
    assert_eq!(recorder.seen_attempts.lock().unwrap()[&env.message_id], vec![0, 1]);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 0);
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn requeued_failures_end_in_the_dlq_at_the_delivery_limit() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(&[("t1", 100)], 2);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let recorder = Recorder::new(Mode::AlwaysTransient);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_retry(RetryStrategy::Requeue {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    });
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), BrokerMetrics::default())
            .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "delivery-limit");
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("command.pay", "m1:o3", serde_json::json!({}));
    publish_command(&publisher, &topology, &env).await;

    let ch = conn.create_channel().await.unwrap();
    let dlq = topology.dlq(&queue);
    let (p, body) = eventually_some("the message in the DLQ", WITHIN, || get_one(&ch, &dlq)).await;
    assert_eq!(Envelope::<serde_json::Value>::from_json(&body).unwrap().message_id, env.message_id);
    // Dead-lettered by the broker: x-death says why.
    let Some(AMQPValue::FieldArray(deaths)) = header(&p, "x-death") else { panic!("no x-death: {p:?}") };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else { panic!("{deaths:?}") };
    let reason = match death.inner().get("reason") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(reason, "delivery_limit");
    // Delivered 1 + limit times, then dead-lettered.
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 3);
    running.stop().await;
}

#[tokio::test]
async fn shutdown_lets_the_handler_in_flight_finish_and_ack() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let recorder = Recorder::new(Mode::Block);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_shutdown_grace(WITHIN);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), BrokerMetrics::default())
            .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "graceful");
    let publisher = Publisher::new(&conn).await.unwrap();
    publish_command(&publisher, &topology, &Envelope::new("command.pay", "m1:o4", ())).await;

    tokio::time::timeout(WITHIN, recorder.entered.notified()).await.expect("the handler started");
    running.token.cancel();
    recorder.release.notify_one();
    tokio::time::timeout(WITHIN, running.handle).await.expect("stops").unwrap();

    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 1);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 1);
    assert_eq!(ready_count(&conn, &queue).await, 0, "acknowledged, not returned");
}

/// `paygate_consumer_oldest_delivery_age_seconds` (the alert on a work queue's oldest message):
/// while a handler holds a delivery its age grows; once acknowledged the consumer holds none (0);
/// a stopped consumer reports nothing.
#[tokio::test]
async fn the_oldest_delivery_in_hand_is_measured_until_it_is_acknowledged() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let recorder = Recorder::new(Mode::Block);
    let mut registry = prometheus_client::registry::Registry::with_prefix("paygate");
    let metrics = BrokerMetrics::new(&mut registry);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_shutdown_grace(WITHIN);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), metrics.clone()).unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "in-hand");
    let key = (NAME.to_owned(), queue.clone());
    let age = |metrics: &BrokerMetrics| metrics.in_hand.ages().get(&key).copied();
    eventually("the session is measured", WITHIN, || async { age(&metrics) == Some(Duration::ZERO) }).await;

    let publisher = Publisher::new(&conn).await.unwrap();
    publish_command(&publisher, &topology, &Envelope::new("command.pay", "m1:o9", ())).await;
    tokio::time::timeout(WITHIN, recorder.entered.notified()).await.expect("the handler started");
    eventually("the held delivery ages", WITHIN, || async {
        age(&metrics).is_some_and(|a| a >= Duration::from_millis(300))
    })
    .await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let series =
        format!(r#"paygate_consumer_oldest_delivery_age_seconds{{consumer="{NAME}",queue="{queue}"}} "#);
    let value: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("{series} in {text}"))
        .parse()
        .unwrap();
    assert!(value >= 0.3, "{text}");

    recorder.release.notify_one();
    eventually("acknowledged", WITHIN, || async { handled(&metrics, &queue, "done") == 1 }).await;
    assert_eq!(age(&metrics), Some(Duration::ZERO), "nothing in hand once acknowledged");
    running.stop().await;
    assert_eq!(age(&metrics), None, "a stopped consumer reports nothing");
}

/// A stop (a shard handed over, a shutdown) waits for the work under way, not for the messages
/// taken and waiting their order key's turn behind it: those go back to the queue unbegun. (A
/// consumer that began them made a hand-over wait for its whole prefetch window.)
#[tokio::test]
async fn a_stop_gives_back_the_messages_waiting_their_turn_without_beginning_them() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let recorder = Recorder::new(Mode::Block);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_shutdown_grace(WITHIN);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), BrokerMetrics::default())
            .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "stop-waiting");
    let publisher = Publisher::new(&conn).await.unwrap();
    for _ in 0..3 {
        publish_command(&publisher, &topology, &Envelope::new("command.pay", "m1:o5", ())).await;
    }
    tokio::time::timeout(WITHIN, recorder.entered.notified()).await.expect("the first handler started");
    eventually("all three taken", WITHIN, || async { ready_count(&conn, &queue).await == 0 }).await;

    running.token.cancel();
    recorder.release.notify_one();
    tokio::time::timeout(WITHIN, running.handle).await.expect("stops").unwrap();

    let calls = recorder.calls.load(Ordering::SeqCst);
    assert_eq!(calls, 1, "only the message under way was handled");
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 1);
    eventually("the two waiting are back in the queue", WITHIN, || async {
        ready_count(&conn, &queue).await == 2
    })
    .await;
}

#[tokio::test]
async fn a_handler_cut_off_by_shutdown_rolls_back_and_the_next_consumer_applies_it_once() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_3", ());
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();
    let mut shard = None;
    for i in 0..topology.config().order_shards {
        if ready_count(&conn, &topology.shard_queue(i)).await == 1 {
            shard = Some(i);
        }
    }
    let shard = shard.expect("the message is on one shard");

    // A takes the message and never finishes; B waits behind it (single active consumer).
    let blocked = Recorder::new(Mode::Block);
    let config =
        ConsumerConfig::for_shard(NAME, &topology, shard).with_shutdown_grace(Duration::from_millis(200));
    let a = Consumer::new(
        config.clone(),
        topology.clone(),
        db.pool.clone(),
        blocked.clone(),
        BrokerMetrics::default(),
    )
    .unwrap();
    let a = spawn(a, &vhost.amqp_url, "a");
    tokio::time::timeout(WITHIN, blocked.entered.notified()).await.expect("A's handler started");
    let metrics = BrokerMetrics::default();
    let b =
        Consumer::new(config, topology.clone(), db.pool.clone(), Recorder::new(Mode::Ok), metrics.clone())
            .unwrap();
    let mut b = spawn(b, &vhost.amqp_url, "b");
    b.connected.wait_for(|c| *c).await.unwrap();

    a.stop().await; // the grace passes, A's handler is aborted, its channel closes
    let queue = topology.shard_queue(shard);
    eventually("B applied it", WITHIN, || async { handled(&metrics, &queue, "done") == 1 }).await;
    assert_eq!(
        count(&db.pool, "SELECT count(*) FROM effects").await,
        1,
        "A's effect rolled back, B's committed"
    );
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 1);
    assert_eq!(ready_count(&conn, &queue).await, 0);
    b.stop().await;
}

#[tokio::test]
async fn the_consumer_recovers_when_its_connection_is_closed() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let consumer = Consumer::new(
        ConsumerConfig::for_queue(NAME, &queue),
        topology.clone(),
        db.pool.clone(),
        Recorder::new(Mode::Ok),
        metrics.clone(),
    )
    .unwrap();
    let connection_name = format!("recovering-{}", uuid::Uuid::new_v4());
    let running = spawn(consumer, &vhost.amqp_url, &connection_name);
    let publisher = Publisher::new(&conn).await.unwrap();
    publish_command(&publisher, &topology, &Envelope::new("command.pay", "m1:o5", ())).await;
    eventually("the first message", WITHIN, || async { handled(&metrics, &queue, "done") == 1 }).await;

    // An operator (or a broker restart) closes the consumer's connection.
    force_reconnect(&vhost.name, &connection_name).await;

    publish_command(&publisher, &topology, &Envelope::new("command.pay", "m1:o6", ())).await;
    eventually("the message after the reconnection", WITHIN, || async {
        handled(&metrics, &queue, "done") == 2
    })
    .await;
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 2);
    running.stop().await;
}

#[tokio::test]
async fn a_database_outage_holds_the_message_without_spending_its_retries() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(&[("t1", 100)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    // The consumer's pool has one connection, which the test holds: the database is "down".
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(100))
        .connect(&db.url)
        .await
        .unwrap();
    let held = pool.acquire().await.unwrap();
    let metrics = BrokerMetrics::default();
    let recorder = Recorder::new(Mode::Ok);
    let consumers: Vec<_> = (0..topology.config().order_shards)
        .map(|i| {
            let config = ConsumerConfig::for_shard(NAME, &topology, i);
            let c = Consumer::new(config, topology.clone(), pool.clone(), recorder.clone(), metrics.clone())
                .unwrap();
            spawn(c, &vhost.amqp_url, &format!("shard-{i}"))
        })
        .collect();
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_4", ());
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();

    let waited = |q: String| {
        metrics.database_unavailable.get_or_create(&QueueLabels { consumer: NAME.into(), queue: q }).get()
    };
    eventually("the consumer found the database unavailable, twice", WITHIN, || async {
        topology.shard_queues().into_iter().map(waited).sum::<u64>() >= 2
    })
    .await;
    drop(held); // the database is back
    eventually("handled", WITHIN, || async { count(&db.pool, "SELECT count(*) FROM effects").await == 1 })
        .await;
    assert_eq!(recorder.seen_attempts.lock().unwrap()[&env.message_id], vec![0], "no retry was spent");
    let retried: u64 = topology.shard_queues().iter().map(|q| handled(&metrics, q, "retried")).sum();
    assert_eq!(retried, 0);
    for c in consumers {
        c.stop().await;
    }
}

#[tokio::test]
async fn with_concurrency_messages_of_one_order_stay_in_order() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let recorder = Recorder::new(Mode::SlowerFirst);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_prefetch(50).with_concurrency(8);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), BrokerMetrics::default())
            .unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    const N: u64 = 40;
    for n in 0..N {
        for key in ["a", "b", "c"] {
            publish_command(&publisher, &topology, &Envelope::new("command.pay", key, n)).await;
        }
    }
    let running = spawn(consumer, &vhost.amqp_url, "ordered");
    eventually("all handled", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM effects").await == 3 * N as i64
    })
    .await;
    let seen = recorder.seen_payloads.lock().unwrap().clone();
    for key in ["a", "b", "c"] {
        let order: Vec<u64> =
            seen.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_u64().unwrap()).collect();
        assert_eq!(order, (0..N).collect::<Vec<_>>(), "key {key}");
    }
    running.stop().await;
}

#[tokio::test]
async fn waiting_messages_are_applied_in_batches_each_once_and_each_order_in_order() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let recorder = Recorder::batching(Mode::Ok);
    let config = ConsumerConfig::for_queue(NAME, &queue).with_prefetch(100).with_concurrency(2).with_batch(8);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), recorder.clone(), metrics.clone()).unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    const N: u64 = 5;
    let keys: Vec<String> = (0..10).map(|k| format!("k{k}")).collect();
    let mut first = None;
    for n in 0..N {
        for key in &keys {
            let env = Envelope::new("command.pay", key.clone(), n);
            first.get_or_insert_with(|| env.clone());
            publish_command(&publisher, &topology, &env).await;
        }
    }
    // A message handled before comes again (a repeated outbox publish): a duplicate, in a batch.
    let first = first.unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "batched");
    eventually("all handled", WITHIN, || async { handled(&metrics, &queue, "done") == N * 10 }).await;
    publish_command(&publisher, &topology, &first).await;
    for n in N..N + 3 {
        publish_command(&publisher, &topology, &Envelope::new("command.pay", "k0", n)).await;
    }
    eventually("the duplicate recognised", WITHIN, || async { handled(&metrics, &queue, "duplicate") == 1 })
        .await;
    eventually("the rest handled", WITHIN, || async { handled(&metrics, &queue, "done") == N * 10 + 3 })
        .await;

    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, N as i64 * 10 + 3, "each applied once");
    assert_eq!(count(&db.pool, "SELECT count(DISTINCT message_id) FROM effects").await, N as i64 * 10 + 3);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, N as i64 * 10 + 3);
    let batches = recorder.batches.lock().unwrap().clone();
    assert!(batches.iter().any(|b| b.len() > 1), "messages waiting were batched: {batches:?}");
    assert!(batches.iter().all(|b| b.len() <= 8), "no batch above its size: {batches:?}");
    for batch in &batches {
        let distinct: std::collections::HashSet<&String> = batch.iter().collect();
        assert_eq!(distinct.len(), batch.len(), "no order key twice in a batch: {batch:?}");
    }
    let seen = recorder.seen_payloads.lock().unwrap().clone();
    for key in &keys {
        let order: Vec<u64> =
            seen.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_u64().unwrap()).collect();
        let expected: Vec<u64> = if key == "k0" { (0..N + 3).collect() } else { (0..N).collect() };
        assert_eq!(order, expected, "key {key}");
    }
    assert_eq!(ready_count(&conn, &queue).await, 0);
    running.stop().await;
}

/// A batching consumer run over ten commands `k0`…`k9`, `k5` the poison (batches of 10, one job
/// at a time), until nine are done and the poison is dead-lettered.
struct PoisonRun {
    _vhost: TestVhost,
    db: TestDb,
    topology: Arc<Topology>,
    conn: lapin::Connection,
    queue: String,
    metrics: BrokerMetrics,
    running: Running,
}

async fn poisoned_batch<H: Handler>(handler: H, connection_name: &str) -> PoisonRun {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let config =
        ConsumerConfig::for_queue(NAME, &queue).with_prefetch(100).with_concurrency(1).with_batch(10);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), handler, metrics.clone()).unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    for n in 0..10 {
        let payload = if n == 5 { serde_json::json!("poison") } else { serde_json::json!(n) };
        publish_command(&publisher, &topology, &Envelope::new("command.pay", format!("k{n}"), payload)).await;
    }
    let running = spawn(consumer, &vhost.amqp_url, connection_name);
    eventually("nine handled", WITHIN, || async { handled(&metrics, &queue, "done") == 9 }).await;
    eventually("the poison dead-lettered", WITHIN, || async {
        handled(&metrics, &queue, "dead_lettered") == 1
    })
    .await;
    PoisonRun { _vhost: vhost, db, topology, conn, queue, metrics, running }
}

#[tokio::test]
async fn a_batch_that_fails_rolls_back_and_its_messages_are_applied_one_by_one() {
    let recorder = Recorder::batching(Mode::Poison);
    let PoisonRun { _vhost, db, topology, conn, queue, running, .. } =
        poisoned_batch(recorder.clone(), "batch-fails").await;
    let batches = recorder.batches.lock().unwrap().clone();
    assert!(
        batches.iter().any(|b| b.len() > 1 && b.contains(&"k5".to_owned())),
        "the poison came in a batch: {batches:?}"
    );
    // The batch's effects rolled back with it: each of the nine is there once, the poison's not.
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 9);
    assert_eq!(count(&db.pool, "SELECT count(DISTINCT message_id) FROM effects").await, 9);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects WHERE order_key = 'k5'").await, 0);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 9);
    let dlq = topology.dlq(&queue);
    let (p, _) = get_one(&conn.create_channel().await.unwrap(), &dlq).await.expect("the poison in the DLQ");
    assert!(reason_of(&p).contains("poisoned"), "{}", reason_of(&p));
    running.stop().await;
}

#[tokio::test]
async fn a_batch_that_falls_back_applies_each_message_with_what_was_prepared_for_it() {
    // The dispatcher's provider call is its preparation: a fall-back to one by one that
    // prepared again would call the provider twice for every order of the batch.
    let preparer = Preparer::new();
    let PoisonRun { _vhost, db, queue, metrics, running, .. } =
        poisoned_batch(preparer.clone(), "batch-falls-back").await;
    let batches = preparer.recorder.as_ref().unwrap().batches.lock().unwrap().clone();
    assert!(
        batches.iter().any(|b| b.len() > 1 && b.contains(&"k5".to_owned())),
        "the poison came in a batch: {batches:?}"
    );
    let fell_back = batches.iter().find(|b| b.contains(&"k5".to_owned())).unwrap().clone();
    let declined = metrics
        .batches
        .get_or_create(&HandledLabels { consumer: NAME.into(), queue: queue.clone(), outcome: "one_by_one" })
        .get();
    assert_eq!(declined, 1, "the fall-back is counted");
    let prepared = preparer.prepared.lock().unwrap().clone();
    assert_eq!(prepared.len(), 10);
    assert!(prepared.values().all(|n| *n == 1), "each message prepared once: {prepared:?}");
    // The declined batch's messages were applied twice (in the batch, then alone), the others
    // once, and each time with its first and only preparation.
    let applied = preparer.applied.lock().unwrap().clone();
    for n in 0..10 {
        let key = format!("k{n}");
        let times = if fell_back.contains(&key) { 2 } else { 1 };
        assert_eq!(applied[&key], vec![1; times], "{key}: {applied:?}");
    }
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 9);
    running.stop().await;
}

/// A preparing handler whose preparation marks the payload `"alone"` as work that must be applied
/// on its own (as the dispatcher's work held by its provider's bulkhead is), and whose
/// `handle_batch` declines any batch that holds such work (as the dispatcher's does).
#[derive(Clone)]
struct Loner {
    recorder: Recorder,
}

impl Handler for Loner {
    type Prepared = bool;
    const PREPARES: bool = true;

    async fn prepare(
        &self,
        _: &sqlx::PgPool,
        msgs: &[&Delivered],
    ) -> Result<Vec<paygate::broker::consumer::Preparing<bool>>, HandlerError> {
        Ok(msgs
            .iter()
            .map(|m| -> paygate::broker::consumer::Preparing<bool> {
                Box::pin(std::future::ready(Ok(m.envelope.payload == "alone")))
            })
            .collect())
    }

    fn applies_alone(&self, alone: &bool) -> bool {
        *alone
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        _: &bool,
    ) -> Result<Outcome, HandlerError> {
        self.recorder.handle(tx, msg, &()).await
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &bool)],
    ) -> Result<Batched, HandlerError> {
        self.recorder
            .batches
            .lock()
            .unwrap()
            .push(msgs.iter().map(|(m, _)| m.envelope.order_key.clone()).collect());
        if msgs.iter().any(|(_, alone)| **alone) {
            return Ok(Batched::OneByOne { reason: "work that goes alone is in it".into() });
        }
        for &(msg, _) in msgs {
            self.recorder.handle(tx, msg, &()).await?;
        }
        Ok(Batched::AllDone)
    }
}

#[tokio::test]
async fn work_that_must_go_alone_is_applied_alone_and_the_rest_of_its_batch_together() {
    // The dispatcher's work held by a provider's full bulkhead or open breaker must be applied on
    // its own. Before, it made the whole batch it came with go one by one: every other
    // provider's answers then cost a transaction each (the isolation bench's leak).
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let metrics = BrokerMetrics::default();
    let loner = Loner { recorder: Recorder::new(Mode::Ok) };
    let config =
        ConsumerConfig::for_queue(NAME, &queue).with_prefetch(100).with_concurrency(1).with_batch(10);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), loner.clone(), metrics.clone()).unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    for n in 0..10 {
        let payload = if n == 5 { serde_json::json!("alone") } else { serde_json::json!(n) };
        publish_command(&publisher, &topology, &Envelope::new("command.pay", format!("k{n}"), payload)).await;
    }
    // Published before the consumer starts, the ten arrive together and are prepared as one job.
    let running = spawn(consumer, &vhost.amqp_url, "goes-alone");
    eventually("all ten handled", WITHIN, || async { handled(&metrics, &queue, "done") == 10 }).await;
    let batches = loner.recorder.batches.lock().unwrap().clone();
    assert!(
        batches.iter().all(|b| !b.contains(&"k5".to_owned())),
        "the work that goes alone was never in a batch: {batches:?}"
    );
    let outcome = |outcome| {
        metrics
            .batches
            .get_or_create(&HandledLabels { consumer: NAME.into(), queue: queue.clone(), outcome })
            .get()
    };
    assert_eq!(outcome("one_by_one"), 0, "no batch declined: {batches:?}");
    assert!(outcome("committed") >= 1, "the others were applied together: {batches:?}");
    assert!(batches.iter().any(|b| b.len() > 1), "{batches:?}");
    // Each of the ten applied once: nine in batches, k5 alone.
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 10);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects WHERE order_key = 'k5'").await, 1);
    assert_eq!(count(&db.pool, "SELECT count(*) FROM processed_messages").await, 10);
    running.stop().await;
}

/// A preparing handler whose preparation holds the payload `"held"` the first `1 + more_holds`
/// times it is prepared (as the dispatcher's bulkhead holds work it has no room for), deciding
/// that alone. Records the preparation (`true`: held) of every message `handle` was given, and
/// the envelope's `holds` at each preparation. With `records_holds` its holds say the handler
/// recorded them itself (as the dispatcher's preparation puts held work in its order's line);
/// `retrying` counts the calls of its `retrying`.
#[derive(Clone, Default)]
struct Decider {
    prepared: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, u32>>>,
    handled: Arc<std::sync::Mutex<Vec<(String, bool)>>>,
    recorder: Option<Recorder>,
    more_holds: u32,
    holds_seen: Arc<std::sync::Mutex<Vec<u32>>>,
    records_holds: bool,
    retrying: Arc<std::sync::atomic::AtomicU32>,
}

impl Handler for Decider {
    type Prepared = bool;
    const PREPARES: bool = true;

    async fn prepare(
        &self,
        _: &sqlx::PgPool,
        msgs: &[&Delivered],
    ) -> Result<Vec<paygate::broker::consumer::Preparing<bool>>, HandlerError> {
        let mut prepared = self.prepared.lock().unwrap();
        Ok(msgs
            .iter()
            .map(|m| -> paygate::broker::consumer::Preparing<bool> {
                let n = prepared.entry(m.envelope.message_id).or_default();
                *n += 1;
                self.holds_seen.lock().unwrap().push(m.envelope.holds);
                Box::pin(std::future::ready(Ok(m.envelope.payload == "held" && *n <= 1 + self.more_holds)))
            })
            .collect())
    }

    fn decided(&self, held: &bool) -> Option<Outcome> {
        held.then(|| Outcome::Hold {
            reason: "the provider's bulkhead is full".into(),
            at_least: Duration::ZERO,
            recorded: self.records_holds,
        })
    }

    async fn retrying(&self, _: &sqlx::PgPool, _: &Delivered) -> Result<(), HandlerError> {
        self.retrying.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        held: &bool,
    ) -> Result<Outcome, HandlerError> {
        self.handled.lock().unwrap().push((msg.envelope.order_key.clone(), *held));
        self.recorder.as_ref().unwrap().handle(tx, msg, &()).await
    }
}

/// A run of [`Decider`] on shards of its own, with the ladder `tiers`, once the payload `"held"`
/// (published as `env`) has been held and then applied.
struct HeldRun {
    _vhost: TestVhost,
    db: TestDb,
    topology: Arc<Topology>,
    conn: lapin::Connection,
    metrics: BrokerMetrics,
    shards: Vec<Running>,
    env: Envelope<serde_json::Value>,
}

async fn held_until_applied(decider: &Decider, tiers: &[(&str, u64)]) -> HeldRun {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await;
    let topology = test_topology(tiers, 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let metrics = BrokerMetrics::default();
    let shards = spawn_shards(&topology, &db, &vhost.amqp_url, decider, &metrics);
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("order.dispatch", "pay_held", serde_json::json!("held"));
    publisher.publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory).await.unwrap();
    eventually("applied once it is no longer held", WITHIN, || async {
        !decider.handled.lock().unwrap().is_empty()
    })
    .await;
    HeldRun { _vhost: vhost, db, topology, conn, metrics, shards, env }
}

#[tokio::test]
async fn work_its_preparation_held_goes_round_the_ladder_without_a_transaction() {
    // The dispatcher's work held by a full bulkhead or an open breaker was applied in a
    // transaction of its own (an inbox row written, deleted, committed) only to be held: a commit
    // for every held message, every time round the ladder.
    let decider = Decider { recorder: Some(Recorder::new(Mode::Ok)), ..Decider::default() };
    let HeldRun { db, topology, conn, metrics, shards, env, _vhost } =
        held_until_applied(&decider, &[("t1", 100)]).await;
    assert_eq!(decider.prepared.lock().unwrap()[&env.message_id], 2, "prepared, held, prepared again");
    assert_eq!(
        *decider.handled.lock().unwrap(),
        vec![("pay_held".to_owned(), false)],
        "the handler's transaction ran only for the preparation that was not held"
    );
    assert_eq!(count(&db.pool, "SELECT count(*) FROM effects").await, 1);
    let ch = conn.create_channel().await.unwrap();
    for q in topology.shard_queues() {
        assert!(get_one(&ch, &topology.dlq(&q)).await.is_none(), "nothing dead-lettered from {q}");
        assert_eq!(handled(&metrics, &q, "retried"), 0, "a hold is not a retry");
    }
    eventually("held once, then done", WITHIN, || async {
        topology.shard_queues().iter().map(|q| handled(&metrics, q, "held")).sum::<u64>() == 1
            && topology.shard_queues().iter().map(|q| handled(&metrics, q, "done")).sum::<u64>() == 1
    })
    .await;
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn a_message_held_again_and_again_counts_its_holds_so_each_waits_longer() {
    // A held message went back to the ladder as it came, so it waited in the shortest tier
    // however often it was held: in a long outage every held message came round every 5 s,
    // and a backlog of them took the machine from the providers that worked.
    let decider = Decider { recorder: Some(Recorder::new(Mode::Ok)), more_holds: 2, ..Decider::default() };
    let tiers = [("t1", 50), ("t2", 100), ("t3", 150)];
    // Every part is kept to the end: the vhost and the database are dropped with it.
    let HeldRun { topology, metrics, shards, _vhost, db: _db, conn: _conn, env: _env } =
        held_until_applied(&decider, &tiers).await;
    assert_eq!(*decider.holds_seen.lock().unwrap(), vec![0, 1, 2, 3], "each time round, one hold more");
    assert_eq!(
        topology.hold_tier(0, 2, Duration::ZERO).map(|t| t.name.as_str()),
        Some("t3"),
        "so its last hold waited in the longest tier"
    );
    for q in topology.shard_queues() {
        assert_eq!(handled(&metrics, &q, "retried"), 0, "a hold is not a retry");
    }
    for r in shards {
        r.stop().await;
    }
}

#[tokio::test]
async fn a_hold_its_handler_recorded_itself_is_not_recorded_again() {
    // Every hold of the dispatcher's held work called its `retrying` after the preparation: an
    // INSERT and a commit of its own for each held message each time round the ladder (in a
    // long outage, a third of PostgreSQL's time), though the preparation's transaction, which
    // locked the order, could put the message in its order's retry line with the others of its
    // batch in one statement.
    for (records_holds, calls) in [(false, 2), (true, 0)] {
        let decider = Decider {
            recorder: Some(Recorder::new(Mode::Ok)),
            more_holds: 1,
            records_holds,
            ..Decider::default()
        };
        let HeldRun { shards, _vhost, db: _db, conn: _conn, env: _env, topology: _t, metrics: _m } =
            held_until_applied(&decider, &[("t1", 50), ("t2", 100)]).await;
        assert_eq!(
            decider.retrying.load(Ordering::SeqCst),
            calls,
            "held twice, recorded by its handler: {records_holds}"
        );
        for r in shards {
            r.stop().await;
        }
    }
}

/// A preparing handler, as the dispatcher with its provider calls: the preparation of the
/// payload `"first"` holds the consumer's only slot until `start` (so the messages after it
/// gather into one job), and that of `"slow"` does not end until `slow` (a provider that does not
/// answer). Records the order keys of each `prepare` and the payloads applied.
#[derive(Clone, Default)]
struct Gated {
    start: CancellationToken,
    slow: CancellationToken,
    prepared: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    applied: Arc<std::sync::Mutex<Vec<String>>>,
    /// The size of each batch `handle_batch` applied.
    batches: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl Handler for Gated {
    type Prepared = ();
    const PREPARES: bool = true;

    async fn prepare(
        &self,
        _: &sqlx::PgPool,
        msgs: &[&paygate::broker::consumer::Delivered],
    ) -> Result<Vec<paygate::broker::consumer::Preparing<()>>, paygate::broker::consumer::HandlerError> {
        self.prepared.lock().unwrap().push(msgs.iter().map(|m| m.envelope.order_key.clone()).collect());
        if msgs.iter().any(|m| m.envelope.payload == "first") {
            self.start.cancelled().await;
        }
        Ok(msgs
            .iter()
            .map(|m| -> paygate::broker::consumer::Preparing<()> {
                let slow = (m.envelope.payload == "slow").then(|| self.slow.clone());
                Box::pin(async move {
                    if let Some(slow) = slow {
                        slow.cancelled().await;
                    }
                    Ok(())
                })
            })
            .collect())
    }

    async fn handle(
        &self,
        _: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        msg: &paygate::broker::consumer::Delivered,
        _: &(),
    ) -> Result<paygate::broker::consumer::Outcome, paygate::broker::consumer::HandlerError> {
        self.applied.lock().unwrap().push(msg.envelope.payload.as_str().unwrap_or_default().to_owned());
        Ok(paygate::broker::consumer::Outcome::Done)
    }

    async fn handle_batch(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        msgs: &[(&paygate::broker::consumer::Delivered, &())],
    ) -> Result<paygate::broker::consumer::Batched, paygate::broker::consumer::HandlerError> {
        self.batches.lock().unwrap().push(msgs.len());
        for (msg, prepared) in msgs {
            self.handle(tx, msg, prepared).await?;
        }
        Ok(paygate::broker::consumer::Batched::AllDone)
    }
}

/// Two orders' messages taken in one job: one order's provider does not answer; the other's
/// answer is applied and acknowledged, and that order's next message goes on at once, without
/// waiting for the slow one (a job used to keep every order's turn until its last message).
#[tokio::test]
async fn an_orders_next_message_does_not_wait_for_another_orders_slow_provider_in_the_same_job() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await; // and the inbox
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let gated = Gated::default();
    let config =
        ConsumerConfig::for_queue(NAME, &queue).with_prefetch(100).with_concurrency(1).with_batch(10);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), gated.clone(), BrokerMetrics::default())
            .unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    let command = |key: &str, payload: &str| Envelope::new("command.pay", key, serde_json::json!(payload));
    publish_command(&publisher, &topology, &command("k0", "first")).await;
    let running = spawn(consumer, &vhost.amqp_url, "turns");
    eventually("the first holds the slot", WITHIN, || async { !gated.prepared.lock().unwrap().is_empty() })
        .await;
    for (key, payload) in [("kx", "slow"), ("ky", "y1"), ("ky", "y2")] {
        publish_command(&publisher, &topology, &command(key, payload)).await;
    }
    eventually("all taken by the consumer", WITHIN, || async { ready_count(&conn, &queue).await == 0 }).await;
    gated.start.cancel();

    eventually("y1 and then y2 applied while the slow call is out", WITHIN, || async {
        gated.applied.lock().unwrap().iter().filter(|p| p.starts_with('y')).count() == 2
    })
    .await;
    let prepared = gated.prepared.lock().unwrap().clone();
    assert!(
        prepared.contains(&vec!["kx".to_owned(), "ky".to_owned()]),
        "the slow order and y1 were taken in one job: {prepared:?}"
    );
    // (`first` is another order: it may be applied before or after them.)
    let applied: Vec<String> =
        gated.applied.lock().unwrap().iter().filter(|p| *p != "first").cloned().collect();
    assert_eq!(applied, ["y1", "y2"], "y1 then y2, and not the slow one");

    gated.slow.cancel();
    eventually("the slow one applied once it answers", WITHIN, || async {
        gated.applied.lock().unwrap().len() == 4
    })
    .await;
    running.stop().await;
}

/// Answers that come back apart, each in a job of its own (the messages arrived one at a time),
/// are applied together: a provider's latency spreads its answers out, and one transaction per
/// answer cost the dispatcher a fifth of its throughput.
#[tokio::test]
async fn answers_of_separate_jobs_ready_together_are_applied_in_one_transaction() {
    let (vhost, db) = (TestVhost::new().await, TestDb::new().await);
    create_effects(&db.pool).await; // and the inbox
    let topology = Arc::new(Topology::default());
    let conn = declared(&vhost.amqp_url, &topology).await;
    let queue = topology.ingest_queue();
    let gated = Gated::default();
    let config =
        ConsumerConfig::for_queue(NAME, &queue).with_prefetch(100).with_concurrency(1).with_batch(10);
    let consumer =
        Consumer::new(config, topology.clone(), db.pool.clone(), gated.clone(), BrokerMetrics::default())
            .unwrap();
    let running = spawn(consumer, &vhost.amqp_url, "appliers");
    let publisher = Publisher::new(&conn).await.unwrap();
    const N: usize = 8;
    for n in 0..N {
        publish_command(
            &publisher,
            &topology,
            &Envelope::new("command.pay", format!("k{n}"), serde_json::json!("slow")),
        )
        .await;
        // Each one prepared before the next is sent: a job each.
        eventually("prepared", WITHIN, || async { gated.prepared.lock().unwrap().len() == n + 1 }).await;
    }
    assert!(gated.prepared.lock().unwrap().iter().all(|keys| keys.len() == 1), "a job each");
    gated.slow.cancel(); // every provider answers

    eventually("all applied", WITHIN, || async { gated.applied.lock().unwrap().len() == N }).await;
    let batches = gated.batches.lock().unwrap().clone();
    assert!(batches.iter().any(|&n| n > 1), "answers of several jobs applied together: {batches:?}");
    // `applied` is recorded inside the transaction, before it commits.
    eventually("all committed", WITHIN, || async {
        count(&db.pool, "SELECT count(*) FROM processed_messages").await == N as i64
    })
    .await;
    eventually("all acknowledged", WITHIN, || async { ready_count(&conn, &queue).await == 0 }).await;
    running.stop().await;
}

#[tokio::test]
async fn the_inbox_lookup_before_preparing_probes_each_id_even_without_statistics() {
    // Planned while `processed_messages` had rows but no statistics (a new database before
    // autovacuum's first analyze), the plain `consumer = $1 AND message_id = ANY($2)` was cached
    // as a scan of every message the consumer had handled, the ids a filter.
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query(
        "INSERT INTO processed_messages (consumer, message_id)
         SELECT CASE WHEN n % 2 = 0 THEN 'provider-dispatcher' ELSE 'ingest' END, gen_random_uuid()
           FROM generate_series(1, 40) AS n",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut *conn).await.unwrap();
    let prepare =
        format!("PREPARE handled_before(text, uuid[]) AS {}", paygate::broker::consumer::HANDLED_BEFORE);
    sqlx::query(sqlx::AssertSqlSafe(prepare)).execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN EXECUTE handled_before('provider-dispatcher', ARRAY[gen_random_uuid(), gen_random_uuid()])",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Cond: ((consumer = $1) AND (message_id = m.id))"),
        "each id is looked up in the primary key:\n{plan}"
    );
    assert!(!plan.contains("Filter"), "no id is checked by reading the consumer's whole inbox:\n{plan}");
    // And it answers what it should: the ids handled, and only by this consumer.
    let handled: Uuid = sqlx::query_scalar(
        "INSERT INTO processed_messages (consumer, message_id) VALUES ('provider-dispatcher', gen_random_uuid())
         RETURNING message_id",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let other: Uuid = sqlx::query_scalar(
        "INSERT INTO processed_messages (consumer, message_id) VALUES ('ingest', gen_random_uuid()) RETURNING message_id",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let found: Vec<Uuid> = sqlx::query_scalar(paygate::broker::consumer::HANDLED_BEFORE)
        .bind("provider-dispatcher")
        .bind(vec![handled, other, Uuid::now_v7()])
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(found, vec![handled]);
}
