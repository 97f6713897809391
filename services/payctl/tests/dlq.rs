//! `payctl dlq` against the real broker, each test in a vhost and a database of its own.
//!
//! - A real poison message (a notification whose query back found no answer down the whole retry
//!   ladder, dead-lettered by the dispatcher) is listed and shown with its reason; once the cause
//!   is gone (the provider answers) it is replayed, twice over, and applied once.
//! - A replay killed half-way (a fault point holds payctl after a confirm, and the test kills it)
//!   loses nothing: every message is still dead-lettered or republished.
//! - Purge needs --yes, a reason and an operator, and writes the audit rows; bad input names the
//!   argument and the rule.

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use paygate::broker::Publisher;
use paygate::broker::dead_letter::{Rejection, dead_letter};
use paygate::broker::envelope::Envelope;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::providers::adapter::trade_no;
use paygate_e2e::{System, SystemOptions};
use paygate_test_support::{
    Finished, ServiceProcess, TestDb, TestVhost, eventually, eventually_some, run_to_exit,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_payctl");
const WITHIN: Duration = Duration::from_secs(30);
const PREFIX: &str = "dlqtest";

/// A vhost with the topology declared, a migrated database, and no service running.
struct Bare {
    vhost: TestVhost,
    db: TestDb,
    topology: Topology,
    conn: Connection,
}

impl Bare {
    async fn new() -> Self {
        let db = TestDb::new().await;
        paygate::db::migrate(&db.pool).await.expect("migrate");
        let vhost = TestVhost::new().await;
        let config = TopologyConfig { prefix: PREFIX.into(), order_shards: 2, ..TopologyConfig::default() };
        let topology = Topology::new(config).unwrap();
        let conn = paygate::broker::connect_once(&vhost.amqp_url, "dlq test").await.expect("connect");
        topology.declare(&conn.create_channel().await.unwrap()).await.expect("declare");
        Self { vhost, db, topology, conn }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("DATABASE_URL", self.db.url.as_str()),
            ("AMQP_URL", self.vhost.amqp_url.as_str()),
            ("AMQP_PREFIX", PREFIX),
            ("ORDER_SHARDS", "2"),
        ]
    }

    async fn payctl(&self, args: &[&str]) -> Finished {
        run_to_exit(BIN, args, &self.env(), WITHIN).await
    }

    /// `n` commands dead-lettered from the ingest queue as the consumer runtime does it, with
    /// `reason`; returns their message ids in queue order.
    async fn poison(&self, n: usize, reason: &str) -> Vec<String> {
        let publisher = Publisher::new(&self.conn).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let envelope = Envelope::new(
                "command.pay",
                format!("m-1:o-{i}"),
                json!({"merchant_order_no": format!("o-{i}")}),
            );
            let msg = envelope.to_amqp().unwrap();
            let rejection = Rejection {
                queue: &self.topology.ingest_queue(),
                rejected_by: "ingest",
                kind: "rejected",
                reason,
                exchange: &self.topology.commands_exchange(),
                routing_key: "command.pay",
            };
            dead_letter(&publisher, &self.topology, &rejection, &msg.properties, &msg.body).await.unwrap();
            ids.push(envelope.message_id.to_string());
        }
        publisher.close().await;
        ids
    }

    /// How many messages are ready in `queue`.
    async fn depth(&self, queue: &str) -> u32 {
        let channel = self.conn.create_channel().await.unwrap();
        let opts = QueueDeclareOptions { passive: true, ..Default::default() };
        let q = channel.queue_declare(queue.into(), opts, FieldTable::default()).await.unwrap();
        let _ = channel.close(200, "done".into()).await;
        q.message_count()
    }

    /// Takes every message out of `queue`: their message ids, in order.
    async fn drain(&self, queue: &str) -> Vec<String> {
        let channel = self.conn.create_channel().await.unwrap();
        let mut ids = Vec::new();
        while let Some(m) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: false }).await.unwrap()
        {
            ids.push(m.delivery.properties.message_id().as_ref().unwrap().to_string());
            m.delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
        }
        let _ = channel.close(200, "done".into()).await;
        ids
    }

    async fn audit(&self) -> Vec<(String, String, Option<String>, Option<String>, Option<String>)> {
        sqlx::query_as(
            "SELECT action, operator, message_id, reason, replayed_to_exchange FROM dead_letter_audit ORDER BY id",
        )
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }
}

