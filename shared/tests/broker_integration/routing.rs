//! Routing: the consistent hash, the retry ladder, mandatory publishing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use lapin::types::AMQPValue;
use paygate::broker::envelope::{Envelope, header_int, header_str, headers};
use paygate::broker::retry::{RetryDecision, schedule_retry};
use paygate::broker::{PublishError, Publisher, Routing, Topology, TraceContext};
use paygate_test_support::{TestVhost, eventually, eventually_some};

use crate::common::*;

#[tokio::test]
async fn the_same_order_key_always_lands_on_the_same_shard() {
    let vhost = TestVhost::new().await;
    let topology = Topology::default();
    let conn = declared(&vhost.amqp_url, &topology).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut channels = Vec::new();
    for q in topology.shard_queues() {
        channels.push(collect(&conn, &q, seen.clone()).await);
    }
    let publisher = Publisher::new(&conn).await.unwrap();
    const KEYS: usize = 200;
    for round in 0..2 {
        for i in 0..KEYS {
            let env = Envelope::new("order.dispatch", format!("order-{i}"), round);
            publisher
                .publish(&topology.orders_exchange(), "order.dispatch", &env, Routing::Mandatory)
                .await
                .unwrap();
        }
    }
    eventually("every message consumed", WITHIN, || async { seen.lock().unwrap().len() == 2 * KEYS }).await;

    let mut shards_of_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in seen.lock().unwrap().iter() {
        let key = header_str(&s.properties, headers::ORDER_KEY).unwrap().to_owned();
        shards_of_key.entry(key).or_default().insert(s.queue.clone());
    }
    assert_eq!(shards_of_key.len(), KEYS);
    for (key, shards) in &shards_of_key {
        assert_eq!(shards.len(), 1, "{key} went to {shards:?}");
    }
    let used: BTreeSet<_> = shards_of_key.values().flatten().collect();
    assert_eq!(used.len(), 4, "every shard gets some orders: {used:?}");
}

#[tokio::test]
async fn a_retried_message_returns_to_its_shard_with_headers_intact() {
    let vhost = TestVhost::new().await;
    let topology = test_topology(&[("t1", 200), ("t2", 400)], 10);
    let conn = declared(&vhost.amqp_url, &topology).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut channels = Vec::new();
    for q in topology.shard_queues() {
        channels.push(collect(&conn, &q, seen.clone()).await);
    }
    let publisher = Publisher::new(&conn).await.unwrap();
    let mut env = Envelope::new("order.query", "pay_01HXYZ", serde_json::json!({"n": 1}));
    env.trace = TraceContext {
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tracestate: Some("vendor=x".into()),
    };
    publisher.publish(&topology.orders_exchange(), "order.query", &env, Routing::Mandatory).await.unwrap();
    let first =
        eventually_some("first delivery", WITHIN, || async { seen.lock().unwrap().first().cloned() }).await;
    assert_eq!(header_int(&first.properties, headers::ATTEMPT), Some(0));

    // What a consumer does with a message to retry: parse it, schedule the retry, ack.
    let received: Envelope<serde_json::Value> = Envelope::from_json(&first.body).unwrap();
    let decision = schedule_retry(&publisher, &topology, &received).await.unwrap();
    assert_eq!(decision, RetryDecision::Scheduled { tier: "t1".into(), attempt: 1 });

    let second =
        eventually_some("the retried delivery", WITHIN, || async { seen.lock().unwrap().get(1).cloned() })
            .await;
    assert_eq!(second.queue, first.queue, "back on the same shard");
    let back: Envelope<serde_json::Value> = Envelope::from_json(&second.body).unwrap();
    assert_eq!(back.message_id, env.message_id);
    assert_eq!(back.attempt, 1);
    assert_eq!(back.trace, env.trace);
    assert_eq!(back.payload, env.payload);
    let p = &second.properties;
    assert_eq!(header_int(p, headers::ATTEMPT), Some(1));
    assert_eq!(header_str(p, headers::ORDER_KEY), Some("pay_01HXYZ"));
    assert_eq!(header_str(p, headers::TRACEPARENT), env.trace.traceparent.as_deref());
    assert_eq!(header_str(p, headers::TRACESTATE), Some("vendor=x"));
    assert_eq!(p.message_id().as_ref().unwrap().as_str(), env.message_id.to_string());
    // The broker recorded the detour through the tier queue.
    let Some(AMQPValue::FieldArray(deaths)) = header(p, "x-death") else { panic!("no x-death: {p:?}") };
    let Some(AMQPValue::FieldTable(death)) = deaths.as_slice().first() else { panic!("{deaths:?}") };
    let queue = match death.inner().get("queue") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(queue, topology.retry_queue("t1"));

    // Past the last tier there is no retry.
    let mut last = back;
    last.attempt = 2;
    assert_eq!(
        schedule_retry(&publisher, &topology, &last).await.unwrap(),
        RetryDecision::Exhausted { attempts: 2 }
    );
}

#[tokio::test]
async fn mandatory_publishing_reports_unroutable_messages() {
    let vhost = TestVhost::new().await;
    let topology = Topology::default();
    let conn = declared(&vhost.amqp_url, &topology).await;
    let publisher = Publisher::new(&conn).await.unwrap();
    let env = Envelope::new("x", "k", ());
    let err =
        publisher.publish(&topology.dlx(), "no.such.queue", &env, Routing::Mandatory).await.unwrap_err();
    assert!(matches!(err, PublishError::Unroutable { .. }), "{err}");
    assert!(err.to_string().contains("unroutable"), "{err}");
    // Nobody has bound a queue to the events exchange: fine, for events.
    let events = topology.events_exchange();
    publisher.publish(&events, "payment.succeeded", &env, topology.routing_for(&events)).await.unwrap();
    assert!(publisher.is_open());
}
