//! wechatpaysim: a WeChat Pay API v3 simulator for paygate's tests, written from WeChat Pay's
//! published v3 pages (not from paygate's adapter), on simkit's fault core.
//!
//! - Every request's `Authorization: WECHATPAY2-SHA256-RSA2048 …` is checked against the
//!   merchant's public key (`401 SIGN_ERROR`; a timestamp more than 300 s off is refused); every
//!   answer is signed with the platform key (`Wechatpay-Serial/-Timestamp/-Nonce/-Signature`).
//! - `POST /v3/pay/transactions/{native,jsapi,h5}`, `GET …/out-trade-no/{no}?mchid=`,
//!   `POST …/out-trade-no/{no}/close`, `POST /v3/refund/domestic/refunds`,
//!   `GET /v3/refund/domestic/refunds/{no}`, `GET /v3/bill/tradebill` and
//!   `GET /v3/bill/fundflowbill` (the settlement, with fee lines) and their download.
//! - Notifications sealed with the APIv3 key, on WeChat's retry schedule (scaled for tests).
//! - simkit's faults: latency, timeouts, 5xx, lost responses, declines (PAYERROR), refunds that
//!   stay PROCESSING or end ABNORMAL, lost / duplicate / late / reordered notifications, bill faults.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wechatpaysim::{WechatPaySim, testkit};
//! let sim = WechatPaySim::start(testkit::vector_config()).await?;
//! // point paygate's WeChat Pay adapter at sim.base_url(), then play the customer:
//! sim.admin().pay("0190a1b2c3d4e5f6").await?;
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod app;
pub mod bill;
mod config;
pub mod fundflow;
pub mod keys;
mod model;
pub mod notify;
mod server;
pub mod testkit;
mod wire;

pub use admin::{AdminClient, AdminError};
pub use config::{Config, MerchantConfig, Settings};
pub use server::{SimHandle, WechatPaySim};
pub use simkit::{BillFault, BillFaultKind, Fault, FaultSettings, Latency, Operation, PPM, ScriptEntry};
