//! The body of every service's `main`: parse nothing (the service's own clap `Cli` did that),
//! set up telemetry, then either apply the migrations (`<service> migrate`) or build the
//! application and run it until SIGTERM or SIGINT; the spans still queued for export are sent
//! before the process exits.
//!
//! Whatever stops a service is said in one line on stderr, prefixed with the service's name, and
//! turned into a non-zero exit code; a clean shutdown exits 0.

use super::config::CommonConfig;
use super::startup_error::StartupError;
use super::{database, shutdown, telemetry};
use crate::fault_points;
use std::future::Future;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// What a service binary can be asked to do besides running.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum ServiceCommand {
    /// Run the service until SIGTERM or SIGINT (what happens when no command is given).
    Run,
    /// Create the database if it does not exist, apply the migrations, and exit.
    Migrate,
}

/// A service application, built the zero-to-production way: `build` does everything that can
/// fail at start-up (bind, connect, migrate, declare), `run_until_stopped` serves until the token
/// is cancelled, then shuts down gracefully.
pub trait Service: Sized + Send {
    const NAME: &'static str;
    type Config: Send;

    fn common(config: &Self::Config) -> &CommonConfig;
    fn build(config: Self::Config) -> impl Future<Output = Result<Self, StartupError>> + Send;
    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Runs `command` (default: run) for service `S` and returns the process exit code.
/// Fault points (crash tests only) are armed first, from `FAILPOINTS` (see [`fault_points`]).
pub fn main<S: Service>(command: Option<ServiceCommand>, config: S::Config) -> ExitCode {
    fault_points::setup();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let telemetry = telemetry::init(S::NAME, S::common(&config).log_format);
        let result = match command.unwrap_or(ServiceCommand::Run) {
            ServiceCommand::Migrate => {
                database::create_and_migrate(S::common(&config)).await.map_err(Into::into)
            }
            ServiceCommand::Run => run::<S>(config).await,
        };
        // The last spans (the shutdown's own among them) leave before the process does.
        telemetry.shutdown().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e:#}", S::NAME);
                ExitCode::FAILURE
            }
        }
    })
}

async fn run<S: Service>(config: S::Config) -> anyhow::Result<()> {
    let shutdown = shutdown::on_signal();
    let app = S::build(config).await?;
    app.run_until_stopped(shutdown).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
