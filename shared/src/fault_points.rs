//! Named fault points for crash tests, on the `fail` crate. Compiled in only with the `paygate`
//! crate's `fault-points` feature (the e2e tests turn it on); without it, [`reached`] is an empty
//! function. Even when compiled in, a point is inert unless the `FAILPOINTS` environment variable
//! names it when the process starts ([`setup`], called by every service's `main`).
//!
//! `FAILPOINTS` takes the `fail` crate's syntax, `name=actions;name=actions`, for example:
//!
//! - `FAILPOINTS=consumer.after_commit=return`: every time;
//! - `FAILPOINTS=dispatcher.after_provider_call=1*return`: only the first time, so a process
//!   restarted with the same environment does not stop there again.
//!
//! The `return` action is the one these points are made for: the point logs `fault point reached`
//! (with the point's name in the `fault_point` field) and then holds its thread for ever, so that
//! a test sees in the output where the process is and kills it with SIGKILL exactly there. Other
//! `fail` actions (`panic`, `sleep(ms)`, `pause`, `off`) behave as that crate documents.
//!
//! The points:
//! - [`AFTER_COMMIT`] (this crate's consumer runtime): the handler's transaction has committed and
//!   the delivery is not yet acknowledged; [`AFTER_BATCH_COMMIT`] likewise, reached only by a
//!   transaction that applied several deliveries (a batch), right after `AFTER_COMMIT`;
//! - `dispatcher.after_provider_call` (provider-dispatcher): a provider call that may have moved
//!   money has returned and been logged, and its effect is not yet committed.
//! - `payctl.dlq_replay.after_confirm` (payctl, checked with [`fails`]): a dead letter's replay is
//!   confirmed by the broker and audited, and the dead letter not yet acknowledged; payctl says so
//!   on stderr and holds there until killed (services/payctl/tests/dlq.rs). payctl's binary has
//!   the point when built with the feature on (its tests are: paygate-e2e turns it on).

/// In the consumer runtime: after the transaction commits, before the delivery is acknowledged.
pub const AFTER_COMMIT: &str = "consumer.after_commit";

/// In the consumer runtime: after a batch's transaction commits, before its deliveries are
/// acknowledged. A test that must stop inside a batch arms this one: whether deliveries are
/// applied together depends on when their preparations end.
pub const AFTER_BATCH_COMMIT: &str = "consumer.after_batch_commit";

/// Marks that execution reached fault point `name`: a no-op unless `FAILPOINTS` arms it.
pub fn reached(name: &'static str) {
    #[cfg(feature = "fault-points")]
    fail::fail_point!(name, |_| {
        tracing::warn!(fault_point = name, "fault point reached; holding until killed");
        loop {
            std::thread::park();
        }
    });
    #[cfg(not(feature = "fault-points"))]
    let _ = name;
}

/// Whether fault point `name` says to fail here (armed with the `return` action): for points
/// where a test makes an operation fail once instead of stopping the process. Always `false`
/// without the `fault-points` feature.
pub fn fails(name: &'static str) -> bool {
    #[cfg(feature = "fault-points")]
    {
        let failing = (|| {
            fail::fail_point!(name, |_| true);
            false
        })();
        if failing {
            tracing::warn!(fault_point = name, "fault point reached; failing here");
        }
        failing
    }
    #[cfg(not(feature = "fault-points"))]
    {
        let _ = name;
        false
    }
}

/// Arms the fault points `FAILPOINTS` names, for the life of the process. Call it once, at the
/// start of `main`; it does nothing without the `fault-points` feature.
///
/// # Panics
/// If `FAILPOINTS` is set and malformed (the `fail` crate refuses it): a crash test with a
/// misspelt configuration must not silently run without its fault.
pub fn setup() {
    #[cfg(feature = "fault-points")]
    std::mem::forget(fail::FailScenario::setup());
}
