//! The PostgreSQL advisory locks paygate takes, in one table so that no two uses share a key.
//! Each is taken in the two-key form `(class, id)`: the class says what is locked, the id which
//! one. Advisory locks are per database, so a test's database has its own.

/// One reconciliation batch being run (`recon::engine`): id = the batch's id. Session-scoped,
/// tried, and released when the run ends.
pub const RECON_BATCH: i32 = 872_341;

/// The outbox relays' turn (`broker::outbox::claim`): id = 0, the one outbox. Transaction-scoped
/// and waited for: one relay publishes at a time, so an order's messages keep their order.
pub const OUTBOX_RELAY_TURN: i32 = 872_342;
