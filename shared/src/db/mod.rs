//! PostgreSQL: the schema as sqlx migrations, and connecting.
