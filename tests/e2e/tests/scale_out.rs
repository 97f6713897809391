//! Scale-out and fail-over: two provider-dispatcher processes on four order shards, 1,000 orders
//! with interleaved pay, close and query commands, and the dispatcher doing the work killed with
//! SIGKILL once about a third of the orders are final.
//!
//! The instances share the shards (each consumes the ones it holds a lease on, a fair share:
//! `provider-dispatcher`'s `shard_leases`), so both handle work before the kill; the surviving
//! instance takes the dead one's shards over once their leases expire, and the test measures and
//! prints how long after the kill the survivor handled its first message from them. At the end every order must be in its right final state (none
//! lost), mockpay must never have charged an order more than once, and the history must hold no
//! transition twice (per entity, versions 0..n without a gap or a repeat) and read, per order,
//! like one of the clean runs its kind allows.
//!
//! The orders, by merchant order number:
//! - `d-NNNN`: `direct` pays, which succeed at once;
//! - `qp-NNNN`: `qr` pays the test pays through mockpay's admin API as soon as they wait for the
//!   customer; the dispatcher's follow-up query finds them paid;
//! - `qc-NNNN`: `qr` pays closed by a `close` command published a few orders later, before anyone
//!   pays them (closed before they were sent, or closed at mockpay).
//!
//! `query` commands for earlier orders are published in between (each answered with a report of
//! the order's current state, which must carry the event id of that state's transition).

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use paygate::providers::adapter::trade_no;
use paygate_e2e::system::{MERCHANT, PREFIX};
use paygate_e2e::{System, SystemOptions};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

const ORDERS: usize = 1_000;
const SHARDS: u16 = 4;
/// The whole run (publishing to the last order final) must fit in this.
const DEADLINE: Duration = Duration::from_secs(150);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Direct,
    QrPaid,
    QrClosed,
}

impl Kind {
    fn of(i: usize) -> Self {
        match i % 4 {
            0 | 1 => Kind::Direct,
            2 => Kind::QrPaid,
            _ => Kind::QrClosed,
        }
    }

    fn order_no(self, i: usize) -> String {
        let prefix = match self {
            Kind::Direct => "d",
            Kind::QrPaid => "qp",
            Kind::QrClosed => "qc",
        };
        format!("{prefix}-{i:04}")
    }

    fn of_order_no(order_no: &str) -> Self {
        match order_no.split('-').next() {
            Some("d") => Kind::Direct,
            Some("qp") => Kind::QrPaid,
            Some("qc") => Kind::QrClosed,
            other => panic!("unexpected order number prefix {other:?}"),
        }
    }

    fn final_state(self) -> &'static str {
        match self {
            Kind::Direct | Kind::QrPaid => "succeeded",
            Kind::QrClosed => "closed",
        }
    }

    /// The histories (payment states, in order) a clean run can give this kind of order.
    fn clean_histories(self) -> &'static [&'static str] {
        match self {
            Kind::Direct => &["created,pending,succeeded"],
            Kind::QrPaid => &["created,pending,action_required,succeeded"],
            // Closed before it was sent, or sent and then closed at the provider.
            Kind::QrClosed => &["created,closed", "created,pending,action_required,closed"],
        }
    }
}

