//! ingest's command line and configuration: the settings every service shares, plus its own.
//! Every setting is also an environment variable; `ingest --help` lists them.

use paygate::providers::settings::ProviderArgs;
use paygate::runtime::service_cli::{ServiceBase, ServiceCli, ServiceIdentity};

/// `ingest [run|migrate]` and its settings.
pub type Cli = ServiceCli<Config>;

impl ServiceIdentity for Config {
    const NAME: &str = "ingest";
    const ABOUT: &str = "ingest: takes pay, refund, close and query commands from upstream.";
    const LONG_ABOUT: &str = "ingest: takes pay, refund, close and query commands from upstream.\n\nIt validates each command, de-duplicates it on the merchant's order number, writes the payment before anything else happens (pre-commit), and routes the work to the order's shard.";
    const HTTP_ADDR: &str = "127.0.0.1:8081";
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub base: ServiceBase<Self>,

    /// The payment providers (`PROVIDERS`, as every service's) and their settings. A pay command
    /// naming another provider is rejected. Ingest never calls a provider: of each one's settings
    /// it reads only its kind (`PAYGATE_PROVIDER_<NAME>_KIND`), whose pay rules it applies.
    #[command(flatten)]
    pub providers: ProviderArgs,

    /// At most this many waiting commands are applied in one transaction (1–256): under load,
    /// one statement creates every new payment of the batch, at a fraction of the database's
    /// cost per payment. A batch never waits for commands to arrive, so a quiet queue still
    /// gets one command per transaction.
    #[arg(long, env = "COMMAND_BATCH", value_name = "COMMAND_BATCH", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub command_batch: u16,

    #[command(flatten)]
    pub api: ApiArgs,
}

/// The upstream HTTP API's settings (docs/http-api.md).
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Where the upstream HTTP API listens (its own port, apart from `HTTP_ADDR`'s operational
    /// endpoints); port 0 picks a free one.
    #[arg(long = "api-addr", env = "API_ADDR", value_name = "API_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: std::net::SocketAddr,

    /// How long `POST /v1/payments` waits for the provider's answer (the customer's action)
    /// before answering `202` with a URL to poll, in milliseconds (0–30000).
    #[arg(long = "api-create-wait-ms", env = "API_CREATE_WAIT_MS", value_name = "API_CREATE_WAIT_MS",
          default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(0..=30_000))]
    pub create_wait_ms: u64,

    /// How far a signed request's timestamp may be from this server's clock, in seconds (1–3600).
    #[arg(long = "api-signature-window-secs", env = "API_SIGNATURE_WINDOW_SECS",
          value_name = "API_SIGNATURE_WINDOW_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub signature_window_secs: u64,

    /// Requests a second each API key may send (per ingest instance).
    #[arg(
        long = "api-rate-per-second",
        env = "API_RATE_PER_SECOND",
        value_name = "API_RATE_PER_SECOND",
        default_value = "20"
    )]
    pub rate_per_second: std::num::NonZeroU32,

    /// The most requests a key may send at once before the rate applies.
    #[arg(
        long = "api-rate-burst",
        env = "API_RATE_BURST",
        value_name = "API_RATE_BURST",
        default_value = "40"
    )]
    pub rate_burst: std::num::NonZeroU32,

    /// The secret cashier URLs are signed with (HMAC-SHA256; at least 32 bytes). Every ingest
    /// instance behind one address needs the same. Unset: a random one per process, so its URLs
    /// stop working when it restarts (fine for a single development instance only).
    #[arg(long = "cashier-secret", env = "CASHIER_SECRET", value_name = "CASHIER_SECRET", hide_env_values = true,
          value_parser = cashier_secret)]
    pub cashier_secret: Option<String>,

    /// How long a cashier URL may be used, in seconds (60–86400).
    #[arg(long = "cashier-token-ttl-secs", env = "CASHIER_TOKEN_TTL_SECS", value_name = "CASHIER_TOKEN_TTL_SECS",
          default_value_t = 1_800, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub cashier_token_ttl_secs: u64,

    /// Where customers reach the cashier (scheme, host and port, e.g. `https://pay.example.com`);
    /// the API's own address (`http://API_ADDR`) when unset.
    #[arg(long = "cashier-base-url", env = "CASHIER_BASE_URL", value_name = "CASHIER_BASE_URL")]
    pub cashier_base_url: Option<String>,

    /// Requests a second each client address may make to the cashier (per ingest instance).
    #[arg(
        long = "cashier-rate-per-second",
        env = "CASHIER_RATE_PER_SECOND",
        value_name = "CASHIER_RATE_PER_SECOND",
        default_value = "10"
    )]
    pub cashier_rate_per_second: std::num::NonZeroU32,

    /// The most cashier requests a client address may make at once before the rate applies.
    #[arg(
        long = "cashier-rate-burst",
        env = "CASHIER_RATE_BURST",
        value_name = "CASHIER_RATE_BURST",
        default_value = "60"
    )]
    pub cashier_rate_burst: std::num::NonZeroU32,

    /// The header the proxy in front of ingest writes the client's address into (e.g.
    /// `X-Forwarded-For`; its last entry counts). Unset: the connection's peer address. Name only
    /// a header your own proxy always sets.
    #[arg(long = "cashier-client-address-header", env = "CASHIER_CLIENT_ADDRESS_HEADER",
          value_name = "CASHIER_CLIENT_ADDRESS_HEADER", value_parser = header_name)]
    pub cashier_client_address_header: Option<axum::http::HeaderName>,
}

