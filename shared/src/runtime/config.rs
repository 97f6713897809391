//! Configuration every service shares, read from environment variables (and the same names as
//! command-line flags, which win). Defaults point at the local servers the Quick start runs.
//!
//! A malformed value stops the service with a message that names the variable and the form it
//! expects, e.g. `invalid value 'abc' for '--http-addr <HTTP_ADDR>': expected HOST:PORT, such as
//! 127.0.0.1:8081`.

use super::duration_setting::{DurationSetting, PlainUnit};
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/paygate";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The settings every paygate service takes. Each service flattens this into its own CLI.
#[derive(Debug, Clone, Args)]
pub struct CommonConfig {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", value_name = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          value_parser = parse_postgres_url)]
    pub database_url: String,

    /// Largest number of PostgreSQL connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", value_name = "DATABASE_MAX_CONNECTIONS",
          default_value_t = 16, value_parser = parse_pool_size)]
    pub database_max_connections: u32,

    /// RabbitMQ connection URL; the path is the vhost (%2f is "/").
    #[arg(long, env = "AMQP_URL", value_name = "AMQP_URL", default_value = DEFAULT_AMQP_URL,
          value_parser = parse_amqp_url)]
    pub amqp_url: String,

    /// Prefix of every exchange and queue name, so that several paygate systems can share a vhost.
    #[arg(long, env = "AMQP_PREFIX", value_name = "AMQP_PREFIX", default_value = "paygate",
          value_parser = parse_prefix)]
    pub amqp_prefix: String,

    /// Number of order shard queues behind the consistent-hash exchange. Every service of one
    /// system must use the same number.
    #[arg(long, env = "ORDER_SHARDS", value_name = "ORDER_SHARDS", default_value_t = 4,
          value_parser = parse_shards)]
    pub order_shards: u16,

    /// The delayed-retry ladder: comma-separated waits, shortest first, each a whole number with
    /// a unit (ms, s, m, h). Every service of one system must use the same ladder (the tier
    /// queues are declared with these TTLs).
    #[arg(long, env = "RETRY_TIERS", value_name = "RETRY_TIERS", default_value = "5s,30s,2m,10m,1h",
          value_parser = parse_retry_tiers)]
    pub retry_tiers: RetryTiers,

    /// How long a shutdown waits for messages in flight before handing them back to the broker.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", value_name = "SHUTDOWN_GRACE_SECS", default_value = "10",
          value_parser = |s: &str| SHUTDOWN_GRACE.parse(s))]
    pub shutdown_grace: Duration,

    /// Log format: `text` for people, `json` for log shippers.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

impl CommonConfig {
    /// The RabbitMQ topology these settings describe (retry ladder and limits at their defaults).
    pub fn topology_config(&self) -> crate::broker::topology::TopologyConfig {
        crate::broker::topology::TopologyConfig {
            prefix: self.amqp_prefix.clone(),
            order_shards: self.order_shards,
            retry_tiers: self.retry_tiers.0.clone(),
            ..Default::default()
        }
    }
}

/// Where a service serves /healthz, /readyz and /metrics. Each service has its own default port,
/// so this is not part of [`CommonConfig`]; services use [`parse_socket_addr`] for it.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| "expected HOST:PORT, such as 127.0.0.1:8081 (port 0 picks a free port)".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `SHUTDOWN_GRACE_SECS`: up to a day; a plain number is seconds.
const SHUTDOWN_GRACE: DurationSetting =
    DurationSetting::within(Duration::ZERO, Duration::from_secs(86_400)).or_plain(PlainUnit::Seconds);

fn parse_postgres_url(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_owned())
    } else {
        Err("expected a URL of the form postgres://USER[:PASSWORD]@HOST:PORT/DATABASE".to_owned())
    }
}

/// One node's URL, or a cluster's nodes separated by commas (`broker::connection`).
fn parse_amqp_url(s: &str) -> Result<String, String> {
    let nodes: Vec<&str> = crate::broker::connection::node_urls(s).collect();
    if !nodes.is_empty() && nodes.iter().all(|n| n.starts_with("amqp://") || n.starts_with("amqps://")) {
        Ok(s.to_owned())
    } else {
        Err("expected a URL of the form amqp://USER:PASSWORD@HOST:PORT/VHOST (%2f for the / vhost), \
             or several separated by commas for the nodes of a cluster"
            .to_owned())
    }
}

fn parse_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(s.to_owned()) } else { Err("expected 1 to 64 characters of A-Z a-z 0-9 - _".to_owned()) }
}

fn parse_shards(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 256".to_owned()),
    }
}

fn parse_pool_size(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 1 to 1000".to_owned()),
    }
}

