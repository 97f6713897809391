//! PostgreSQL: the schema as sqlx migrations (shared/migrations), and applying them.
//!
//! Every service applies the migrations at start, and `<service> migrate` applies them alone.
//! sqlx records what it applied and takes an advisory lock while it works, so running them twice,
//! or from several services starting at once, is harmless.
//!
//! Violations of named constraints come back typed through [`ConstraintViolation`] and
//! [`is_unique_violation`]; the names the application reacts to are in [`constraints`]. The
//! advisory locks paygate takes are in [`advisory_locks`].

pub mod advisory_locks;
pub mod constraints;
mod errors;

pub use errors::{
    ConstraintKind, ConstraintViolation, constraint_violation, is_unique_violation, is_violation,
};

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The migrations in shared/migrations, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Applies every migration not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}
