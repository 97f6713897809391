//! alipaysim: an Alipay open-platform simulator for paygate's tests, written from Alipay's
//! published API reference (not from paygate's adapter), on simkit's fault core.
//!
//! - `POST /gateway.do` (form, UTF-8): the common parameters and the RSA2 signature are checked
//!   with the app's public key (`40001` missing, `40002` invalid, e.g. `isv.invalid-signature`);
//!   the methods `alipay.trade.precreate` (QR), `alipay.trade.pay` (`scene=bar_code`),
//!   `alipay.trade.query`, `close`, `cancel`, `refund`, `fastpay.refund.query` and
//!   `alipay.data.dataservice.bill.downloadurl.query`; every answer
//!   `{"<method>_response": {...}, "sign": "..."}` signed over the exact `_response` text.
//! - `alipay.trade.page.pay` / `wap.pay` as the customer's browser brings them (a GET of the signed
//!   URL, or the auto-submitted form): a cashier page whose button pays.
//! - Trade states and rules as Alipay's: a QR / cashier trade exists for queries only once the
//!   customer scans or opens it; close only while unpaid; cancel closes or refunds (`action`);
//!   partial refunds idempotent on `out_request_no`, never above the paid amount, a full refund
//!   closes the trade; the refund query has `refund_status=REFUND_SUCCESS` only when it succeeded.
//! - Notifications: `trade_status_sync` form posts, RSA2-signed, retried on Alipay's schedule
//!   (scaled for tests) until the body `success`; simkit's faults.
//! - Bills: a ZIP of GBK CSV (detail and summary) with planted discrepancies.
//! - An admin API ([`admin`]): the customer's actions, faults, the books.
//!
//! In process: `AlipaySim::start(Config::default().with_app(id, app_public_pem, seller).with_alipay_key(pem))`.

pub mod admin;
mod app;
pub mod bill;
mod config;
pub mod gateway;
pub mod keys;
mod notify;
mod pages;
mod server;
pub mod testkit;

pub use app::{fen, yuan};
pub use config::{ALIPAY_NOTIFY_RETRY_MINUTES, AppConfig, Config, Settings};
pub use server::{AlipaySim, AlipaySimHandle};
pub use simkit::{BillFault, BillFaultKind, Fault, FaultSettings, Operation, ScriptEntry};
