//! The compensation-scheduler binary: parse the command line, then run. See `startup.rs` for what it builds.

use clap::Parser;
use compensation_scheduler::configuration::Cli;
use compensation_scheduler::startup::Application;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    paygate::runtime::entrypoint::main::<Application>(cli.command, cli.config)
}
