//! stripesim: a Stripe simulator for paygate's tests, written from Stripe's published API
//! reference and testing guide (not from paygate's adapter), on simkit's fault core.
//!
//! - `Authorization: Bearer <secret key>` on every API request (401 otherwise); form bodies in
//!   bracket notation; JSON answers; Stripe's error object.
//! - PaymentIntents: `POST /v1/payment_intents` (automatic capture only), `GET /v1/payment_intents/{id}`,
//!   `GET /v1/payment_intents/search` (`metadata['key']:'value'` queries, with a configurable
//!   visibility lag), `POST …/{id}/confirm` (test payment methods: `pm_card_visa` succeeds,
//!   `pm_card_chargeDeclined*` decline with their `decline_code`, `pm_card_threeDSecure2Required`
//!   asks for 3-D Secure through `next_action.redirect_to_url`), `POST …/{id}/cancel`.
//! - A browser's confirm, as Stripe.js makes it: the publishable key (`key=pk_…` in the form, or
//!   as the Bearer token) with the PaymentIntent's `client_secret` (another is 400
//!   `invalid_request_error`; a publishable key on any other endpoint 403), raw card details
//!   (`payment_method_data[card][…]`) mapped from Stripe's test card numbers (`cards`), a
//!   `return_url` the 3-D Secure page sends the customer back to, and CORS (`cors`).
//! - Refunds: `POST /v1/refunds` (by `payment_intent`, partial and full, never above what is
//!   left), `GET /v1/refunds/{id}`, `GET /v1/refunds?payment_intent=…`; `pending` until their fate.
//! - Idempotency keys on POST: the same key and parameters answer the saved answer, other
//!   parameters `400 idempotency_error`.
//! - Webhook events signed with `Stripe-Signature` (fresh `t` per attempt), retried with an
//!   exponential back-off for about three days (scaled for tests).
//! - simkit's faults: latency, timeouts, 500s, lost responses (processed and saved under the
//!   idempotency key), declines, refunds that stay pending or fail, lost / duplicate / late /
//!   reordered events.
//!
//! - Balance transactions and payouts (`GET /v1/payouts`, `GET /v1/balance_transactions?payout=`):
//!   one payout per UTC day and currency, with simkit's bill faults `amount`, `drop_line`, `fee`.
//!
//! Not modelled: manual capture (`requires_capture`), charges and their refunds by charge id,
//! payout schedules and failures, Connect, disputes, API versions.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use stripesim::{StripeSim, testkit};
//! let sim = StripeSim::start(testkit::test_config()).await?;
//! // point paygate's Stripe adapter at sim.base_url(), then play the customer:
//! sim.admin().pay("0190a1b2c3d4e5f6", "pm_card_visa").await?;
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```

mod admin;
mod api;
mod app;
mod balance;
pub mod cards;
mod config;
mod cors;
mod model;
mod server;
pub mod testkit;
mod webhook;
mod wire;

pub use admin::{AdminClient, AdminError};
pub use config::{Config, Settings};
pub use server::{SimHandle, StripeSim};
pub use simkit::{BillFault, BillFaultKind, Fault, FaultSettings, Latency, Operation, PPM, ScriptEntry};
pub use webhook::RETRY_SECS;