fn header_name(s: &str) -> Result<axum::http::HeaderName, String> {
    axum::http::HeaderName::from_bytes(s.trim().as_bytes())
        .map_err(|_| format!("must be an HTTP header name such as X-Forwarded-For (got {s:?})"))
}

fn cashier_secret(s: &str) -> Result<String, String> {
    if s.len() < 32 {
        return Err(format!("must be at least 32 bytes (got {})", s.len()));
    }
    Ok(s.to_owned())
}

impl ApiArgs {
    /// The API's settings, the cashier's base URL defaulting to `http://{api_addr}` (the bound
    /// address, when `API_ADDR` asked for a free port).
    pub fn settings(&self, api_addr: std::net::SocketAddr) -> crate::api::ApiSettings {
        let secret = match &self.cashier_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "CASHIER_SECRET is not set: cashier URLs are signed with a random secret of this process only"
                );
                let mut random = uuid::Uuid::new_v4().as_bytes().to_vec();
                random.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
                random
            }
        };
        let cashier = crate::cashier::CashierSettings {
            key: crate::cashier::token::TokenKey::new(&secret),
            token_ttl: std::time::Duration::from_secs(self.cashier_token_ttl_secs),
            base_url: self.cashier_base_url.clone().unwrap_or_else(|| format!("http://{api_addr}")),
            rate_per_second: self.cashier_rate_per_second,
            rate_burst: self.cashier_rate_burst,
            client_address_header: self.cashier_client_address_header.clone(),
        };
        crate::api::ApiSettings {
            cashier,
            create_wait: std::time::Duration::from_millis(self.create_wait_ms),
            signature_window_secs: self.signature_window_secs,
            rate_per_second: self.rate_per_second,
            rate_burst: self.rate_burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let argv = std::iter::once("ingest").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|c| c.config).map_err(|e| e.to_string())
    }

    #[test]
    fn providers_default_to_mockpay_and_take_a_list() {
        assert_eq!(parse(&[]).unwrap().providers.providers.names(), ["mockpay"]);
        let c = parse(&["--providers", "mockpay, stripe,mockpay"]).unwrap();
        assert_eq!(c.providers.providers.names(), ["mockpay", "stripe"]);
        assert!(c.providers.providers.contains("stripe") && !c.providers.providers.contains("alipay"));
    }

    #[test]
    fn the_api_has_its_own_port_and_bounded_settings() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.api.addr.to_string(), "127.0.0.1:8090");
        assert_eq!(
            c.api.settings("127.0.0.1:8090".parse().unwrap()).create_wait,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(c.api.signature_window_secs, 300);
        let c = parse(&["--api-addr", "127.0.0.1:0", "--api-rate-per-second", "1", "--api-rate-burst", "2"])
            .unwrap();
        assert_eq!((c.api.addr.port(), c.api.rate_per_second.get(), c.api.rate_burst.get()), (0, 1, 2));
        assert!(parse(&["--api-create-wait-ms", "30001"]).unwrap_err().contains("API_CREATE_WAIT_MS"));
        assert!(parse(&["--api-rate-per-second", "0"]).is_err());
        assert!(parse(&["--api-signature-window-secs", "0"]).is_err());
    }

    #[test]
    fn the_cashiers_limit_has_defaults_and_a_bad_header_name_is_refused_by_name() {
        let settings = parse(&[]).unwrap().api.settings("127.0.0.1:8090".parse().unwrap()).cashier;
        assert_eq!((settings.rate_per_second.get(), settings.rate_burst.get()), (10, 60));
        assert_eq!(settings.client_address_header, None);
        let c = parse(&["--cashier-client-address-header", "X-Forwarded-For"]).unwrap();
        assert_eq!(c.api.cashier_client_address_header.unwrap().as_str(), "x-forwarded-for");
        let err = parse(&["--cashier-client-address-header", "not a header"]).unwrap_err();
        assert!(err.contains("CASHIER_CLIENT_ADDRESS_HEADER") && err.contains("header name"), "{err}");
        assert!(parse(&["--cashier-rate-burst", "0"]).unwrap_err().contains("CASHIER_RATE_BURST"));
    }

    #[test]
    fn a_malformed_provider_list_names_the_variable_and_the_form() {
        for bad in ["", "mockpay,", "Stripe", "a b"] {
            let err = parse(&["--providers", bad]).expect_err(bad);
            assert!(err.contains("PROVIDERS") && err.contains("comma-separated"), "{bad:?}: {err}");
        }
    }
}
