//! Spreading the order shards over the provider-dispatcher instances (migration 0014).
//!
//! Single active consumer on every shard queue already means no two instances consume a shard at
//! once, but on its own it makes the first instance consume every shard and the others wait. So
//! each instance consumes only the shards it holds a lease on, and holds its fair share:
//! `ceil(shards / live instances)`.
//!
//! Every [`TICK`] an instance:
//! 1. beats its heart (`dispatcher_members`) and counts the instances seen within [`TTL`];
//! 2. renews its leases for another [`TTL`], and stops consuming any shard whose lease it lost;
//! 3. with more than its share, stops consuming the extra shards gracefully (work in flight
//!    finished and acknowledged, prefetched messages returned to the queue) and only then gives
//!    their leases up, so the next owner starts where it stopped, in order;
//! 4. with less than its share, takes free or expired leases and starts consuming those shards.
//!
//! An instance that dies stops renewing: its leases expire within [`TTL`] and the others take
//! its shards over (its unacknowledged messages went back to the queues when its connections
//! closed). An instance cut off from the database keeps its consumers (it cannot apply anything
//! meanwhile); if another instance takes a lease over, single active consumer keeps the new
//! consumer waiting until the old one stops, which it does as soon as it sees the lease lost.

use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often leases are renewed and the shares recomputed.
pub const TICK: Duration = Duration::from_secs(1);
/// How long a lease (and a heartbeat) lasts without renewal.
pub const TTL: Duration = Duration::from_secs(5);

/// A shard being consumed: stop it by cancelling `stop`, and it is stopped when `task` ends.
struct Consuming {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// One instance's leases and the consumers they run. See the module documentation.
pub struct ShardLeases<S> {
    pool: PgPool,
    me: Uuid,
    shards: u16,
    /// Starts consuming a shard until the token is cancelled.
    start: S,
    consuming: BTreeMap<u16, Consuming>,
    /// How many shards this instance consumes, for SREs.
    gauge: Gauge,
    /// Shards being stopped, whose leases are given up once their consumers have stopped.
    releasing: BTreeMap<u16, JoinHandle<()>>,
}

impl<S, F> ShardLeases<S>
where
    S: Fn(u16, CancellationToken) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    pub fn new(pool: PgPool, shards: u16, gauge: Gauge, start: S) -> Self {
        Self {
            pool,
            me: Uuid::now_v7(),
            shards,
            start,
            consuming: BTreeMap::new(),
            gauge,
            releasing: BTreeMap::new(),
        }
    }

