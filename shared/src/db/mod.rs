//! PostgreSQL: the schema as sqlx migrations (shared/migrations), and applying them.
//!
//! Every service applies the migrations at start, and `<service> migrate` applies them alone.
//! sqlx records what it applied and takes an advisory lock while it works, so running them twice,
//! or from several services starting at once, is harmless.

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The migrations in shared/migrations, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Applies every migration not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}
