//! End-to-end support: a whole paygate system for one test (ingest and provider-dispatcher
//! against mockpay, a fresh database and a fresh vhost), and an upstream that publishes commands
//! and collects the events that come back.
//!
//! - [`system`]: starting and stopping the services, in-process or as real processes;
//! - [`upstream`]: the upstream side of the message contract;
//! - [`bench`]: the `paygate-bench` benchmark (payments/s and latency against the floor);
//! - [`recon_kit`]: what the reconciliation tests share.

pub mod bench;
pub mod recon_kit;
pub mod system;
pub mod upstream;

pub use system::{System, SystemOptions};
pub use upstream::Upstream;
