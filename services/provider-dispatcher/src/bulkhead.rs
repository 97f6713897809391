//! Bulkheads: each provider's own bound on calls in flight, and its own circuit breaker, so that a
//! slow or failing provider never takes concurrency, connections or shards from the others
//! (docs/architecture.md, "A provider call holds nothing").
//!
//! A piece of work asks its provider's bulkhead for a [`Pass`] before it commits an attempt
//! ([`Bulkhead::enter`]). There is none to be had when the provider already has
//! `max_in_flight` calls out from this instance, or when its breaker is open; the work then
//! waits on the retry ladder without calling and without committing anything, and the other
//! providers' work goes on.
//!
//! The breaker counts calls whose outcome the provider left unknown (a timeout, a 5xx, a broken
//! connection): `failures_to_open` of them in a row open it for `open_for`. After that, one trial
//! call is let through (half-open); its success closes the breaker, its failure opens it again.
//! Only one trial is out at a time: a provider that times out would otherwise take as many calls
//! as arrive during one timeout (the breaker crates we looked at let every call through while
//! half-open; docs/dependencies.md).
//!
//! A provider that asks us to wait (`Retry-After` on a 429 or 503, [`Pass::back_off`]) is not
//! failing, but it is honoured the same way: the breaker opens for that long (or stays open
//! longer if it already was), so no call of this instance reaches the provider before then and
//! its work waits on the ladder at least that long. It does not count towards
//! `failures_to_open`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// How each provider's bulkhead is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Calls in flight to one provider from this instance, at most.
    pub max_in_flight: usize,
    /// Unknown outcomes in a row that open the breaker.
    pub failures_to_open: u32,
    /// How long an open breaker stays open before a trial call.
    pub open_for: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self { max_in_flight: 256, failures_to_open: 10, open_for: Duration::from_secs(5) }
    }
}

/// Why a provider cannot be called now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("provider {provider}: {max} calls already in flight from this instance")]
    Full { provider: &'static str, max: usize },
    #[error(
        "provider {provider}: circuit open after calls whose outcome was unknown; calling again in {retry_in:?}"
    )]
    Open {
        provider: &'static str,
        retry_in: Duration,
        /// When the breaker first opened in this outage: it stays the same through failed
        /// trials, and a trial answered ends the outage.
        failing_since: Instant,
        /// Whether calls failed in this outage (it is not only a wait the provider asked for).
        failed: bool,
    },
}

/// The longest an outage is expected to last, however long it has lasted: the wait of the work
/// it holds is at most this (rounded down to a tier of the ladder), so the work comes back at
/// most this long after the provider does. The ladder's own bound on held work, so that the
/// two say one thing.
pub const LONGEST_OUTAGE_ESTIMATE: Duration = paygate::broker::topology::HOLDS_BACK_OFF_UP_TO;

/// The shortest an outage whose calls failed is expected to last, however new: its work waits at
/// least this long (the default ladder's second tier). A breaker opens on
/// `failures_to_open` unknown outcomes in a row (timeouts, 5xx, broken connections); such an
/// outage is seldom over within the breaker's few seconds, and work held for those few seconds
/// came round again and again while it lasted: in a 50 s pass with a provider timing out, each of
/// its held payments was read, locked and published to the ladder about twice (docs/benchmarks.md,
/// "Held work and the outage's first rung"). The breaker's trial still finds the provider back
/// within its `open_for`, and work that arrives after that is called at once; only the work held
/// during the outage waits, up to this long after the provider is back. A wait the provider asks
/// for (`Retry-After`) is not a failure and keeps its own length.
pub const SHORTEST_OUTAGE_ESTIMATE: Duration = Duration::from_secs(30);

impl Refusal {
    /// How long the refusal is expected to last: what a held message should wait before coming
    /// back. A full bulkhead frees as calls end (soon). An open circuit stays open `retry_in`,
    /// and a provider failing since `failing_since` is expected to go on failing about as long
    /// again ([`outage_estimate`]).
    pub fn lasts_at_least(&self) -> Duration {
        match self {
            Refusal::Full { .. } => Duration::ZERO,
            Refusal::Open { retry_in, failing_since, failed, .. } => {
                outage_estimate(*retry_in, failing_since.elapsed(), *failed)
            }
        }
    }
}

