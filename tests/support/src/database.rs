//! A fresh PostgreSQL database per test, dropped (with its connections) when the test ends.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// The server tests use; `PAYGATE_TEST_DATABASE_URL` (or `DATABASE_URL`) overrides it. The path
/// names the maintenance database that test databases are created from.
pub fn admin_url() -> String {
    std::env::var("PAYGATE_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// An empty database of its own. Migrations are the caller's: `paygate::db::migrate(&db.pool)`.
pub struct TestDb {
    pub name: String,
    /// A URL that points at this database, for services started by the test.
    pub url: String,
    pub pool: PgPool,
    admin_url: String,
}

impl TestDb {
    pub async fn new() -> Self {
        Self::on(&admin_url()).await
    }

    /// A fresh database on another server (a private one), by its maintenance database's URL.
    pub async fn on(admin_url: &str) -> Self {
        let admin_url = admin_url.to_owned();
        let name = format!("paygate_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("tests need PostgreSQL at {admin_url}: {e}"));
        // `name` is generated above from a UUID: no input reaches this statement.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        Self { name, url, pool, admin_url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime, so the async clean-up runs on a thread of its own.
        // It must not await `self.pool`: the pool's connections and the tasks that return them to
        // it belong to the test's runtime, which is blocked in `join` below, so `pool.close()`
        // would wait for them forever (a deadlock seen when a test ends right after a query).
        // `WITH (FORCE)` ends the pool's sessions on the server instead; the pool itself is
        // dropped with `self`.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Drops a database created outside [`TestDb`] (e.g. by a `migrate` under test).
pub async fn drop_database(name: &str) {
    let mut admin = PgConnection::connect(&admin_url()).await.expect("connect to PostgreSQL");
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.expect("drop database");
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its path (the database name) replaced by `database`, keeping any query string.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_end..].find('/').map(|i| i + authority_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
    }
}