/// The retry ladder as configured; see [`CommonConfig::retry_tiers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTiers(pub Vec<crate::broker::topology::RetryTier>);

/// Parses `5s,30s,2m,10m,1h` into tiers named by their text: each a duration above 0
/// ([`DurationSetting`]) written in letters and digits only, since it names a queue.
pub fn parse_retry_tiers(s: &str) -> Result<RetryTiers, String> {
    const FORM: &str = "expected comma-separated waits, shortest first, each a whole number above 0 with \
                        a unit of ms, s, m or h, such as 5s,30s,2m,10m,1h";
    let mut tiers: Vec<crate::broker::topology::RetryTier> = Vec::new();
    for item in s.split(',').map(str::trim) {
        let ttl = Some(item)
            .filter(|i| i.bytes().all(|b| b.is_ascii_alphanumeric()))
            .and_then(|i| DurationSetting::ABOVE_ZERO.parse(i).ok())
            .ok_or_else(|| format!("{FORM} (got {item:?})"))?;
        if tiers.last().is_some_and(|last| last.ttl >= ttl) {
            return Err(format!("{FORM} ({item:?} is not longer than the wait before it)"));
        }
        tiers.push(crate::broker::topology::RetryTier::new(item, ttl));
    }
    Ok(RetryTiers(tiers))
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_owned() };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        common: CommonConfig,
    }

    fn parse(args: &[&str]) -> Result<CommonConfig, String> {
        let argv = std::iter::once("svc").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.common).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_point_at_the_local_servers() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(c.order_shards, 4);
        assert_eq!(c.amqp_prefix, "paygate");
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn a_clusters_nodes_are_accepted_as_a_list() {
        let list = "amqp://u:p@rabbitmq-1:5672/%2f,amqp://u:p@rabbitmq-2:5672/%2f";
        assert_eq!(parse(&["--amqp-url", list]).unwrap().amqp_url, list);
    }

    #[test]
    fn a_malformed_value_names_the_variable_and_the_form() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["--database-url", "mysql://x"], "DATABASE_URL", "postgres://USER"),
            (&["--amqp-url", "http://x"], "AMQP_URL", "amqp://USER:PASSWORD@HOST:PORT/VHOST"),
            (&["--amqp-url", "amqp://a/%2f,http://b"], "AMQP_URL", "separated by commas"),
            (&["--order-shards", "0"], "ORDER_SHARDS", "from 1 to 256"),
            (&["--order-shards", "many"], "ORDER_SHARDS", "from 1 to 256"),
            (&["--amqp-prefix", "a.b"], "AMQP_PREFIX", "A-Z a-z 0-9 - _"),
            (&["--database-max-connections", "0"], "DATABASE_MAX_CONNECTIONS", "from 1 to 1000"),
            (&["--shutdown-grace", "1.5"], "SHUTDOWN_GRACE_SECS", "whole number of seconds"),
            (&["--log-format", "xml"], "LOG_FORMAT", "text, json"),
            (&["--retry-tiers", "5s,1m,30s"], "RETRY_TIERS", "is not longer than the wait before it"),
            (&["--retry-tiers", "5 s"], "RETRY_TIERS", "a unit of ms, s, m or h"),
            (&["--retry-tiers", "0s"], "RETRY_TIERS", "whole number above 0"),
        ];
        for (args, var, form) in cases {
            let err = parse(args).expect_err("must be rejected");
            assert!(err.contains(var), "{args:?}: {err}");
            assert!(err.contains(form), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_default_ladder_is_the_topologys_and_another_can_be_chosen() {
        let default = parse(&[]).unwrap().topology_config();
        assert_eq!(default, crate::broker::topology::TopologyConfig::default());
        let fast = parse(&["--retry-tiers", "200ms,1s,2m"]).unwrap().topology_config();
        let tiers: Vec<(String, Duration)> = fast.retry_tiers.into_iter().map(|t| (t.name, t.ttl)).collect();
        assert_eq!(
            tiers,
            [
                ("200ms".to_owned(), Duration::from_millis(200)),
                ("1s".to_owned(), Duration::from_secs(1)),
                ("2m".to_owned(), Duration::from_secs(120))
            ]
        );
    }

    #[test]
    fn socket_addresses_name_the_form() {
        assert!(parse_socket_addr("127.0.0.1:0").is_ok());
        assert!(parse_socket_addr("localhost").unwrap_err().contains("HOST:PORT"));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("postgres://postgres@h:5432/db"), "postgres://postgres@h:5432/db");
        assert_eq!(redact_url("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("no-scheme"), "no-scheme");
    }
}
