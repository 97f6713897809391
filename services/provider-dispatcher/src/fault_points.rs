//! The dispatcher's named fault point, for the crash tests. The helper is paygate's
//! (`paygate::fault_points`, which documents how `FAILPOINTS` arms a point); this file
//! only names where the dispatcher can stop. The consumer runtime adds its own point,
//! [`AFTER_COMMIT`], between the commit and the acknowledgement.

pub use paygate::fault_points::{AFTER_COMMIT, fails, reached};

/// Between a provider call that may have moved money (pay, refund) and the commit of its effect.
pub const AFTER_PROVIDER_CALL: &str = "dispatcher.after_provider_call";

/// Where the exchange log's write fails (with `return`; `1*return` fails it once): the provider
/// was called, and the record of the call could not be committed.
pub const EXCHANGE_LOG_FAILS: &str = "dispatcher.exchange_log_fails";
