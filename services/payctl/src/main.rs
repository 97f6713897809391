//! The payctl binary: parse the command line, run the command, say what failed in one line.

use clap::Parser;
use payctl::cli::Cli;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // Inert unless built with paygate's `fault-points` feature and armed by FAILPOINTS (tests).
    paygate::fault_points::setup();
    match payctl::commands::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
