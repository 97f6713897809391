//! `paygate-chaos`: the chaos run (docs/reliability.md). Parses the options, runs, prints the
//! report, and exits non-zero on any violation.

use clap::Parser;
use paygate_chaos::{Options, run};

// Several workers: a server restart holds one (block_in_place) while the load goes on.
#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> std::process::ExitCode {
    let options = Options::parse();
    // Interrupted, the run is dropped: its services are killed and its private servers stopped.
    let result = tokio::select! {
        result = run(options) => result,
        () = interrupted() => {
            eprintln!("paygate-chaos: interrupted; the services and private servers are stopped");
            return std::process::ExitCode::from(130);
        }
    };
    match result {
        Ok(report) => {
            println!("{report}");
            if report.violations() == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("paygate-chaos: the run could not be carried out: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn interrupted() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
