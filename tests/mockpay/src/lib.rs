//! mockpay: a sandbox payment provider that behaves like a real one, for paygate's tests, local
//! demo and benchmark.
//!
//! It speaks its own documented wire protocol (see `tests/mockpay/README.md`): HMAC-signed
//! requests with a timestamp window and nonces, LINE Pay style `{returnCode, returnMessage,
//! info}` answers, idempotency on the merchant's orderId and refundId, asynchronous refunds,
//! signed notifications with retries until acknowledged, and expiry. Around it sits a
//! fault-injection core: latency, timeouts, 5xx, declines, charged-but-response-lost, lost,
//! duplicate, late and out-of-order notifications, refunds stuck in PROCESSING or failing,
//! both as seeded rates and as deterministic per-order scripts. The fault core is shared with the
//! other simulators: `tests/simkit` (crate `paygate-simkit`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mockpay::{Config, MockPay, Operation, Fault};
//! let mp = MockPay::start(Config::default().with_merchant("m1", "secret1")).await?;
//! mp.admin().script_fault("order-1", Operation::Pay, Fault::LostResponse, 1).await?;
//! // ... point the code under test at mp.base_url() ...
//! assert_eq!(mp.admin().payment("order-1").await?.map(|t| t.charges), Some(1));
//! mp.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin_client;
mod app;
pub mod bill;
pub mod codes;
mod config;
mod flow;
mod http;
mod ids;
mod ledger;
mod model;
mod nonce;
mod notifier;
mod server;
mod signing;
pub mod testkit;
pub mod wire;

pub use admin_client::{AdminClient, AdminError};
pub use bill::{BillFault, BillFaultKind};
pub use codes::ReturnCode;
pub use config::{Config, Settings, parse_merchant};
pub use server::{MockPay, MockPayHandle};
pub use simkit::{Fault, FaultSettings, Latency, LatencyPoint, Operation, PPM, ScriptEntry};