/// The dispatcher killed, and when.
struct Kill {
    victim: usize,
    at: DateTime<Utc>,
    /// The shard queues the victim was handling.
    shards: BTreeSet<String>,
    final_orders_at_kill: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_a_thousand_orders_one_killed_mid_run() {
    let mut system = System::with(SystemOptions {
        processes: true,
        dispatchers: 2,
        order_shards: SHARDS,
        provider_timeout_ms: 5_000,
        // "handled" lines (debug) tell which instance handled what, and when.
        dispatcher_env: vec![("RUST_LOG".into(), "info,paygate::broker::consumer=debug".into())],
        ..SystemOptions::default()
    })
    .await;
    let started = Instant::now();
    let (published, kill) = tokio::join!(publish_all(&system), drive(&system));
    let elapsed = started.elapsed();
    system.kill_dispatcher(kill.victim).await; // reap it (it was sent SIGKILL mid-run)
    let survivor = 1 - kill.victim;
    let takeover = first_handled_after(&system, survivor, &kill)
        .expect("the survivor handled messages from the dead instance's shards");
    let takeover = (takeover - kill.at).to_std().unwrap_or_default();
    println!(
        "scale-out: {ORDERS} orders ({published} commands) final in {elapsed:.1?}; dispatcher {} killed \
         with {} orders final, handling {:?}; the survivor handled its first message from those \
         shards {takeover:.1?} after the kill",
        kill.victim, kill.final_orders_at_kill, kill.shards
    );

    let payments = payments(&system).await;
    assert_eq!(payments.len(), ORDERS, "every order exists");
    for (order_no, (_, state)) in &payments {
        assert_eq!(state, Kind::of_order_no(order_no).final_state(), "{order_no}");
    }
    assert_charged_at_most_once(&system, &payments).await;
    assert_history_clean(&system).await;
    assert_histories_are_clean_runs(&system).await;
    assert_events(&system, &payments).await;
    assert_dead_letter_queues_empty(&system).await;
    system.stop().await;
}

/// Publishes the pays, and, interleaved, the closes (three orders after their pay) and queries
/// (for an order five back, every seventh order). Returns the number of commands published.
async fn publish_all(system: &System) -> usize {
    let mut published = 0;
    let close = |i: usize| async move {
        let no = Kind::QrClosed.order_no(i);
        system
            .upstream
            .command("command.close", &no, json!({"merchant_id": MERCHANT, "merchant_order_no": no}))
            .await;
    };
    for i in 0..ORDERS {
        let kind = Kind::of(i);
        system.pay(&kind.order_no(i), &amount(i), if kind == Kind::Direct { "direct" } else { "qr" }).await;
        published += 1;
        if i >= 3 && Kind::of(i - 3) == Kind::QrClosed {
            close(i - 3).await;
            published += 1;
        }
        if i >= 5 && i % 7 == 0 {
            let no = Kind::of(i - 5).order_no(i - 5);
            let payload = json!({"merchant_id": MERCHANT, "merchant_order_no": no});
            system.upstream.command("command.query", &no, payload).await;
            published += 1;
        }
    }
    for i in ORDERS.saturating_sub(3)..ORDERS {
        if Kind::of(i) == Kind::QrClosed {
            close(i).await;
            published += 1;
        }
    }
    published
}

/// 0.01 to 99.99 in CNY, different per order.
fn amount(i: usize) -> String {
    let minor = 1 + (i * 7_919) % 9_999;
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// Until every order is final: pays the `qp` orders at mockpay as soon as they wait for the
/// customer, and kills the busiest dispatcher once a third of the orders are final.
async fn drive(system: &System) -> Kill {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let mut paid: HashSet<String> = HashSet::new();
    let mut kill: Option<Kill> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let payments = payments(system).await;
        let to_pay: Vec<(String, Uuid)> = payments
            .iter()
            .filter(|(no, (_, state))| {
                Kind::of_order_no(no) == Kind::QrPaid && state == "action_required" && !paid.contains(*no)
            })
            .map(|(no, (id, _))| (no.clone(), *id))
            .collect();
        let admin = system.mockpay.admin();
        let results: Vec<_> = futures_util::stream::iter(to_pay)
            .map(|(no, id)| {
                let admin = admin.clone();
                async move { (no, admin.pay(&trade_no(id)).await) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (no, result) in results {
            let answer = result.unwrap_or_else(|e| panic!("mockpay admin pays {no}: {e:#}"));
            assert_eq!(answer.return_code, "0000", "the customer pays {no}: {}", answer.return_message);
            paid.insert(no);
        }
        let done =
            payments.iter().filter(|(no, (_, state))| state == Kind::of_order_no(no).final_state()).count();
        if kill.is_none() && done >= ORDERS / 3 {
            kill = kill_busiest(system, done).await;
            // Both instances must share the work well before the end (a hand-over waits only
            // for the calls under way, not for the prefetched messages).
            assert!(
                kill.is_some() || done < 2 * ORDERS / 3,
                "both instances handle work (they share the shards) before two thirds are final: \
                 handled {} and {}",
                handled(system, 0).len(),
                handled(system, 1).len()
            );
        }
        if std::env::var_os("SCALE_OUT_PROGRESS").is_some() {
            let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, state) in payments.values() {
                *by_state.entry(state.as_str()).or_default() += 1;
            }
            eprintln!("{:.1?} {by_state:?}", started.elapsed());
        }
        if done == ORDERS && payments.len() == ORDERS {
            return kill.expect("the kill happened before the last order was final");
        }
        assert!(
            Instant::now() < deadline,
            "not every order final after {DEADLINE:?}: {done} of {ORDERS} ({} exist)",
            payments.len()
        );
    }
}

/// SIGKILLs the dispatcher that has handled the most messages, once both have handled some (they
/// share the shards) and it holds a shard lease; `None` until then.
///
/// The shards it was handling are the leases it holds in the database at the kill (its log lines
/// may reach the test late on a loaded machine, so they cannot tell which shards it holds now).
async fn kill_busiest(system: &System, final_orders: usize) -> Option<Kill> {
    let handled: Vec<Vec<Handled>> = (0..2).map(|i| handled(system, i)).collect();
    if handled.iter().any(|h| h.is_empty()) {
        return None;
    }
    let victim = if handled[0].len() >= handled[1].len() { 0 } else { 1 };
    let id = instance_id(system, victim)?;
    let process = system.dispatcher_process(victim);
    // Stop it first, then read its leases: a stopped instance neither takes nor gives one up.
    process.signal("STOP").await;
    let leased: Vec<(i32,)> =
        sqlx::query_as("SELECT shard FROM shard_leases WHERE owner = $1 AND expires_at > now()")
            .bind(id)
            .fetch_all(&system.db.pool)
            .await
            .expect("read the victim's leases");
    if leased.is_empty() {
        process.signal("CONT").await;
        return None;
    }
    let shards = leased.into_iter().map(|(shard,)| format!("{PREFIX}.orders.shard.{shard}")).collect();
    process.signal("KILL").await;
    let at = Utc::now();
    Some(Kill { victim, at, shards, final_orders_at_kill: final_orders })
}

/// The instance id a dispatcher logged when it started sharing the shards.
fn instance_id(system: &System, i: usize) -> Option<Uuid> {
    system.dispatcher_process(i).output().iter().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["fields"]["message"] != "sharing the order shards" {
            return None;
        }
        v["fields"]["instance"].as_str()?.parse().ok()
    })
}

/// One "handled" log line of a dispatcher.
struct Handled {
    at: DateTime<Utc>,
    queue: String,
}

fn handled(system: &System, i: usize) -> Vec<Handled> {
    system
        .dispatcher_process(i)
        .output()
        .iter()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            if v["fields"]["message"] != "handled" {
                return None;
            }
            let at = v["timestamp"].as_str()?.parse().ok()?;
            let queue = v["span"]["queue"].as_str()?.to_owned();
            Some(Handled { at, queue })
        })
        .collect()
}