fn ok(out: &Finished) {
    assert_eq!(out.code, Some(0), "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
}

fn json_of(out: &Finished) -> Value {
    ok(out);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_pages_without_losing_or_reordering_and_bad_input_is_named() {
    let bare = Bare::new().await;
    let dlq = bare.topology.dlq(&bare.topology.ingest_queue());
    let ids = bare.poison(5, "merchant m-1 is unknown").await;

    let list = json_of(&bare.payctl(&["dlq", "list", "--json"]).await);
    let ingest = list.as_array().unwrap().iter().find(|q| q["queue"] == dlq.as_str()).expect("listed");
    assert_eq!(ingest["depth"], 5);
    assert_eq!(ingest["by_reason"]["rejected"], 5);
    assert!(ingest["oldest_age_seconds"].as_i64().is_some(), "{ingest}");
    assert_eq!(
        list.as_array().unwrap().len(),
        4,
        "ingest's, two shards' and the callbacks queue's .dlq: {list}"
    );

    // Pages, twice over: the same messages in the same order each time, none lost.
    for _ in 0..2 {
        let first = json_of(&bare.payctl(&["dlq", "show", &dlq, "--limit", "2", "--json"]).await);
        let second =
            json_of(&bare.payctl(&["dlq", "show", &dlq, "--offset", "2", "--limit", "10", "--json"]).await);
        let shown: Vec<&str> = first["messages"]
            .as_array()
            .unwrap()
            .iter()
            .chain(second["messages"].as_array().unwrap())
            .map(|m| m["message_id"].as_str().unwrap())
            .collect();
        assert_eq!(shown, ids, "pages in queue order");
        let m = &first["messages"][0];
        assert_eq!(m["message_type"], "command.pay");
        assert_eq!(m["order_key"], "m-1:o-0");
        assert_eq!(m["kind"], "rejected");
        assert_eq!(m["reason"], "merchant m-1 is unknown");
        assert_eq!(m["rejected_by"], "ingest");
        assert_eq!(m["attempt"], 0);
        assert_eq!(m["payload"]["merchant_order_no"], "o-0");
        assert_eq!(m["origin"]["exchange"], bare.topology.commands_exchange());
        assert!(m["first_death_at"].is_string(), "{m}");
    }
    let table = bare.payctl(&["dlq", "show", &dlq, "--limit", "1"]).await;
    ok(&table);
    assert!(
        table.stdout.contains("merchant m-1 is unknown") && table.stdout.contains("next page: --offset 1"),
        "{}",
        table.stdout
    );
    assert_eq!(bare.depth(&dlq).await, 5);

    // Bad input names the argument and the rule, and changes nothing.
    let work = bare.topology.ingest_queue();
    for (args, expected) in [
        (
            vec!["dlq", "show", work.as_str()],
            "queue: \"dlqtest.commands.ingest\" is a work queue, not a dead-letter queue",
        ),
        (vec!["dlq", "show", "dlqtest.orders.shard.7.dlq"], "queue: no dead-letter queue"),
        (vec!["dlq", "show", "elsewhere"], "must end in .dlq"),
        (vec!["dlq", "show", dlq.as_str(), "--limit", "0"], "limit: must be from 1 to 500"),
        (vec!["dlq", "replay", dlq.as_str(), "--all"], "operator: is required to replay"),
        (
            vec!["dlq", "replay", dlq.as_str(), "--message-id", "nope", "--operator", "alice"],
            "message-id: no message \"nope\"",
        ),
        (
            vec!["dlq", "purge", dlq.as_str(), "--reason", "junk", "--operator", "alice"],
            "yes: purging drops the dead letters",
        ),
        (
            vec!["dlq", "purge", dlq.as_str(), "--reason", " ", "--operator", "alice", "--yes"],
            "reason: must not be empty",
        ),
        (vec!["dlq", "purge", dlq.as_str(), "--reason", "junk", "--yes"], "operator: is required to purge"),
        (
            vec!["dlq", "purge", dlq.as_str(), "--reason", "junk", "--yes", "--operator", "Al Ice"],
            "operator: must be an operator identity",
        ),
    ] {
        let out = bare.payctl(&args).await;
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: expected {expected:?} in {}", out.stderr);
    }
    let out = bare.payctl(&["dlq", "purge", &dlq, "--yes", "--operator", "alice"]).await;
    assert_eq!(out.code, Some(2), "clap refuses a purge without a reason");
    assert!(out.stderr.contains("--reason"), "{}", out.stderr);
    let out = bare.payctl(&["dlq", "replay", &dlq, "--operator", "alice"]).await;
    assert_eq!(out.code, Some(2), "replay needs --message-id or --all");
    assert_eq!(bare.depth(&dlq).await, 5);
    assert!(bare.audit().await.is_empty());

    // Dry run: says what, does nothing.
    let dry = json_of(&bare.payctl(&["dlq", "replay", &dlq, "--all", "--dry-run", "--json"]).await);
    assert_eq!(dry["messages"].as_array().unwrap().len(), 5);
    assert_eq!((bare.depth(&dlq).await, bare.depth(&work).await), (5, 0));

    // One message by id, back to the commands exchange (bound to the ingest queue), audited.
    let env = [("PAYCTL_OPERATOR", "Bob")];
    let mut args = bare.env();
    args.extend(env);
    let out = run_to_exit(
        BIN,
        &["dlq", "replay", &dlq, "--message-id", &ids[2], "--reason", "fixed", "--json"],
        &args,
        WITHIN,
    )
    .await;
    let replayed = json_of(&out);
    assert_eq!(replayed["messages"].as_array().unwrap().len(), 1);
    assert_eq!(bare.drain(&work).await, vec![ids[2].clone()]);
    let rest: Vec<String> =
        ids.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, id)| id.clone()).collect();

    // Purge: the rest, audited with who and why.
    let out =
        bare.payctl(&["dlq", "purge", &dlq, "--yes", "--reason", "test orders", "--operator", "carol"]).await;
    ok(&out);
    assert!(out.stdout.contains("4 message(s)") && out.stdout.contains("purged by carol"), "{}", out.stdout);
    assert_eq!(bare.depth(&dlq).await, 0);
    let audit = bare.audit().await;
    let commands = bare.topology.commands_exchange();
    assert_eq!(
        audit[0],
        ("replay".into(), "bob".into(), Some(ids[2].clone()), Some("fixed".into()), Some(commands))
    );
    let purged: Vec<String> = audit[1..].iter().map(|r| r.2.clone().unwrap()).collect();
    assert_eq!(purged, rest);
    assert!(
        audit[1..].iter().all(|r| r.0 == "purge" && r.1 == "carol" && r.3.as_deref() == Some("test orders"))
    );
    let out = bare.payctl(&["dlq", "show", &dlq]).await;
    ok(&out);
    assert!(out.stdout.contains("is empty"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_half_way_loses_nothing() {
    let bare = Bare::new().await;
    let dlq = bare.topology.dlq(&bare.topology.ingest_queue());
    let work = bare.topology.ingest_queue();
    let ids = bare.poison(12, "ingest was down").await;

    // The fifth replay is confirmed and audited, and payctl holds there until killed.
    let mut env = bare.env();
    env.push(("FAILPOINTS", "payctl.dlq_replay.after_confirm=4*off->return"));
    env.push(("PAYCTL_OPERATOR", "alice"));
    let mut replay = ServiceProcess::spawn_with_args(BIN, &["dlq", "replay", &dlq, "--all"], &env);
    eventually("payctl to reach its fault point", WITHIN, || async {
        replay.output().iter().any(|l| l.contains("fault point payctl.dlq_replay.after_confirm reached"))
    })
    .await;
    replay.signal("KILL").await;
    assert_eq!(replay.wait(WITHIN).await, None, "killed");

    // What payctl held returns to the DLQ: the fifth message is in both queues, nothing is lost.
    eventually("every message back in a queue", WITHIN, || async {
        bare.depth(&dlq).await + bare.depth(&work).await == 13
    })
    .await;
    let republished = bare.drain(&work).await;
    assert_eq!(republished, ids[..5].to_vec());
    assert_eq!(bare.depth(&dlq).await, 8, "{} and the fifth again", ids.len() - 5);
    let audited: Vec<String> = bare.audit().await.into_iter().map(|r| r.2.unwrap()).collect();
    assert_eq!(audited, ids[..5].to_vec(), "every confirmed replay is audited");

    // Replayed again, to the end: every message republished, the fifth twice (the inbox's job).
    let mut env = bare.env();
    env.push(("PAYCTL_OPERATOR", "alice"));
    ok(&run_to_exit(BIN, &["dlq", "replay", &dlq, "--all"], &env, WITHIN).await);
    assert_eq!(bare.depth(&dlq).await, 0);
    let again = bare.drain(&work).await;
    let all: BTreeSet<&String> = republished.iter().chain(&again).collect();
    assert_eq!(all, ids.iter().collect(), "none lost");
    assert_eq!(again.len(), 8);
}

/// The dispatcher's `duplicate` outcomes so far.
async fn duplicates(system: &System) -> u64 {
    let text = system.dispatcher_metrics(0).await;
    text.lines()
        .filter(|l| l.starts_with("paygate_messages_handled_total{") && l.contains("outcome=\"duplicate\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_shown_with_its_reason_then_replayed_and_applied_once() {
    let system = System::with(SystemOptions {
        notify_handler: true,
        // One retry: a query back that gets no answer twice is dead-lettered within about 1 s.
        retry_tiers: "1s".into(),
        stuck_schedule: "10m".into(),
        ..SystemOptions::default()
    })
    .await;
    let env = [
        ("DATABASE_URL", system.db.url.as_str()),
        ("AMQP_URL", system.vhost.amqp_url.as_str()),
        ("AMQP_PREFIX", paygate_e2e::system::PREFIX),
        ("ORDER_SHARDS", "2"),
        ("RETRY_TIERS", "1s"),
        ("PAYCTL_OPERATOR", "sre-on-call"),
    ];
    let payctl = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_to_exit(BIN, &args, &env, WITHIN).await
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // The poison: the provider does not answer the query back for the customer's payment
    // notification, down the whole retry ladder; the dispatcher dead-letters the notification.
    system.pay("o-dead", "6.00", "qr").await;
    system.wait_for("o-dead", "payment.action_required", WITHIN).await;
    let id = system.payment("o-dead").await.unwrap().id;
    system.close_our_side(id).await;
    let admin = system.mockpay.admin();
    admin.script_fault(&trade_no(id), mockpay::Operation::Query, mockpay::Fault::Http500, 2).await.unwrap();
    admin.pay(&trade_no(id)).await.unwrap();
    // Listed with its reason, and shown: the notification, and maybe a follow-up query that was
    // waiting behind it on the order's retry line.
    let (queue, shown) = eventually_some("the notification to be dead-lettered", WITHIN, || async {
        let list = json_of(&payctl(args(&["dlq", "list", "--json"])).await);
        for q in list.as_array().unwrap().iter().filter(|q| q["depth"] != 0) {
            let queue = q["queue"].as_str().unwrap().to_owned();
            let shown = json_of(&payctl(args(&["dlq", "show", &queue, "--json"])).await);
            let messages = shown["messages"].as_array().unwrap();
            if messages.iter().any(|m| m["message_type"] == "order.notification") {
                return Some((queue, shown));
            }
        }
        None
    })
    .await;
    assert!(queue.starts_with("paygate.orders.shard."), "{queue}");
    let messages = shown["messages"].as_array().unwrap();
    assert!(
        messages.iter().all(|m| m["order_key"] == id.to_string() && m["kind"] == "retries_exhausted"),
        "{shown}"
    );
    let m = messages.iter().find(|m| m["message_type"] == "order.notification").unwrap();
    assert!(m["reason"].as_str().unwrap().contains("retries exhausted"), "{m}");
    assert!(m["reason"].as_str().unwrap().contains("gave no answer"), "{m}");
    assert_eq!(m["rejected_by"], "provider-dispatcher", "{m}");
    assert_eq!(m["origin"]["from"], "paygate headers", "{m}");
    assert_eq!(m["origin"]["exchange"], "paygate.orders", "{m}");
    assert!(m["first_death_at"].is_string(), "{m}");
    assert!(m["payload"].is_object(), "{m}");
    let message_id = m["message_id"].as_str().unwrap().to_owned();
    let list = json_of(&payctl(args(&["dlq", "list", "--json"])).await);
    let listed = list.as_array().unwrap().iter().find(|q| q["queue"] == queue.as_str()).unwrap();
    assert!(listed["by_reason"]["retries_exhausted"].as_u64().unwrap() >= 1, "{list}");
    let table = payctl(args(&["dlq", "show", &queue])).await;
    ok(&table);
    assert!(
        table.stdout.contains("retries_exhausted") && table.stdout.contains(&message_id),
        "{}",
        table.stdout
    );

    // Two copies of it, as a crash between a dead-lettering and its acknowledgement leaves.
    copy_message(&system, &queue, &message_id).await;

    // The cause is gone (the provider answers queries now): replayed, both copies; applied once.
    let before = duplicates(&system).await;
    let replayed =
        json_of(&payctl(args(&["dlq", "replay", &queue, "--message-id", &message_id, "--json"])).await);
    assert_eq!(replayed["messages"].as_array().unwrap().len(), 2, "{replayed}");
    let event = system.wait_for("o-dead", "payment.succeeded", WITHIN).await;
    assert_eq!(event.flags, ["paid_after_close"]);
    eventually("the second copy to be recognised as a duplicate", WITHIN, || async {
        duplicates(&system).await > before
    })
    .await;
    let succeeded =
        system.upstream.order_events("o-dead").iter().filter(|e| e.kind == "payment.succeeded").count();
    assert_eq!(succeeded, 1);
    assert_eq!(system.notifications(id).await[0].status, "applied");
    assert_eq!(system.truth(id).await.charges, 1);
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT operator, message_id FROM dead_letter_audit WHERE action = 'replay'")
            .fetch_all(&system.db.pool)
            .await
            .unwrap();
    assert_eq!(audited, vec![("sre-on-call".to_owned(), message_id.clone()); 2]);
    let shown = json_of(&payctl(args(&["dlq", "show", &queue, "--json"])).await);
    assert!(
        shown["messages"].as_array().unwrap().iter().all(|m| m["message_id"] != message_id.as_str()),
        "{shown}"
    );
    system.stop().await;
}

/// Puts a copy of message `message_id` of `queue` into it again.
async fn copy_message(system: &System, queue: &str, message_id: &str) {
    let conn = paygate::broker::connect_once(&system.vhost.amqp_url, "dlq test").await.unwrap();
    let channel = conn.create_channel().await.unwrap();
    let publisher = Publisher::new(&conn).await.unwrap();
    loop {
        let got = channel.basic_get(queue.into(), BasicGetOptions { no_ack: false }).await.unwrap();
        let m = got.expect("the message is in the queue");
        if m.delivery.properties.message_id().as_ref().is_some_and(|id| id.as_str() == message_id) {
            let props: BasicProperties = m.delivery.properties.clone();
            publisher
                .send_raw("", queue, &m.delivery.data, props, paygate::broker::Routing::Mandatory)
                .await
                .unwrap()
                .confirmed()
                .await
                .unwrap();
            break;
        }
    }
    publisher.close().await;
    let _ = channel.close(200, "done".into()).await;
    let _ = conn.close(200, "done".into()).await;
}
