//! Shard leases against a real PostgreSQL, with stand-in consumers that record when they start
//! and stop: instances converge on a fair share each; a shard changes hands only after its old
//! consumer has stopped (so the new one starts where it stopped, in order); an instance that
//! stops gives its shards up at once; one that dies loses them when its leases expire.

use paygate_test_support::{TestDb, eventually};
use prometheus_client::metrics::gauge::Gauge;
use provider_dispatcher::shard_leases::{ShardLeases, TTL};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SHARDS: u16 = 4;
const WITHIN: Duration = Duration::from_secs(20);
/// How long a stand-in consumer takes to stop.
const DRAIN: Duration = Duration::from_millis(1_500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Started,
    Stopped,
}

/// What the stand-in consumers did, in order: (instance, shard, step).
type Log = Arc<Mutex<Vec<(&'static str, u16, Step)>>>;

struct Instance {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    gauge: Gauge,
}

fn start(db: &TestDb, name: &'static str, log: &Log) -> Instance {
    let log = log.clone();
    let consume = move |shard: u16, stop: CancellationToken| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((name, shard, Step::Started));
            stop.cancelled().await;
            // A real consumer finishes its work in flight here, which may take longer than a
            // round of the leases: this one takes a round and a half (a simulated drain, not a
            // wait for anything), so that a lease given up too early would let another instance
            // start the shard meanwhile.
            tokio::time::sleep(DRAIN).await;
            log.lock().unwrap().push((name, shard, Step::Stopped));
        }
    };
    let gauge = Gauge::default();
    let leases = ShardLeases::new(db.pool.clone(), SHARDS, gauge.clone(), consume);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move { leases.run(&stop).await });
    Instance { shutdown, task, gauge }
}

/// Shards consumed now, per instance, from the log.
fn consuming(log: &Log) -> BTreeMap<&'static str, Vec<u16>> {
    let mut now: BTreeMap<(&'static str, u16), bool> = BTreeMap::new();
    for (name, shard, step) in log.lock().unwrap().iter() {
        now.insert((*name, *shard), *step == Step::Started);
    }
    let mut by: BTreeMap<&'static str, Vec<u16>> = BTreeMap::new();
    for ((name, shard), on) in now {
        if on {
            by.entry(name).or_default().push(shard);
        }
    }
    by
}

/// No shard is ever consumed by two instances at once, and a shard starts on a new instance only
/// after it stopped on the old one.
fn assert_handed_over_in_order(log: &Log) {
    let mut holder: BTreeMap<u16, &'static str> = BTreeMap::new();
    for (name, shard, step) in log.lock().unwrap().iter() {
        match step {
            Step::Started => {
                if let Some(other) = holder.insert(*shard, name) {
                    panic!("shard {shard} started on {name} while {other} still consumed it");
                }
            }
            Step::Stopped => assert_eq!(holder.remove(shard), Some(*name), "shard {shard} stopped on {name}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_shards_and_hand_them_over_in_order() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.expect("migrate");
    let log: Log = Arc::default();

    let a = start(&db, "a", &log);
    eventually("a alone to consume all four shards", WITHIN, || async {
        consuming(&log).get("a").map(Vec::len) == Some(4)
    })
    .await;
    // The gauge is set after the round that started the consumers: wait for it too.
    eventually("a's gauge to say four", WITHIN, || async { a.gauge.get() == 4 }).await;

    let b = start(&db, "b", &log);
    eventually("a and b to consume two shards each", WITHIN, || async {
        let now = consuming(&log);
        now.get("a").map(Vec::len) == Some(2) && now.get("b").map(Vec::len) == Some(2)
    })
    .await;
    eventually("b's gauge to say two", WITHIN, || async { b.gauge.get() == 2 }).await;

    // b stops: it gives its shards up, and a takes them at its next round, not after a TTL.
    b.shutdown.cancel();
    b.task.await.expect("b stops");
    assert_eq!(b.gauge.get(), 0);
    eventually("a to consume all four again", TTL + DRAIN, || async {
        consuming(&log).get("a").map(Vec::len) == Some(4)
    })
    .await;

    // c joins, then dies without a word: its leases expire and a takes its shards back.
    let c = start(&db, "c", &log);
    eventually("a and c to consume two shards each", WITHIN, || async {
        let now = consuming(&log);
        now.get("a").map(Vec::len) == Some(2) && now.get("c").map(Vec::len) == Some(2)
    })
    .await;
    c.task.abort();
    let _ = c.task.await;
    // The dead instance's stand-in consumers were dropped with it: record them as stopped, as
    // the broker does when a dead instance's connections close.
    for shard in consuming(&log).get("c").cloned().unwrap_or_default() {
        log.lock().unwrap().push(("c", shard, Step::Stopped));
    }
    let leases: i64 = sqlx::query_scalar("SELECT count(*) FROM shard_leases WHERE expires_at > now()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(leases, 4, "the dead instance's leases are still there until they expire");
    eventually("a to take the dead instance's shards over", WITHIN, || async {
        consuming(&log).get("a").map(Vec::len) == Some(4)
    })
    .await;

    a.shutdown.cancel();
    a.task.await.expect("a stops");
    assert!(consuming(&log).is_empty(), "every consumer stopped: {:?}", consuming(&log));
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM shard_leases").fetch_one(&db.pool).await.unwrap();
    assert_eq!(left, 0, "a stopping instance gives its leases up");
    assert_handed_over_in_order(&log);
}
