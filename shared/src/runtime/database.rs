//! Connecting a service to PostgreSQL: one attempt at start-up, reported in one clear line if it
//! fails; afterwards the pool reconnects by itself, and a watcher logs when the database is lost
//! and when it is back.

use super::config::{CommonConfig, redact_url};
use super::readiness::Reachability;
use super::startup_error::StartupError;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Proves the server answers with one plain connection (whose error says why, where a pool
/// would only say it timed out), then opens the pool and applies pending migrations.
pub async fn connect_and_migrate(config: &CommonConfig) -> Result<PgPool, StartupError> {
    let url = &config.database_url;
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url))
        .await
        .map_err(|_| StartupError::Database { url: redact_url(url), reason: "no answer within 5 s".into() })?
        .map_err(|e| StartupError::database(url, &e))?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .after_connect(|conn: &mut PgConnection, _meta| {
            Box::pin(async move {
                // A statement that hangs must not hold an order's lock for ever.
                sqlx::raw_sql("SET statement_timeout = '30s'").execute(conn).await.map(|_| ())
            })
        })
        .connect(&config.database_url)
        .await
        .map_err(|e| StartupError::database(&config.database_url, &e))?;
    crate::db::migrate(&pool).await.map_err(|e| StartupError::Migrations { reason: e.to_string() })?;
    Ok(pool)
}

/// For `<service> migrate`: creates the database if it does not exist, then applies migrations.
pub async fn create_and_migrate(config: &CommonConfig) -> Result<(), StartupError> {
    let url = &config.database_url;
    let exists = Postgres::database_exists(url).await.map_err(|e| StartupError::database(url, &e))?;
    if !exists {
        Postgres::create_database(url).await.map_err(|e| StartupError::database(url, &e))?;
        tracing::info!("created the database");
    }
    let pool = connect_and_migrate(config).await?;
    pool.close().await;
    Ok(())
}

/// Pings the database every couple of seconds and marks `reachability`, so that /readyz and the
/// logs say when the database is lost and when it is back. The pool itself reconnects lazily.
pub fn watch(pool: PgPool, reachability: Reachability, shutdown: CancellationToken) {
    reachability.mark_up();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&pool);
            match tokio::time::timeout(CONNECT_TIMEOUT, ping).await {
                Ok(Ok(_)) => reachability.mark_up(),
                Ok(Err(e)) => reachability.mark_down(&e.to_string()),
                Err(_) => reachability.mark_down("no answer within 5 s"),
            }
        }
    });
}
