//! The notify-handler binary: parse the command line, then run. See `startup.rs` for what it builds.

use clap::Parser;
use notify_handler::configuration::Cli;
use notify_handler::startup::Application;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    paygate::runtime::entrypoint::main::<Application>(cli.command, cli.config)
}
