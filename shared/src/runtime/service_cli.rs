//! The command line every service binary shares: `<service> [run|migrate]`, the settings of
//! [`CommonConfig`], the address the service serves on (`HTTP_ADDR`), then its own settings.
//!
//! A service writes its own settings as a clap `Args` struct (its `Config`) that flattens
//! [`ServiceBase`] first, says who it is once ([`ServiceIdentity`]), and parses
//! `ServiceCli<Config>`.

use super::config::{CommonConfig, parse_socket_addr};
use super::entrypoint::ServiceCommand;
use clap::{Args, Parser};
use std::marker::PhantomData;
use std::net::SocketAddr;

/// What a service's command line says about the service.
pub trait ServiceIdentity {
    /// The binary's name, as `--help` and `--version` show it.
    const NAME: &'static str;
    /// One line on what the service does (`-h`).
    const ABOUT: &'static str;
    /// That line and a paragraph more (`--help`).
    const LONG_ABOUT: &'static str;
    /// Where the service serves unless `HTTP_ADDR` says otherwise: each has its own port.
    const HTTP_ADDR: &'static str;
    /// What is served there, as `--help` says it.
    const HTTP_ADDR_HELP: &'static str = "Address for /healthz, /readyz and /metrics";
}

/// A service binary's command line: what to do (run, the default, or migrate) and its settings.
#[derive(Debug, Parser)]
#[command(name = C::NAME, version, about = C::ABOUT, long_about = C::LONG_ABOUT)]
pub struct ServiceCli<C: ServiceIdentity + Args> {
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
    #[command(flatten)]
    pub config: C,
}

/// The settings every service binary takes: [`CommonConfig`] and the address it serves
/// /healthz, /readyz and /metrics on, by default `S`'s own.
#[derive(Debug, Clone, Args)]
pub struct ServiceBase<S: ServiceIdentity> {
    #[command(flatten)]
    pub common: CommonConfig,

    #[arg(long, env = "HTTP_ADDR", value_name = "HTTP_ADDR", default_value = S::HTTP_ADDR,
          help = S::HTTP_ADDR_HELP, value_parser = parse_socket_addr)]
    pub http_addr: SocketAddr,

    #[arg(skip)]
    service: PhantomData<fn() -> S>,
}
