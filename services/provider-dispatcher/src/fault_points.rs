//! Named fault points for crash tests (the `fail` crate). Built in only with the `fault-points`
//! feature, and inert unless the `FAILPOINTS` environment variable names one, e.g.
//! `FAILPOINTS=dispatcher.after_provider_call=return`.
//!
//! A point configured with `return` logs `fault point reached` with its name and then holds the
//! thread, so that a test can see where the process is and kill it with SIGKILL exactly there:
//! between the provider call and the commit, or between the commit and the acknowledgement.

/// Between a provider call that may have moved money and the commit of its effect.
pub const AFTER_PROVIDER_CALL: &str = "dispatcher.after_provider_call";

/// Marks that execution reached fault point `name`.
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

/// Sets the fault points up from `FAILPOINTS`, for the life of the process.
pub fn setup() {
    #[cfg(feature = "fault-points")]
    std::mem::forget(fail::FailScenario::setup());
}
