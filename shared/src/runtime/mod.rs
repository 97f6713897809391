//! What every service binary runs on: configuration from the environment, telemetry, the
//! operational HTTP endpoints, reachability of the servers, clear start-up errors and graceful
//! shutdown. A service's `startup.rs` assembles these; its `main.rs` only calls that.

pub mod config;
pub mod database;
pub mod duration_setting;
pub mod entrypoint;

pub mod health;
pub mod readiness;
pub mod service;
pub mod service_cli;
pub mod shutdown;
pub mod startup_error;
pub mod telemetry;
pub mod trace_export;