/// How much longer an outage is expected to last, `failing_for` into it with its breaker open
/// `retry_in` more: at least `retry_in` (and [`SHORTEST_OUTAGE_ESTIMATE`] if calls `failed` in
/// it), and as long as it has lasted so far (an outage that has lasted a minute is not over in
/// five seconds), up to [`LONGEST_OUTAGE_ESTIMATE`].
///
/// The work a provider's open breaker holds waits on the ladder that long. Were it always the
/// breaker's few seconds, every held message would come round again every few seconds for as
/// long as the outage lasts: each time read from the queue, its order locked, and published to
/// the ladder again. A long outage's backlog then spends the machine, and the other providers'
/// payments slow down with it (docs/benchmarks.md, "A long outage's held work").
pub fn outage_estimate(retry_in: Duration, failing_for: Duration, failed: bool) -> Duration {
    let shortest = if failed { SHORTEST_OUTAGE_ESTIMATE } else { Duration::ZERO };
    retry_in.max(shortest).max(failing_for.min(LONGEST_OUTAGE_ESTIMATE))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub provider: &'static str,
    pub reason: &'static str,
}

/// The bulkheads' metrics (registered by `DispatcherMetrics`).
#[derive(Clone, Default)]
pub struct BulkheadMetrics {
    /// `paygate_provider_calls_in_flight{provider}`.
    pub in_flight: Family<ProviderLabels, Gauge>,
    /// `paygate_provider_circuit_open{provider}`: 1 while the breaker is open or half-open.
    pub open: Family<ProviderLabels, Gauge>,
    /// `paygate_provider_calls_held_total{provider, reason}`: work held on the ladder without a
    /// call (`full`, `open`).
    pub held: Family<RefusalLabels, Counter>,
}

/// Every provider's bulkhead, made on first use.
#[derive(Clone)]
pub struct Bulkheads {
    config: BulkheadConfig,
    metrics: BulkheadMetrics,
    by_provider: Arc<Mutex<HashMap<&'static str, Arc<Bulkhead>>>>,
}

impl Bulkheads {
    pub fn new(config: BulkheadConfig, metrics: BulkheadMetrics) -> Self {
        Self { config, metrics, by_provider: Arc::default() }
    }

    /// A pass to call `provider` now, or why not.
    pub fn enter(&self, provider: &'static str) -> Result<Pass, Refusal> {
        let bulkhead = {
            let mut all = self.by_provider.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(provider)
                .or_insert_with(|| {
                    Arc::new(Bulkhead {
                        provider,
                        config: self.config,
                        slots: Arc::new(Semaphore::new(self.config.max_in_flight)),
                        breaker: Mutex::new(Breaker::Closed { failures: 0 }),
                        metrics: self.metrics.clone(),
                    })
                })
                .clone()
        };
        let entered = bulkhead.enter();
        if let Err(refusal) = &entered {
            let reason = match refusal {
                Refusal::Full { .. } => "full",
                Refusal::Open { .. } => "open",
            };
            self.metrics.held.get_or_create(&RefusalLabels { provider, reason }).inc();
        }
        entered
    }
}

/// One provider's bulkhead. See the module documentation.
pub struct Bulkhead {
    provider: &'static str,
    config: BulkheadConfig,
    slots: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    metrics: BulkheadMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        /// When this outage began: the breaker's first opening since it was last closed.
        since: Instant,
        /// Whether calls failed in this outage, or the provider only asked us to wait.
        failed: bool,
    },
    /// The trial call is out.
    HalfOpen {
        since: Instant,
        failed: bool,
    },
}

impl Breaker {
    /// When the outage began, if there is one.
    fn failing_since(self) -> Option<Instant> {
        match self {
            Breaker::Closed { .. } => None,
            Breaker::Open { since, .. } | Breaker::HalfOpen { since, .. } => Some(since),
        }
    }

    /// Whether calls failed in the outage under way.
    fn failed(self) -> bool {
        match self {
            Breaker::Closed { .. } => false,
            Breaker::Open { failed, .. } | Breaker::HalfOpen { failed, .. } => failed,
        }
    }

    /// Open until `until`, in the outage already under way, or in one beginning now; `failed`:
    /// because calls failed (the outage then counts as one of failures from now on).
    fn open_until(self, until: Instant, failed: bool) -> Breaker {
        Breaker::Open {
            until,
            since: self.failing_since().unwrap_or_else(Instant::now),
            failed: failed || self.failed(),
        }
    }
}