/// When the survivor first handled a message from the dead instance's shards after the kill.
fn first_handled_after(system: &System, survivor: usize, kill: &Kill) -> Option<DateTime<Utc>> {
    handled(system, survivor)
        .into_iter()
        .filter(|h| h.at >= kill.at && kill.shards.contains(&h.queue))
        .map(|h| h.at)
        .min()
}

/// Every payment: merchant order number → (id, state).
async fn payments(system: &System) -> BTreeMap<String, (Uuid, String)> {
    let rows: Vec<(String, Uuid, String)> =
        sqlx::query_as("SELECT merchant_order_no, id, state FROM payments WHERE merchant_id = $1")
            .bind(MERCHANT)
            .fetch_all(&system.db.pool)
            .await
            .expect("read the payments");
    rows.into_iter().map(|(no, id, state)| (no, (id, state))).collect()
}

/// mockpay charged every paid order exactly once and no other order at all.
async fn assert_charged_at_most_once(system: &System, payments: &BTreeMap<String, (Uuid, String)>) {
    let admin = system.mockpay.admin();
    let truths: Vec<_> = futures_util::stream::iter(payments.iter())
        .map(|(no, (id, _))| {
            let admin = admin.clone();
            async move { (no.clone(), admin.payment(&trade_no(*id)).await.expect("mockpay admin")) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut charges = 0;
    for (no, truth) in truths {
        let kind = Kind::of_order_no(&no);
        let (count, status) = truth.map(|t| (t.charges, t.status)).unwrap_or((0, "UNKNOWN".into()));
        assert!(count <= 1, "{no} was charged {count} times");
        match kind {
            Kind::Direct | Kind::QrPaid => {
                assert_eq!((count, status.as_str()), (1, "SUCCEEDED"), "{no} at mockpay")
            }
            Kind::QrClosed => assert!(
                count == 0 && matches!(status.as_str(), "UNKNOWN" | "CLOSED"),
                "{no} at mockpay: {status}, {count} charges"
            ),
        }
        charges += count;
    }
    let expected = (0..ORDERS).filter(|i| Kind::of(*i) != Kind::QrClosed).count();
    assert_eq!(charges as usize, expected, "one charge per paid order");
}

/// No transition twice: no duplicate (payment, refund, version), and per entity the versions are
/// 0..n without gaps.
async fn assert_history_clean(system: &System) {
    let duplicates: Vec<(Uuid, Option<Uuid>, i64, i64)> = sqlx::query_as(
        "SELECT payment_id, refund_id, version, count(*) FROM state_transitions
          GROUP BY payment_id, refund_id, version HAVING count(*) > 1",
    )
    .fetch_all(&system.db.pool)
    .await
    .expect("query duplicates");
    assert!(duplicates.is_empty(), "transitions recorded twice: {duplicates:?}");
    let gaps: Vec<(Uuid, Option<Uuid>, i64, i64, i64)> = sqlx::query_as(
        "SELECT payment_id, refund_id, min(version), max(version), count(*) FROM state_transitions
          GROUP BY payment_id, refund_id
         HAVING min(version) <> 0 OR max(version) <> count(*) - 1",
    )
    .fetch_all(&system.db.pool)
    .await
    .expect("query gaps");
    assert!(gaps.is_empty(), "histories with a gap: {gaps:?}");
    let payments: i64 = sqlx::query_scalar("SELECT count(DISTINCT payment_id) FROM state_transitions")
        .fetch_one(&system.db.pool)
        .await
        .expect("count histories");
    assert_eq!(payments as usize, ORDERS, "every order has a history");
}

/// Per order, the sequence of states is one a clean run gives for its kind.
async fn assert_histories_are_clean_runs(system: &System) {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.merchant_order_no, string_agg(t.to_state, ',' ORDER BY t.version)
           FROM state_transitions t JOIN payments p ON p.id = t.payment_id
          WHERE t.refund_id IS NULL GROUP BY p.merchant_order_no",
    )
    .fetch_all(&system.db.pool)
    .await
    .expect("read the histories");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (no, states) in &rows {
        let kind = Kind::of_order_no(no);
        assert!(kind.clean_histories().contains(&states.as_str()), "{no}: {states}");
        *seen.entry(states.as_str()).or_default() += 1;
    }
    println!("scale-out: histories {seen:?}");
}

/// Upstream heard every order's final state; every copy of one kind of event for an order
/// carries the same event id (copies are redeliveries or reports, never a second transition).
async fn assert_events(system: &System, payments: &BTreeMap<String, (Uuid, String)>) {
    let expected: BTreeSet<(String, String)> = payments
        .keys()
        .map(|no| (no.clone(), format!("payment.{}", Kind::of_order_no(no).final_state())))
        .collect();
    let collect = || {
        let mut ids: BTreeMap<(String, String), BTreeSet<Uuid>> = BTreeMap::new();
        for event in system.upstream.events() {
            if let Ok(e) = serde_json::from_value::<paygate::messages::events::OrderEvent>(event.payload) {
                ids.entry((e.merchant_order_no, e.kind)).or_default().insert(e.event_id);
            }
        }
        ids
    };
    paygate_test_support::eventually("upstream to hear every order's final state", DEADLINE, || {
        let ids = collect();
        let missing = expected.iter().filter(|k| !ids.contains_key(*k)).count();
        async move { missing == 0 }
    })
    .await;
    for ((no, kind), ids) in collect() {
        assert_eq!(ids.len(), 1, "{kind} for {no} carries one event id: {ids:?}");
    }
}

/// Nothing was dead-lettered: every work queue's DLQ is empty.
async fn assert_dead_letter_queues_empty(system: &System) {
    use paygate::broker::topology::{Topology, TopologyConfig};
    let topology = Topology::new(TopologyConfig {
        prefix: PREFIX.into(),
        order_shards: SHARDS,
        ..TopologyConfig::default()
    })
    .expect("the topology");
    let mut queues = topology.shard_queues();
    queues.push(topology.ingest_queue());
    for queue in queues {
        let dlq = topology.dlq(&queue);
        let info = system.vhost.queue(&dlq).await.unwrap_or_else(|| panic!("{dlq} exists"));
        let messages = info["messages"].as_u64().unwrap_or(0);
        assert_eq!(messages, 0, "{dlq} holds {messages} messages");
    }
}

/// The shards' leases by owner (instance id → shards held).
async fn lease_owners(system: &System) -> BTreeMap<Uuid, Vec<i32>> {
    let rows: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT owner, shard FROM shard_leases WHERE expires_at > now() ORDER BY shard")
            .fetch_all(&system.db.pool)
            .await
            .expect("read the shard leases");
    let mut owners: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (owner, shard) in rows {
        owners.entry(owner).or_default().push(shard);
    }
    owners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_hold_two_shards_each_and_the_survivor_takes_all_four() {
    let mut system = System::with(SystemOptions {
        processes: true,
        dispatchers: 2,
        order_shards: SHARDS,
        ..SystemOptions::default()
    })
    .await;
    paygate_test_support::eventually(
        "each instance to hold two of the four shards",
        Duration::from_secs(30),
        || async {
            let owners = lease_owners(&system).await;
            owners.len() == 2 && owners.values().all(|shards| shards.len() == 2)
        },
    )
    .await;
    let before = lease_owners(&system).await;
    for i in 0..2 {
        paygate_test_support::eventually(
            "each instance to report its two shards",
            Duration::from_secs(5),
            || async {
                system
                    .dispatcher_metrics(i)
                    .await
                    .lines()
                    .any(|l| l == "paygate_dispatcher_shards_consumed 2")
            },
        )
        .await;
    }
    let killed_at = Instant::now();
    system.kill_dispatcher(0).await;
    let survivor = paygate_test_support::eventually_some(
        "the survivor to hold all four shards",
        Duration::from_secs(30),
        || async {
            let owners = lease_owners(&system).await;
            (owners.len() == 1 && owners.values().all(|s| s.len() == usize::from(SHARDS)))
                .then(|| owners.keys().next().copied())
                .flatten()
        },
    )
    .await;
    println!(
        "shard leases: {before:?}; after the kill the survivor held all four in {:.1?}",
        killed_at.elapsed()
    );
    assert!(before.contains_key(&survivor), "the survivor is one of the two instances");
    // And it consumes them: an order on any shard is dispatched.
    for i in 0..8 {
        let order = format!("after-kill-{i}");
        system.pay(&order, "1.00", "direct").await;
        system.wait_for(&order, "payment.succeeded", Duration::from_secs(30)).await;
    }
    system.stop().await;
}