    /// Keeps this instance's fair share of the shards consumed until `shutdown`; then stops every
    /// consumer gracefully and gives the leases up, so that the others take over at once.
    pub async fn run(mut self, shutdown: &CancellationToken) {
        tracing::info!(instance = %self.me, shards = self.shards, "sharing the order shards");
        while !shutdown.is_cancelled() {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "shard leases: a round failed; consumers keep running");
            }
            self.gauge.set(i64::try_from(self.consuming.len()).unwrap_or(i64::MAX));
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        self.gauge.set(0);
        // Every consumer drains at the same time, each within its own grace.
        for (shard, consuming) in std::mem::take(&mut self.consuming) {
            consuming.stop.cancel();
            self.releasing.insert(shard, consuming.task);
        }
        for (_, task) in std::mem::take(&mut self.releasing) {
            let _ = task.await;
        }
        let left = sqlx::query("DELETE FROM shard_leases WHERE owner = $1").bind(self.me).execute(&self.pool);
        let gone =
            sqlx::query("DELETE FROM dispatcher_members WHERE id = $1").bind(self.me).execute(&self.pool);
        if let Err(e) = left.await.and(gone.await) {
            tracing::warn!(error = %e, "shard leases: could not give the leases up; they expire instead");
        }
    }

    /// One round (see the module documentation).
    async fn round(&mut self) -> Result<(), sqlx::Error> {
        let ttl = ttl_secs();
        sqlx::query(
            "INSERT INTO dispatcher_members (id, seen_at) VALUES ($1, now())
             ON CONFLICT (id) DO UPDATE SET seen_at = now()",
        )
        .bind(self.me)
        .execute(&self.pool)
        .await?;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM dispatcher_members WHERE seen_at > now() - $1::bigint * interval '1 second'",
        )
        .bind(ttl)
        .fetch_one(&self.pool)
        .await?;
        let share = fair_share(self.shards, live);

        let held: Vec<i32> = sqlx::query_scalar(
            "UPDATE shard_leases SET expires_at = now() + $2::bigint * interval '1 second'
              WHERE owner = $1 RETURNING shard",
        )
        .bind(self.me)
        .bind(ttl)
        .fetch_all(&self.pool)
        .await?;
        let held: Vec<u16> = held.into_iter().filter_map(|s| u16::try_from(s).ok()).collect();

        // Leases lost (expired while we could not renew, and taken): stop those consumers. (The
        // new owner's consumer waits behind ours, single active consumer, until ours stops.)
        let lost: Vec<u16> = self.consuming.keys().copied().filter(|s| !held.contains(s)).collect();
        for shard in lost {
            tracing::warn!(shard, "shard leases: lease lost; stopping its consumer");
            if let Some(c) = self.consuming.remove(&shard) {
                c.stop.cancel();
                self.releasing.insert(shard, c.task);
            }
        }
        // Stopped consumers: give their leases up (a lost one is not ours: nothing to delete).
        let stopped: Vec<u16> =
            self.releasing.iter().filter(|(_, task)| task.is_finished()).map(|(s, _)| *s).collect();
        for shard in stopped {
            self.releasing.remove(&shard);
            sqlx::query("DELETE FROM shard_leases WHERE shard = $1 AND owner = $2")
                .bind(i32::from(shard))
                .bind(self.me)
                .execute(&self.pool)
                .await?;
            tracing::info!(shard, "shard leases: released");
        }

        let consumed = self.consuming.len();
        if consumed > share {
            // Hand the highest shards over, gracefully, one round at a time.
            let extra: Vec<u16> = self.consuming.keys().rev().take(consumed - share).copied().collect();
            for shard in extra {
                if let Some(c) = self.consuming.remove(&shard) {
                    tracing::info!(
                        shard,
                        share,
                        live,
                        "shard leases: more than my share; stopping to hand over"
                    );
                    c.stop.cancel();
                    self.releasing.insert(shard, c.task);
                }
            }
        } else if consumed + self.releasing.len() < share {
            let want = i64::try_from(share - consumed - self.releasing.len()).unwrap_or(0);
            let taken: Vec<i32> = sqlx::query_scalar(
                "INSERT INTO shard_leases (shard, owner, expires_at)
                 SELECT s, $1, now() + $3::bigint * interval '1 second'
                   FROM generate_series(0, $2 - 1) AS s
                  WHERE NOT EXISTS (SELECT 1 FROM shard_leases l WHERE l.shard = s AND l.expires_at > now())
                  ORDER BY s LIMIT $4
                 ON CONFLICT (shard) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                  WHERE shard_leases.expires_at <= now()
                 RETURNING shard",
            )
            .bind(self.me)
            .bind(i32::from(self.shards))
            .bind(ttl)
            .bind(want)
            .fetch_all(&self.pool)
            .await?;
            for shard in taken.into_iter().filter_map(|s| u16::try_from(s).ok()) {
                tracing::info!(shard, share, live, "shard leases: taken; consuming");
                let stop = CancellationToken::new();
                let task = tokio::spawn((self.start)(shard, stop.clone()));
                self.consuming.insert(shard, Consuming { stop, task });
            }
        }
        sqlx::query("DELETE FROM dispatcher_members WHERE seen_at < now() - interval '1 hour'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn ttl_secs() -> i64 {
    i64::try_from(TTL.as_secs()).unwrap_or(5)
}

/// `ceil(shards / live)`, with at least one live instance (this one).
pub fn fair_share(shards: u16, live: i64) -> usize {
    let live = usize::try_from(live.max(1)).unwrap_or(1);
    usize::from(shards).div_ceil(live)
}

#[cfg(test)]
mod tests {
    use super::fair_share;

    #[test]
    fn the_share_is_the_shards_over_the_live_instances_rounded_up() {
        assert_eq!(fair_share(4, 1), 4);
        assert_eq!(fair_share(4, 2), 2);
        assert_eq!(fair_share(4, 3), 2);
        assert_eq!(fair_share(4, 5), 1);
        assert_eq!(fair_share(4, 0), 4, "this instance counts even before its first heartbeat");
    }
}
