//! Why a service could not start, said in one line that names what it tried and what to do.
//! `main` prints it to stderr and exits non-zero; no backtrace, no panic.

use super::config::redact_url;
use std::fmt;

const HOW_TO_START: &str = "start the servers with `scripts/up` or see README.md, 'Servers'";

#[derive(Debug)]
pub enum StartupError {
    /// PostgreSQL did not answer, or refused us.
    Database { url: String, reason: String },
    /// The database named in DATABASE_URL does not exist.
    NoSuchDatabase { url: String, name: String },
    /// Applying the migrations failed.
    Migrations { reason: String },
    /// RabbitMQ did not answer, or refused us.
    Broker { url: String, reason: String },
    /// Declaring the exchanges and queues failed (e.g. a plugin is missing).
    Topology { reason: String },
    /// The HTTP address could not be bound.
    Bind { addr: String, reason: String },
    /// Settings that parse one by one but do not work together (a provider URL without its secret).
    Settings { setting: &'static str, reason: String },
    /// A provider named in `PROVIDERS` cannot be configured.
    Provider(crate::providers::ProviderConfigError),
}

impl From<crate::providers::ProviderConfigError> for StartupError {
    fn from(e: crate::providers::ProviderConfigError) -> Self {
        Self::Provider(e)
    }
}

impl StartupError {
    pub fn database(url: &str, err: &sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = err
            && db.code().as_deref() == Some("3D000")
        {
            let name = url.rsplit('/').next().unwrap_or("").split('?').next().unwrap_or("").to_owned();
            return Self::NoSuchDatabase { url: redact_url(url), name };
        }
        Self::Database { url: redact_url(url), reason: root_cause(err) }
    }

    pub fn broker(url: &str, err: &dyn std::error::Error) -> Self {
        Self::Broker { url: redact_url(url), reason: root_cause(err) }
    }
}

/// The innermost error's message: "Connection refused (os error 111)" says more than the chain.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut e = err;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database { url, reason } => {
                write!(f, "cannot reach PostgreSQL at {url} (DATABASE_URL): {reason}; {HOW_TO_START}")
            }
            Self::NoSuchDatabase { url, name } => write!(
                f,
                "PostgreSQL at {url} (DATABASE_URL) has no database \"{name}\"; create it with \
                 the `migrate` command (e.g. `payctl migrate`), which also creates the tables"
            ),
            Self::Migrations { reason } => write!(f, "applying the database migrations failed: {reason}"),
            Self::Broker { url, reason } => {
                write!(f, "cannot reach RabbitMQ at {url} (AMQP_URL): {reason}; {HOW_TO_START}")
            }
            Self::Topology { reason } => write!(
                f,
                "declaring the RabbitMQ exchanges and queues failed: {reason}; the broker needs the \
                 rabbitmq_consistent_hash_exchange plugin (`rabbitmq-plugins enable \
                 rabbitmq_consistent_hash_exchange`)"
            ),
            Self::Bind { addr, reason } => write!(f, "cannot listen on {addr} (HTTP_ADDR): {reason}"),
            Self::Settings { setting, reason } => write!(f, "{setting}: {reason}"),
            Self::Provider(e) => write!(f, "{e} (PROVIDERS names the providers; README.md, 'Providers')"),
        }
    }
}

impl std::error::Error for StartupError {}
