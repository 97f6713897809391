//! Declaring the topology, and importing its definitions file.

use paygate::broker::Topology;
use paygate::broker::definitions;
use paygate_test_support::TestVhost;
use serde_json::json;

use crate::common::*;

async fn queue(vhost: &str, name: &str) -> serde_json::Value {
    mgmt_get(&["queues", vhost, name]).await.unwrap_or_else(|| panic!("queue {name} missing"))
}

/// Every queue of `topology` exists in `vhost`, durable, with exactly the topology's arguments.
async fn assert_matches(vhost: &str, topology: &Topology) {
    let rendered = definitions::definitions(topology, vhost);
    for q in rendered["queues"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        let actual = queue(vhost, name).await;
        assert_eq!(actual["durable"], true, "{name}");
        assert_eq!(actual["type"], "quorum", "{name}");
        assert_eq!(actual["arguments"], q["arguments"], "{name}");
    }
    for e in rendered["exchanges"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let actual =
            mgmt_get(&["exchanges", vhost, name]).await.unwrap_or_else(|| panic!("exchange {name} missing"));
        assert_eq!(actual["type"], e["type"], "{name}");
        assert_eq!(actual["arguments"], e["arguments"], "{name}");
    }
    let bindings = mgmt_get(&["bindings", vhost]).await.unwrap();
    for b in rendered["bindings"].as_array().unwrap() {
        let found = bindings.as_array().unwrap().iter().any(|x| {
            x["source"] == b["source"]
                && x["destination"] == b["destination"]
                && x["routing_key"] == b["routing_key"]
        });
        assert!(found, "binding {b} missing");
    }
}

#[tokio::test]
async fn declaring_twice_is_idempotent_and_queues_have_their_arguments() {
    let vhost = TestVhost::new().await;
    let topology = Topology::default();
    let conn = connect(&vhost.amqp_url).await;
    let ch = conn.create_channel().await.unwrap();
    topology.declare(&ch).await.unwrap();
    topology.declare(&ch).await.expect("a second declaration on the same channel");
    let other = conn.create_channel().await.unwrap();
    topology.declare(&other).await.expect("a declaration on another channel");

    assert_matches(&vhost.name, &topology).await;
    let shard = queue(&vhost.name, "paygate.orders.shard.1").await;
    assert_eq!(
        shard["arguments"],
        json!({
            "x-queue-type": "quorum",
            "x-single-active-consumer": true,
            "x-dead-letter-exchange": "paygate.dlx",
            "x-dead-letter-routing-key": "paygate.orders.shard.1",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": 10,
        })
    );
    let tier = queue(&vhost.name, "paygate.retry.30s").await;
    assert_eq!(
        tier["arguments"],
        json!({
            "x-queue-type": "quorum",
            "x-message-ttl": 30000,
            "x-dead-letter-exchange": "paygate.orders",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        })
    );
    let orders = mgmt_get(&["exchanges", &vhost.name, "paygate.orders"]).await.unwrap();
    assert_eq!(orders["type"], "x-consistent-hash");
    assert_eq!(orders["arguments"], json!({"hash-header": "order-key"}));
    assert!(mgmt_get(&["queues", &vhost.name, "paygate.commands.ingest.dlq"]).await.is_some());
}

#[tokio::test]
async fn the_definitions_file_imports_to_what_declare_declares() {
    let vhost = TestVhost::new().await;
    let topology = Topology::default();
    let body = definitions::definitions(&topology, &vhost.name);
    let status = mgmt_post(&["definitions", &vhost.name], &body).await;
    assert!(status.is_success(), "import: {status}");
    assert_matches(&vhost.name, &topology).await;
    // Declaring over the imported objects succeeds only if every argument is equivalent.
    let conn = connect(&vhost.amqp_url).await;
    topology.declare(&conn.create_channel().await.unwrap()).await.expect("declare after import");
}

#[tokio::test]
async fn bad_credentials_and_unknown_vhosts_are_refused_with_a_clear_error() {
    for (url, says) in [
        ("amqp://guest:wrong@127.0.0.1:5672/%2f", "ACCESS_REFUSED"),
        ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "vhost no-such-vhost not found"),
    ] {
        let e = paygate::broker::connect_once(url, "probe").await.unwrap_err();
        let text = e.to_string();
        assert!(e.is_refused(), "{text}");
        assert!(text.contains(says) && text.contains("amqp://guest@127.0.0.1:5672/"), "{text}");
        assert!(!text.contains("wrong") && !text.contains("guest:guest"), "{text}");
    }
}
