//! The provider-dispatcher binary: parse the command line, then run. See `startup.rs` for what it builds.

use clap::Parser;
use provider_dispatcher::configuration::Cli;
use provider_dispatcher::startup::Application;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    paygate::runtime::entrypoint::main::<Application>(cli.command, cli.config)
}