impl Bulkhead {
    fn enter(self: &Arc<Self>) -> Result<Pass, Refusal> {
        let trial = {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            match *breaker {
                Breaker::Closed { .. } => false,
                Breaker::HalfOpen { since, failed } => {
                    return Err(Refusal::Open {
                        provider: self.provider,
                        retry_in: self.config.open_for,
                        failing_since: since,
                        failed,
                    });
                }
                Breaker::Open { until, since, failed } => {
                    let now = Instant::now();
                    if now < until {
                        return Err(Refusal::Open {
                            provider: self.provider,
                            retry_in: until - now,
                            failing_since: since,
                            failed,
                        });
                    }
                    *breaker = Breaker::HalfOpen { since, failed };
                    true
                }
            }
        };
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => {
                if trial {
                    self.reopen(Instant::now());
                }
                return Err(Refusal::Full { provider: self.provider, max: self.config.max_in_flight });
            }
        };
        self.gauge_in_flight();
        Ok(Pass { bulkhead: self.clone(), permit: Some(permit), trial, recorded: false })
    }

    /// Opens the breaker until `until`, in the outage under way (a trial given up or failed).
    fn reopen(&self, until: Instant) {
        let state = self.breaker.lock().unwrap_or_else(|e| e.into_inner()).open_until(until, false);
        self.settle(state);
    }

    fn settle(&self, state: Breaker) {
        *self.breaker.lock().unwrap_or_else(|e| e.into_inner()) = state;
        let open = i64::from(!matches!(state, Breaker::Closed { .. }));
        self.metrics.open.get_or_create(&ProviderLabels { provider: self.provider }).set(open);
    }

    fn record(&self, trial: bool, ok: bool) {
        let next = {
            let breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            match (*breaker, ok) {
                (_, true) if trial => Breaker::Closed { failures: 0 },
                (Breaker::Closed { .. }, true) => Breaker::Closed { failures: 0 },
                (Breaker::Closed { failures }, false) if failures + 1 >= self.config.failures_to_open => {
                    tracing::warn!(provider = self.provider, failures = failures + 1, open_for = ?self.config.open_for,
                        "circuit opened: the provider's outcomes are unknown; its work waits on the retry ladder");
                    breaker.open_until(Instant::now() + self.config.open_for, true)
                }
                (Breaker::Closed { failures }, false) => Breaker::Closed { failures: failures + 1 },
                (state, false) if trial => state.open_until(Instant::now() + self.config.open_for, true),
                // A call let in before the breaker opened, ending after: the breaker stands.
                (state, _) => state,
            }
        };
        if trial && ok {
            tracing::info!(provider = self.provider, "circuit closed: the trial call was answered");
        }
        self.settle(next);
    }

    /// The provider asked for `wait` before the next call: open until then, or later if the
    /// breaker already is.
    fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let next = {
            let breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            match *breaker {
                Breaker::Open { until: already, since, failed } if already > until => {
                    Breaker::Open { until: already, since, failed }
                }
                state => state.open_until(until, false),
            }
        };
        tracing::info!(
            provider = self.provider,
            ?wait,
            "the provider asked us to wait (Retry-After): its work waits on the retry ladder until then"
        );
        self.settle(next);
    }

    fn gauge_in_flight(&self) {
        let in_flight = self.config.max_in_flight - self.slots.available_permits();
        let gauge = self.metrics.in_flight.get_or_create(&ProviderLabels { provider: self.provider });
        gauge.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
    }
}

/// Leave to call a provider: holds one of its slots until dropped. Say how the call ended with
/// [`Pass::record`]; a pass dropped unrecorded (the call was abandoned) counts as nothing, but
/// a trial dropped so lets the next caller try.
pub struct Pass {
    bulkhead: Arc<Bulkhead>,
    permit: Option<OwnedSemaphorePermit>,
    trial: bool,
    recorded: bool,
}

impl Pass {
    /// How the call ended: `answered` when the provider gave an answer (whatever it said),
    /// `false` when its outcome is unknown.
    pub fn record(mut self, answered: bool) {
        self.recorded = true;
        self.bulkhead.record(self.trial, answered);
    }
}

