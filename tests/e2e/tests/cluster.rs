//! paygate on a real three-node RabbitMQ cluster (private nodes of Debian's rabbitmq-server, on
//! their own ports: the machine's broker is never touched), as deploy/compose.yaml runs it: the
//! services are given every node in `AMQP_URL`, the order shards are quorum queues replicated on
//! the three nodes, and losing one node loses no payment and charges none twice.

use std::time::Duration;

use paygate_e2e::system::ClusterBroker;
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{RabbitCluster, eventually};

const WITHIN: Duration = Duration::from_secs(90);

async fn paid_once(system: &System, order_no: &str) {
    let payment = system.payment_in(order_no, "succeeded", WITHIN).await;
    let truth = system.truth(payment.id).await;
    assert_eq!((truth.status.as_str(), truth.charges), ("SUCCEEDED", 1), "{order_no}: charged once");
    eventually(&format!("payment.succeeded of {order_no} upstream"), WITHIN, || async {
        system.upstream.order_events(order_no).iter().any(|e| e.kind == "payment.succeeded")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_go_on_when_one_rabbitmq_node_of_three_is_lost() {
    if !RabbitCluster::available() {
        assert!(std::env::var_os("CI").is_none(), "CI must run this: install Debian's rabbitmq-server");
        eprintln!("SKIPPED: Debian's rabbitmq-server is not installed");
        return;
    }
    let mut cluster = RabbitCluster::start(3).await;
    let broker = ClusterBroker {
        amqp_bases: cluster.nodes.iter().map(|n| n.amqp_base()).collect(),
        management: cluster.nodes[2].management_url(),
        // The upstream stays on a node that is not lost.
        upstream_node: 2,
    };
    let system = System::with(SystemOptions { broker: Some(broker), ..Default::default() }).await;
    assert_eq!(system.services_amqp_url().split(',').count(), 3, "the services know every node");

    // The shards are replicated on every node.
    let vhost = system.vhost.name.clone();
    for shard in 0..system.options.order_shards {
        let queue = format!("{}.orders.shard.{shard}", paygate_e2e::system::PREFIX);
        let members = cluster.quorum_members(2, &vhost, &queue);
        assert_eq!(members.len(), 3, "{queue} has a member on each node: {members:?}");
    }

    let before: Vec<String> = (0..10).map(|i| format!("before-{i}")).collect();
    for order_no in &before {
        system.pay(order_no, "1.00", "direct").await;
    }
    for order_no in &before {
        paid_once(&system, order_no).await;
    }

    // Node 0 is lost: it is first in every service's list, and holds some connections and
    // queue leaders. The services move to the other nodes; the queues elect new leaders.
    cluster.stop_node(0);
    eventually("the cluster down to two running nodes", WITHIN, || {
        let running = cluster.running_nodes(&cluster.nodes[2].name);
        async move { running == 2 }
    })
    .await;

    let after: Vec<String> = (0..10).map(|i| format!("after-{i}")).collect();
    for order_no in &after {
        system.pay(order_no, "1.00", "direct").await;
    }
    for order_no in before.iter().chain(&after) {
        paid_once(&system, order_no).await;
    }
    system.stop().await;
}
