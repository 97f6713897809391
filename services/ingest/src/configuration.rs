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
    fn a_malformed_provider_list_names_the_variable_and_the_form() {
        for bad in ["", "mockpay,", "Stripe", "a b"] {
            let err = parse(&["--providers", bad]).expect_err(bad);
            assert!(err.contains("PROVIDERS") && err.contains("comma-separated"), "{bad:?}: {err}");
        }
    }
}