impl Pass {
    /// The provider answered, asking us not to call again for `wait` (its `Retry-After`): the
    /// breaker opens for that long. An answer, not a failure: nothing is counted against the
    /// provider.
    pub fn back_off(mut self, wait: Duration) {
        self.recorded = true;
        self.bulkhead.back_off(wait);
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if self.trial && !self.recorded {
            self.bulkhead.reopen(Instant::now());
        }
        drop(self.permit.take());
        self.bulkhead.gauge_in_flight();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulkheads(max_in_flight: usize, failures_to_open: u32, open_for: Duration) -> Bulkheads {
        Bulkheads::new(
            BulkheadConfig { max_in_flight, failures_to_open, open_for },
            BulkheadMetrics::default(),
        )
    }

    #[test]
    fn a_full_provider_refuses_and_the_others_do_not_notice() {
        let b = bulkheads(2, 10, Duration::from_secs(5));
        let one = b.enter("slow").unwrap();
        let _two = b.enter("slow").unwrap();
        assert!(matches!(b.enter("slow"), Err(Refusal::Full { provider: "slow", max: 2 })));
        assert!(b.enter("fast").is_ok(), "another provider has its own slots");
        drop(one);
        assert!(b.enter("slow").is_ok(), "a slot comes back when its call ends");
    }

    #[test]
    fn unknown_outcomes_in_a_row_open_the_breaker_and_an_answer_resets_the_count() {
        let b = bulkheads(10, 3, Duration::from_secs(60));
        b.enter("p").unwrap().record(false);
        b.enter("p").unwrap().record(false);
        b.enter("p").unwrap().record(true);
        b.enter("p").unwrap().record(false);
        b.enter("p").unwrap().record(false);
        assert!(b.enter("p").is_ok(), "two in a row after an answer: still closed");
        b.enter("p").unwrap().record(false);
        assert!(matches!(b.enter("p"), Err(Refusal::Open { provider: "p", .. })));
        assert!(b.enter("q").is_ok(), "another provider's breaker is its own");
    }

    #[test]
    fn a_provider_that_asks_for_a_wait_is_not_called_before_it_and_is_not_counted_failing() {
        let b = bulkheads(10, 1, Duration::from_millis(1));
        b.enter("p").unwrap().back_off(Duration::from_secs(30));
        match b.enter("p") {
            Err(Refusal::Open { provider: "p", retry_in, .. }) => {
                assert!(retry_in > Duration::from_secs(29), "held for the wait it asked for: {retry_in:?}")
            }
            other => panic!("not held: {:?}", other.err()),
        }
        assert!(b.enter("q").is_ok(), "another provider is called");
        // A shorter wait asked meanwhile does not shorten the longer one.
        let waiting = bulkheads(10, 5, Duration::from_millis(1));
        let (first, second) = (waiting.enter("p").unwrap(), waiting.enter("p").unwrap());
        first.back_off(Duration::from_secs(30));
        second.back_off(Duration::ZERO);
        assert!(
            matches!(waiting.enter("p"), Err(Refusal::Open { retry_in, .. }) if retry_in > Duration::from_secs(29))
        );
        // A wait of nothing: the next call is a trial, and its answer closes the breaker; the
        // wait counted no failure (one more unknown outcome would open it only at 5).
        let b = bulkheads(10, 5, Duration::from_secs(60));
        b.enter("p").unwrap().back_off(Duration::ZERO);
        b.enter("p").expect("the wait is over").record(true);
        b.enter("p").unwrap().record(false);
        assert!(b.enter("p").is_ok(), "one unknown outcome: still closed");
    }

    #[test]
    fn after_the_wait_one_trial_goes_out_alone_and_decides() {
        let b = bulkheads(10, 1, Duration::ZERO);
        b.enter("p").unwrap().record(false);
        let trial = b.enter("p").expect("the wait is over: a trial");
        assert!(matches!(b.enter("p"), Err(Refusal::Open { .. })), "one trial at a time");
        trial.record(false);
        let trial = b.enter("p").expect("opened again, for no time: another trial");
        trial.record(true);
        assert!(b.enter("p").is_ok() && b.enter("p").is_ok(), "closed: every call goes");
    }

    /// When the outage that refused `entered` began.
    fn failing_since(entered: Result<Pass, Refusal>) -> Instant {
        match entered {
            Err(Refusal::Open { failing_since, .. }) => failing_since,
            other => panic!("not refused as open: {:?}", other.err()),
        }
    }

    #[test]
    fn an_outage_dates_from_its_first_opening_through_failed_trials_and_ends_with_an_answer() {
        let b = bulkheads(10, 1, Duration::ZERO);
        b.enter("p").unwrap().record(false);
        let trial = b.enter("p").expect("a trial");
        let began = failing_since(b.enter("p"));
        trial.record(false);
        let trial = b.enter("p").expect("another trial");
        assert_eq!(failing_since(b.enter("p")), began, "a failed trial: the same outage");
        drop(trial);
        let trial = b.enter("p").expect("the abandoned trial's successor");
        assert_eq!(failing_since(b.enter("p")), began, "an abandoned trial: the same outage");
        trial.record(true);
        b.enter("p").unwrap().record(false);
        let trial = b.enter("p").expect("a trial of the next outage");
        let next = failing_since(b.enter("p"));
        assert!(next > began, "an answer ended the first outage");
        // A wait the provider asks for in an outage is part of it.
        trial.back_off(Duration::from_secs(30));
        assert_eq!(failing_since(b.enter("p")), next, "asked to wait: the same outage");
    }

    #[test]
    fn the_longer_an_outage_has_lasted_the_longer_its_work_waits_up_to_two_minutes() {
        let secs = Duration::from_secs;
        let asked = |retry_in, failing_for| outage_estimate(retry_in, failing_for, false);
        assert_eq!(asked(secs(3), Duration::ZERO), secs(3), "a new wait asked for: the breaker's wait");
        assert_eq!(asked(secs(3), secs(45)), secs(45), "as long again as it has lasted");
        assert_eq!(asked(secs(3), secs(3600)), LONGEST_OUTAGE_ESTIMATE, "at most two minutes");
        assert_eq!(asked(secs(300), secs(10)), secs(300), "a longer wait asked for is kept");
        let failed = |failing_for| outage_estimate(secs(5), failing_for, true);
        assert_eq!(failed(Duration::ZERO), SHORTEST_OUTAGE_ESTIMATE, "a new outage: half a minute");
        assert_eq!(failed(secs(45)), secs(45));
        assert_eq!(failed(secs(3600)), LONGEST_OUTAGE_ESTIMATE);
        // On the default ladder (5s, 30s, 2m, …) work held by failures waits 30 s at first and
        // every 2 minutes after two; a wait asked for starts at its own tier.
        let ladder = paygate::broker::topology::Topology::default();
        let tier = |estimate| ladder.hold_tier(0, 0, estimate).map(|t| t.name.clone());
        assert_eq!(tier(failed(secs(1))).as_deref(), Some("30s"));
        assert_eq!(tier(failed(secs(7200))).as_deref(), Some("2m"));
        assert_eq!(tier(asked(secs(2), Duration::ZERO)).as_deref(), Some("5s"));
    }

    #[test]
    fn work_held_by_failed_calls_waits_half_a_minute_from_the_start_and_a_wait_asked_for_its_own_length() {
        // The first work an open breaker held waited the breaker's 5 s, and came round again and
        // again while the outage lasted (docs/benchmarks.md, "Held work and the outage's first
        // rung").
        let b = bulkheads(10, 2, Duration::from_secs(5));
        b.enter("p").unwrap().record(false);
        b.enter("p").unwrap().record(false);
        let held = b.enter("p").err().expect("open after two unknown outcomes");
        assert!(matches!(held, Refusal::Open { failed: true, .. }), "{held:?}");
        assert!(held.lasts_at_least() >= SHORTEST_OUTAGE_ESTIMATE, "{:?}", held.lasts_at_least());

        let asked = bulkheads(10, 2, Duration::from_secs(5));
        asked.enter("p").unwrap().back_off(Duration::from_secs(2));
        let held = asked.enter("p").err().expect("open while the provider asked us to wait");
        assert!(matches!(held, Refusal::Open { failed: false, .. }), "{held:?}");
        assert!(held.lasts_at_least() <= Duration::from_secs(2), "{:?}", held.lasts_at_least());

        // A trial that fails after a wait asked for makes it an outage of failures.
        let b = bulkheads(10, 2, Duration::ZERO);
        b.enter("p").unwrap().back_off(Duration::ZERO);
        b.enter("p").expect("the trial after the wait").record(false);
        let _next_trial = b.enter("p").expect("the next trial (open for no time)");
        let held = b.enter("p").err().expect("its trial out");
        assert!(matches!(held, Refusal::Open { failed: true, .. }), "{held:?}");
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_caller_try() {
        let b = bulkheads(10, 1, Duration::ZERO);
        b.enter("p").unwrap().record(false);
        drop(b.enter("p").expect("a trial"));
        assert!(b.enter("p").is_ok(), "the trial was abandoned: another may try");
    }
}
